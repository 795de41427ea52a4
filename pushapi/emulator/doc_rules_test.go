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
// 19 digits." The disagreement is an option (Config.MaxNonceLen): by default
// the emulator accepts nonces of up to 18 characters, with 19 selected up to
// 19, and refuses longer ones with 401/1004 naming Nonce.
func TestEmulatorNonceLength(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		maxLen    int
		accepted  []string
		refused   []string
		inMessage string
	}{
		{"default: the docs' 18", 0, []string{"14314", "123456789012345678"},
			[]string{"1234567890123456789", "12345678901234567890", strings.Repeat("7", 64)}, "Nonce: at most 18 characters"},
		{"18 set explicitly", DefaultMaxNonceLen, []string{"123456789012345678"},
			[]string{"1234567890123456789"}, "Nonce: at most 18 characters"},
		{"19: what the SDKs send", SDKMaxNonceLen, []string{"14314", "123456789012345678", "1234567890123456789"},
			[]string{"12345678901234567890", strings.Repeat("7", 64)}, "Nonce: at most 19 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{MaxNonceLen: tc.maxLen})
			sign := func(nonce string) http.Header {
				ts := strconv.FormatInt(b.em.Now().Unix(), 10)
				h := b.signed(testKey, testSecret, ts)
				h.Set("Nonce", nonce)
				h.Set("Signature", pushapi.Sign(testSecret, nonce, ts))
				return h
			}
			for _, nonce := range tc.accepted {
				if status, ans := b.do(t, http.MethodPost, pushapi.PathSetUserTags, `{"userId":"u1","tags":["a"]}`, sign(nonce)); status != http.StatusOK {
					t.Errorf("%d-character nonce: HTTP %d code %d %q, want 200", len(nonce), status, ans.Code, ans.ErrorMessage)
				}
			}
			for _, nonce := range tc.refused {
				status, ans := b.do(t, http.MethodPost, pushapi.PathSetUserTags, `{"userId":"u1","tags":["a"]}`, sign(nonce))
				if status != http.StatusUnauthorized || ans.Code != pushapi.CodeSignature || !strings.Contains(ans.ErrorMessage, tc.inMessage) {
					t.Errorf("%d-character nonce: HTTP %d code %d %q; want 401/1004 containing %q", len(nonce), status, ans.Code, ans.ErrorMessage, tc.inMessage)
				}
			}
		})
	}
}

// Config.MaxNonceLen takes only the two lengths the public material gives.
func TestMaxNonceLenValidated(t *testing.T) {
	t.Parallel()
	for _, n := range []int{-1, 17, 20} {
		err := Config{MaxNonceLen: n}.Validate()
		if err == nil || !strings.Contains(err.Error(), "max_nonce_len: must be 18") {
			t.Errorf("MaxNonceLen %d: Validate() = %v, want an error naming max_nonce_len", n, err)
		}
	}
	for _, n := range []int{0, 18, 19} {
		if err := (Config{MaxNonceLen: n}).Validate(); err != nil {
			t.Errorf("MaxNonceLen %d: Validate() = %v, want nil", n, err)
		}
	}
}
