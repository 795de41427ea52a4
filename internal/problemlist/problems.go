// Package problemlist writes a list of validation problems as one error
// message, the way tagcast's validators (a push body, a campaign) say it.
package problemlist

import (
	"fmt"
	"strings"
)

// MaxListed is how many problems a message lists; the rest are counted. A
// body can hold thousands of problems (1,000 empty user ids, say), and the
// message lands in logs and API answers whole: the structured list (the
// validators' Problems, the admin API's JSON) keeps every one.
const MaxListed = 20

// Message is "invalid WHAT (N problems): p1; p2; ...", listing at most
// MaxListed of parts and counting the rest ("; and 980 more").
func Message(what string, parts []string) string {
	noun := "problems"
	if len(parts) == 1 {
		noun = "problem"
	}
	listed := parts[:min(len(parts), MaxListed)]
	msg := fmt.Sprintf("invalid %s (%d %s): %s", what, len(parts), noun, strings.Join(listed, "; "))
	if more := len(parts) - len(listed); more > 0 {
		msg += fmt.Sprintf("; and %d more", more)
	}
	return msg
}
