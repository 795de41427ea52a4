package problemlist

import (
	"fmt"
	"strings"
	"testing"
)

func TestMessage(t *testing.T) {
	t.Parallel()
	if got, want := Message("request", []string{"a: bad"}), "invalid request (1 problem): a: bad"; got != want {
		t.Errorf("one: %q, want %q", got, want)
	}
	if got, want := Message("campaign", []string{"a: bad", "b: worse"}), "invalid campaign (2 problems): a: bad; b: worse"; got != want {
		t.Errorf("two: %q, want %q", got, want)
	}
	var parts []string
	for i := range 1000 {
		parts = append(parts, fmt.Sprintf("audience.userid[%d]: must not be empty", i))
	}
	got := Message("request", parts)
	if !strings.HasPrefix(got, "invalid request (1000 problems): audience.userid[0]: must not be empty; ") ||
		!strings.HasSuffix(got, fmt.Sprintf("audience.userid[%d]: must not be empty; and %d more", MaxListed-1, 1000-MaxListed)) ||
		strings.Contains(got, fmt.Sprintf("userid[%d]", MaxListed)) {
		t.Errorf("1000 problems: %q", got)
	}
	exact := parts[:MaxListed]
	if got := Message("request", exact); strings.Contains(got, "more") || !strings.Contains(got, fmt.Sprintf("userid[%d]", MaxListed-1)) {
		t.Errorf("%d problems: %q, want every one listed", MaxListed, got)
	}
}
