package pushapi

import (
	"fmt"
	"strings"
	"testing"
)

// doc.go: "It never logs, and never returns or prints an App Secret."
// Client keeps the secret in an unexported field; fmt cannot call Secret's
// Format on unexported fields and prints the raw string instead.
func TestClientFmtDoesNotLeakSecret(t *testing.T) {
	t.Parallel()
	const raw = "s3cr3t-value-for-review"
	c, err := NewClient(ClientConfig{AppKey: "k", AppSecret: NewSecret(raw), Hosts: []string{"http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{
		fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(c),
	} {
		if strings.Contains(out, raw) {
			t.Errorf("App Secret printed by fmt: %q", out)
		}
	}
}

// doc.go: "It never logs, and never returns or prints an App Secret." A
// credential in a misconfigured host URL (user info) is echoed verbatim by
// NewClient's error.
func TestHostUserInfoNotEchoed(t *testing.T) {
	t.Parallel()
	const secret = "Y1W2MeFwwwRxa0review"
	_, err := NewClient(ClientConfig{AppKey: "k", AppSecret: NewSecret("s"), Hosts: []string{"https://uwd1c0sxdlx2:" + secret + "@api.rong-api.com"}})
	if err == nil {
		t.Fatal("a host with user info must be refused")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("the password of the host URL is in the error: %v", err)
	}
	if !strings.Contains(err.Error(), "hosts[0]") {
		t.Errorf("the error does not name the field: %v", err)
	}
}
