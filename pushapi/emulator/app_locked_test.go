package emulator

import (
	"net/http"
	"testing"

	"github.com/tagcast/tagcast/pushapi"
)

// push-api-facts.md lists the service's codes with their HTTP statuses,
// among them "1006 | app locked or deleted | 401" and "1007 | method
// restricted / IP restriction | 401". The emulator (the project's only fake
// of the service) could answer every other documented code, but nothing
// made an App Key answer 1006 or 1007: the worker's and a user's handling
// of a locked app (a permanent failure, nothing sent, the quota reservation
// released) could not be exercised end to end. The control API now sets
// both, and a push is then refused, not recorded.
func TestEmulatorAppLockedOrRestricted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		patch string
		code  int
	}{
		{`{"locked":true}`, pushapi.CodeAppLocked},
		{`{"restricted":true}`, pushapi.CodeRestricted},
	} {
		b := setup(t, Config{})
		if status := b.control(t, http.MethodPatch, "apps/"+testKey, tc.patch, nil); status != http.StatusOK {
			t.Fatalf("PATCH apps/%s %s: HTTP %d", testKey, tc.patch, status)
		}
		status, ans := b.do(t, http.MethodPost, pushapi.PathPush, validBody(t), b.signed(testKey, testSecret, ""))
		if status != http.StatusUnauthorized || ans.Code != tc.code {
			t.Errorf("push after %s: HTTP %d code %d %q; want 401/%d", tc.patch, status, ans.Code, ans.ErrorMessage, tc.code)
		}
		if n := len(b.em.Pushes()); n != 0 {
			t.Errorf("after %s: %d pushes recorded", tc.patch, n)
		}
		// A caller who does not prove the key learns nothing of the app.
		status, ans = b.do(t, http.MethodPost, pushapi.PathPush, validBody(t), b.signed(testKey, "wrong secret", ""))
		if status != http.StatusUnauthorized || ans.Code != pushapi.CodeSignature {
			t.Errorf("badly signed push after %s: HTTP %d code %d; want 401/1004", tc.patch, status, ans.Code)
		}
	}
}

// TestControlBodyIsOneDocument: a control body holding a second JSON
// document was applied up to the first and the rest ignored in silence
// (here the unlock that follows a lock); it is refused, changing nothing.
func TestControlBodyIsOneDocument(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	if status := b.control(t, http.MethodPatch, "apps/"+testKey, `{"locked":true} {"locked":false}`, nil); status != http.StatusBadRequest {
		t.Fatalf("PATCH with two documents: HTTP %d, want 400", status)
	}
	if st, err := b.em.App(testKey); err != nil || st.Locked {
		t.Errorf("after the refused PATCH: locked %v (%v), want unchanged (false)", st.Locked, err)
	}
}
