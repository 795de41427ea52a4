package emulator

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/pushapi"
)

// push-by-tag.txt: "audience.is_to_all | Boolean | Yes | Push to all users."
// The field is required; a body without it must be refused with 1002 naming it.
func TestEmulatorRequiresIsToAll(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	body := strings.Replace(validBody(t), `,"is_to_all":false`, "", 1)
	if strings.Contains(body, "is_to_all") {
		t.Fatalf("test body still has is_to_all: %s", body)
	}
	status, ans := b.do(t, http.MethodPost, pushapi.PathPush, body, b.signed(testKey, testSecret, ""))
	if status != http.StatusBadRequest || ans.Code != pushapi.CodeParam || !strings.Contains(ans.ErrorMessage, "audience.is_to_all") {
		t.Errorf("push without audience.is_to_all: HTTP %d code %d %q; want 400/1002 naming audience.is_to_all", status, ans.Code, ans.ErrorMessage)
	}
	if n := len(b.em.Pushes()); n != 0 {
		t.Errorf("%d pushes recorded, want 0", n)
	}
}

// push-api-facts.md: "Nonce: docs say at most 18 characters; SDKs send up to
// 19 digits." The emulator accepts nonces of up to 19 characters and
// refuses longer ones with 401/1004.
func TestEmulatorNonceLength(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	sign := func(nonce string) http.Header {
		ts := strconv.FormatInt(b.em.Now().Unix(), 10)
		h := b.signed(testKey, testSecret, ts)
		h.Set("Nonce", nonce)
		h.Set("Signature", pushapi.Sign(testSecret, nonce, ts))
		return h
	}
	// What the SDKs send works.
	if status, ans := b.do(t, http.MethodPost, pushapi.PathSetUserTags, `{"userId":"u1","tags":["a"]}`, sign("1234567890123456789")); status != http.StatusOK {
		t.Errorf("19-digit nonce: HTTP %d code %d %q, want 200", status, ans.Code, ans.ErrorMessage)
	}
	for _, nonce := range []string{"12345678901234567890", strings.Repeat("7", 64)} {
		status, ans := b.do(t, http.MethodPost, pushapi.PathSetUserTags, `{"userId":"u1","tags":["a"]}`, sign(nonce))
		if status != http.StatusUnauthorized || ans.Code != pushapi.CodeSignature || !strings.Contains(ans.ErrorMessage, "Nonce") {
			t.Errorf("%d-character nonce: HTTP %d code %d %q; want 401/1004 naming Nonce", len(nonce), status, ans.Code, ans.ErrorMessage)
		}
	}
}
