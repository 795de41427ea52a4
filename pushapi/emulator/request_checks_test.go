package emulator

// Tests guarding fixes of findings of a code review (s11). Each failed on the
// emulator before its fix; the documentation line each rests on is quoted
// above it.

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tagcast/tagcast/pushapi"
)

// TestContentTypeIsChecked guards the Content-Type check of every Server API
// endpoint (serverapi.go checkContentType), which a review found missing.
//
// push-by-tag.txt: "The HTTP request body is application/json, with this
// structure:"
// push-api-facts.md (user tag APIs): "`/user/tags/get.json` | form-encoded,
// repeated key `userIds=a&userIds=b`", and "User tag APIs (JSON bodies unless
// noted)".
//
// The emulator used to ignore Content-Type: a /push.json body sent as a form
// (or as text) was accepted and recorded, and a get.json body labelled JSON
// was parsed as a form. A client that sent the wrong Content-Type (say the
// form type of GetUserTags on Push) would pass every emulator test and fail
// against the service, which reads the body by its declared type.
func TestContentTypeIsChecked(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Quota: Quota{Hourly: 100, Daily: 100}}}})
	// The right types, with a charset parameter, are accepted: the fix must
	// not refuse these.
	h := b.signed(testKey, testSecret, "")
	h.Set("Content-Type", "application/json; charset=utf-8")
	if status, ans := b.do(t, http.MethodPost, pushapi.PathPush, validBody(t), h); status != http.StatusOK {
		t.Fatalf("push as application/json; charset=utf-8: HTTP %d code %d %q, want 200", status, ans.Code, ans.ErrorMessage)
	}
	h = b.signed(testKey, testSecret, "")
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	if status, ans := b.do(t, http.MethodPost, pushapi.PathGetUserTags, "userIds=a", h); status != http.StatusOK {
		t.Fatalf("get.json as a form: HTTP %d code %d %q, want 200", status, ans.Code, ans.ErrorMessage)
	}
	h = b.signed(testKey, testSecret, "")
	h.Set("Content-Type", "Application/JSON;Charset=UTF-8") // media types are case-insensitive
	if status, ans := b.do(t, http.MethodPost, pushapi.PathSetUserTags, `{"userId":"u1","tags":["a"]}`, h); status != http.StatusOK {
		t.Fatalf("tag set as Application/JSON;Charset=UTF-8: HTTP %d code %d %q, want 200", status, ans.Code, ans.ErrorMessage)
	}
	before := len(b.em.Pushes())

	for _, tc := range []struct {
		name, path, contentType, body, want string
	}{
		{"push sent as a form", pushapi.PathPush, "application/x-www-form-urlencoded", validBody(t), "application/json"},
		{"push sent as text", pushapi.PathPush, "text/plain", validBody(t), "application/json"},
		{"push without Content-Type", pushapi.PathPush, "", validBody(t), "application/json"},
		{"tag set sent as a form", pushapi.PathSetUserTags, "application/x-www-form-urlencoded", `{"userId":"u1","tags":["a"]}`, "application/json"},
		{"batch tag set sent as text", pushapi.PathBatchSetTags, "text/plain", `{"userIds":["u1"],"tags":["a"]}`, "application/json"},
		{"tags get labelled JSON", pushapi.PathGetUserTags, "application/json", "userIds=a", "application/x-www-form-urlencoded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := b.signed(testKey, testSecret, "")
			h.Del("Content-Type")
			if tc.contentType != "" {
				h.Set("Content-Type", tc.contentType)
			}
			status, ans := b.do(t, http.MethodPost, tc.path, tc.body, h)
			// 400 with the parameter-error code, naming the header and the
			// type the endpoint reads.
			if status != http.StatusBadRequest || ans.Code != pushapi.CodeParam ||
				!strings.Contains(ans.ErrorMessage, "Content-Type") || !strings.Contains(ans.ErrorMessage, "want "+tc.want) {
				t.Errorf("%s with Content-Type %q: HTTP %d code %d %q; want 400/1002 naming Content-Type and %s", tc.path, tc.contentType, status, ans.Code, ans.ErrorMessage, tc.want)
			}
		})
	}
	if n := len(b.em.Pushes()) - before; n != 0 {
		t.Errorf("%d pushes with a wrong Content-Type were recorded as sent", n)
	}
}

// TestSignatureMustBeLowercaseHex guards the exact comparison of the
// Signature header (serverapi.go authenticate); a review found it lowercased
// before comparing.
//
// push-api-facts.md: "`Signature = lowercase hex( SHA1( AppSecret + Nonce +
// Timestamp ) )`".
//
// The emulator used to lowercase the Signature header before comparing
// (strings.ToLower(sig)), so an uppercase (or mixed-case) hex digest passed.
// The client always sends lowercase today; a regression to %X or to an SDK
// that uppercases would have gone unnoticed.
func TestSignatureMustBeLowercaseHex(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	h := b.signed(testKey, testSecret, "")
	sig := h.Get("Signature")
	if strings.ToUpper(sig) == sig {
		t.Fatalf("test signature %q has no letters", sig)
	}
	h.Set("Signature", strings.ToUpper(sig))
	status, ans := b.do(t, http.MethodPost, pushapi.PathPush, validBody(t), h)
	if status != http.StatusUnauthorized || ans.Code != pushapi.CodeSignature {
		t.Errorf("uppercase hex signature: HTTP %d code %d %q; want 401/1004", status, ans.Code, ans.ErrorMessage)
	}
	if n := len(b.em.Pushes()); n != 0 {
		t.Errorf("%d pushes recorded with an uppercase signature", n)
	}
}

