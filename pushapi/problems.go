package pushapi

import (
	"fmt"
	"strings"
)

// MaxListedProblems is how many problems a validation message lists (a push
// body's, and a campaign's: ProblemsMessage); the rest are counted. A body
// can hold thousands of problems (1,000 empty user ids, say), and the
// message lands in logs and API answers whole: the structured list (the
// validators' Problems, the admin API's JSON) keeps every one.
const MaxListedProblems = 20

// ProblemsMessage is "invalid WHAT (N problems): p1; p2; ...", listing at
// most MaxListedProblems of parts and counting the rest ("; and 980 more").
func ProblemsMessage(what string, parts []string) string {
	noun := "problems"
	if len(parts) == 1 {
		noun = "problem"
	}
	listed := parts[:min(len(parts), MaxListedProblems)]
	msg := fmt.Sprintf("invalid %s (%d %s): %s", what, len(parts), noun, strings.Join(listed, "; "))
	if more := len(parts) - len(listed); more > 0 {
		msg += fmt.Sprintf("; and %d more", more)
	}
	return msg
}
