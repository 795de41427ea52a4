package pushapi

import (
	"fmt"
	"strings"
	"testing"
)

func TestProblemsMessage(t *testing.T) {
	t.Parallel()
	if got, want := ProblemsMessage("request", []string{"a: bad"}), "invalid request (1 problem): a: bad"; got != want {
		t.Errorf("one: %q, want %q", got, want)
	}
	if got, want := ProblemsMessage("campaign", []string{"a: bad", "b: worse"}), "invalid campaign (2 problems): a: bad; b: worse"; got != want {
		t.Errorf("two: %q, want %q", got, want)
	}
	var parts []string
	for i := range 1000 {
		parts = append(parts, fmt.Sprintf("audience.userid[%d]: must not be empty", i))
	}
	got := ProblemsMessage("request", parts)
	if !strings.HasPrefix(got, "invalid request (1000 problems): audience.userid[0]: must not be empty; ") ||
		!strings.HasSuffix(got, fmt.Sprintf("audience.userid[%d]: must not be empty; and %d more", MaxListedProblems-1, 1000-MaxListedProblems)) ||
		strings.Contains(got, fmt.Sprintf("userid[%d]", MaxListedProblems)) {
		t.Errorf("1000 problems: %q", got)
	}
	exact := parts[:MaxListedProblems]
	if got := ProblemsMessage("request", exact); strings.Contains(got, "more") || !strings.Contains(got, fmt.Sprintf("userid[%d]", MaxListedProblems-1)) {
		t.Errorf("%d problems: %q, want every one listed", MaxListedProblems, got)
	}
}