// TestIsToAllCheckedOnTheAudienceUsed guards that the is_to_all presence
// check reads the body as DecodeRequest does (serverapi.go
// withIsToAllRequired); a review found it looking at a merged audience.
//
// push-by-tag.txt: "audience.is_to_all | Boolean | Yes | Push to all users."
// (doc.go step 6: "audience.is_to_all must be present").
//
// The emulator decodes the push with pushapi.DecodeRequest, where a repeated
// key's last value wins (decode.go: "duplicate keys then resolve as the shape
// check saw them (the last one wins)"), but used to look for is_to_all with
// encoding/json into a struct field, which MERGES a repeated "audience"
// object into the first one. So a body whose effective (last) audience had
// no is_to_all was accepted: the check looked at an audience the push does
// not use.
func TestIsToAllCheckedOnTheAudienceUsed(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	body := `{"platform":["ios"],"fromuserid":"s",` +
		`"audience":{"tag":["a"],"is_to_all":false},` +
		`"message":{"content":"{\"content\":\"x\"}","objectName":"RC:TxtMsg"},"notification":{"alert":"x"},` +
		`"audience":{"tag":["b"]}}`
	// What the emulator itself decodes: the last audience, without is_to_all.
	req, err := pushapi.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatalf("DecodeRequest: %v", err)
	}
	if len(req.Audience.Tag) != 1 || req.Audience.Tag[0] != "b" {
		t.Fatalf("decoded audience %+v, want the last one (tag b)", req.Audience)
	}
	status, ans := b.do(t, http.MethodPost, pushapi.PathPush, body, b.signed(testKey, testSecret, ""))
	if status != http.StatusBadRequest || ans.Code != pushapi.CodeParam || !strings.Contains(ans.ErrorMessage, "audience.is_to_all") {
		t.Errorf("push whose effective audience lacks is_to_all: HTTP %d code %d %q; want 400/1002 naming audience.is_to_all", status, ans.Code, ans.ErrorMessage)
	}
}

// TestConcurrentPatchesAreNotLost guards UpdateApp's single locked section
// (emulator.go UpdateApp); a review found concurrent patches losing each
// other's changes.
//
// emulator.go: "Its methods are safe for concurrent use." and AppPatch: "nil
// fields stay".
//
// UpdateApp (and SetFaults, which calls it) used to copy the app's config
// under the lock, release it, then write the whole config back through
// SetApp. Two concurrent patches of different fields (PATCH push_disabled and
// PUT faults from the control API, or a test's SetFaults while another
// toggles the app) lost one of the two: a read-modify-write race, invisible
// to -race because every access holds the lock.
func TestConcurrentPatchesAreNotLost(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	const rounds = 300
	lost := 0
	for i := range rounds {
		if err := b.em.UpdateApp(testKey, AppPatch{PushDisabled: new(false), ClearFaults: true}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			if err := b.em.UpdateApp(testKey, AppPatch{PushDisabled: new(true)}); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			<-start
			if err := b.em.SetFaults(testKey, &Faults{Error500: 1}); err != nil {
				t.Error(err)
			}
		})
		close(start)
		wg.Wait()
		st, err := b.em.App(testKey)
		if err != nil {
			t.Fatal(err)
		}
		if !st.PushDisabled || st.OwnFaults == nil || st.OwnFaults.Error500 != 1 {
			lost++
			if lost == 1 {
				t.Logf("round %d: push_disabled=%v own_faults=%+v after both patches", i, st.PushDisabled, st.OwnFaults)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d rounds lost one of two concurrent patches (UpdateApp is read-modify-write across two lock sections)", lost, rounds)
	}
}

// TestSetAppCopiesFaults guards that New and SetApp keep a copy of the
// caller's Faults (emulator.go SetApp); a review found them aliasing it.
//
// emulator.go SetApp: "SetApp adds an app or replaces its configuration",
// and "Its methods are safe for concurrent use"; AppState.OwnFaults/Faults
// are "the faults in force".
//
// SetApp (and New, through it) used to clone a.Users but keep a.Faults, a
// pointer into the caller's value: the caller's later writes to that Faults
// changed the emulator's faults without the emulator's lock (a data race with
// every call in flight) and without validation. UpdateApp copies the patch's
// Faults; SetApp now does too.
func TestSetAppCopiesFaults(t *testing.T) {
	t.Parallel()
	f := &Faults{}
	b := setup(t, Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Faults: f}}})
	f.Error500 = 1 // the caller reuses its value, e.g. for the next app
	f.Error504 = 5 // not even a valid fraction
	if got := b.em.Faults(testKey); got != (Faults{}) {
		t.Errorf("after New: the caller's later edit changed the app's faults to %+v; want them as configured (none)", got)
	}

	g := &Faults{}
	if err := b.em.SetApp(AppConfig{AppKey: "k2", Secret: "s2", Faults: g}); err != nil {
		t.Fatal(err)
	}
	g.Reset = 1
	if got := b.em.Faults("k2"); got != (Faults{}) {
		t.Errorf("after SetApp: the caller's later edit changed the app's faults to %+v; want them as set (none)", got)
	}
	// And the push path reads the aliased value: the edit turned into an
	// injected fault nobody configured.
	status, ans := b.do(t, http.MethodPost, pushapi.PathPush, validBody(t), b.signed(testKey, testSecret, ""))
	if status != http.StatusOK {
		t.Errorf("push: HTTP %d code %d %q; want 200 (no faults were configured through the emulator)", status, ans.Code, ans.ErrorMessage)
	}
}
