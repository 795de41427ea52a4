package pushapi

import (
	"regexp"
	"testing"
)

func TestSignPublishedVector(t *testing.T) {
	t.Parallel()
	got := Sign("Y1W2MeFwwwRxa0", "14314", "1408710653000")
	if want := "30be0bbca9c9b2e27578701e9fda2358a814c88f"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestNonceAndRequestIDShape(t *testing.T) {
	t.Parallel()
	nonceRE := regexp.MustCompile(`^[0-9]{1,18}$`)
	idRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 200 {
		n, err := newNonce()
		if err != nil {
			t.Fatal(err)
		}
		if !nonceRE.MatchString(n) {
			t.Fatalf("nonce %q is not 1..18 digits", n)
		}
		id, err := newRequestID()
		if err != nil {
			t.Fatal(err)
		}
		if !idRE.MatchString(id) || len(id) > 36 {
			t.Fatalf("request id %q is not a v4 UUID of <= 36 chars", id)
		}
		if seen[id] || seen[n] {
			t.Fatalf("repeated random value %q / %q", id, n)
		}
		seen[id], seen[n] = true, true
	}
}
