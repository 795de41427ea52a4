package pushapi

import (
	"errors"
	"strings"
	"testing"
)

// A body with a thousand bad user ids has a thousand problems: the error's
// message lists the first few and counts the rest (it lands in logs and in
// the admin API's answers whole), and Problems keeps them all.
func TestValidationMessageIsCapped(t *testing.T) {
	t.Parallel()
	r := validRequest()
	r.Audience = Audience{UserID: make([]string, MaxUserIDs)}
	err := r.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) < MaxUserIDs {
		t.Fatalf("Validate = %v, want a problem per empty user id", err)
	}
	msg := err.Error()
	if len(msg) > 4096 || !strings.Contains(msg, "more") || !strings.Contains(msg, "audience.userid[0]") {
		t.Errorf("message of %d bytes for %d problems: %.300s...", len(msg), len(ve.Problems), msg)
	}
}
