package emulator

// Edges where the client and the emulator must agree (agree_test.go's
// invariant: a request pushapi.Validate passes is one the emulator accepts,
// and one it refuses the client refuses too, before sending), and the call
// log's copies. Found by a review of the emulator's fidelity.

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/pushapi"
)

// mustRefuseBeforeSending checks that pushapi's Validate refuses r, naming
// path, the side the project chose: the emulator refuses such a body (its
// rules are the project's, the page sets none on extras' content), so the
// client must refuse it before sending, not fail the push at the service.
// Unless encoding/json would rewrite it (invalid UTF-8 becomes U+FFFD), the
// body is also posted raw, to check that the emulator still refuses it.
func mustRefuseBeforeSending(t *testing.T, r *pushapi.Request, path string, emulatorRefuses bool) {
	t.Helper()
	err := r.Validate()
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("pushapi.Validate = %.300v; want a problem of %s", err, path)
	}
	if !emulatorRefuses {
		return
	}
	body, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, Config{})
	if status, ans := b.do(t, http.MethodPost, pushapi.PathPush, string(body), b.signed(testKey, testSecret, "")); status != http.StatusBadRequest || ans.Code != pushapi.CodeParam {
		t.Errorf("the emulator answers %d %+v; want 400/1002 as before", status, ans)
	}
}

// json.RawMessage in extras is checked as the JSON it holds: a NUL or a
// number beyond a double in it was sent, and the emulator refused the push
// 400/1002 (checkUTF8 walked it as bytes).
func TestRawMessageExtrasClientAndEmulatorAgree(t *testing.T) {
	t.Parallel()
	for name, raw := range map[string]string{
		"NUL in a string":        `{"note":"a\u0000b"}`,
		"number beyond a double": `{"total":1e400}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := tagPush()
			r.Notification.IOS.Extras = pushapi.Extras{"order": json.RawMessage(raw)}
			mustRefuseBeforeSending(t, r, "notification.ios.extras.order", true)
		})
	}
}

// The values of a map keyed by numbers (written as JSON keys "1", "2", ...)
// are checked as any other's: a NUL under one was sent and refused 1002,
// invalid UTF-8 sent as U+FFFD.
func TestIntKeyedExtrasClientAndEmulatorAgree(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{"NUL": "a\x00b", "invalid UTF-8": "a\xffb"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := tagPush()
			r.Notification.Android = &pushapi.AndroidNotification{Extras: pushapi.Extras{"steps": map[int]string{1: text}}}
			mustRefuseBeforeSending(t, r, "notification.android.extras.steps.1", name == "NUL")
		})
	}
}

// Extras nested deeper than encoding/json's decoder reads (10000 levels in
// all) are refused before sending; the emulator called such a body invalid
// JSON (400/1002). A body just within the limit is accepted by both.
func TestDeepExtrasClientAndEmulatorAgree(t *testing.T) {
	t.Parallel()
	nest := func(n int) any {
		var v any = "leaf"
		for range n {
			v = map[string]any{"a": v}
		}
		return v
	}
	r := tagPush()
	r.Notification.IOS.Extras = pushapi.Extras{"tree": nest(10001)}
	mustRefuseBeforeSending(t, r, "notification.ios.extras.tree", true)

	// The request, notification, ios and extras objects are 4 levels; the
	// nest's innermost value is a string.
	r.Notification.IOS.Extras = pushapi.Extras{"tree": nest(10000 - 4)}
	if err := r.Validate(); err != nil {
		t.Fatalf("extras 10000 levels deep in all: Validate = %.300v; want accepted", err)
	}
	b := setup(t, Config{})
	if _, err := b.client(t, testKey, testSecret).Push(context.Background(), r); err != nil {
		t.Errorf("extras 10000 levels deep in all: the emulator refuses them: %.300v", err)
	}
}

// Pushes / PushesFor (and GET /_emulator/pushes, which encodes their
// result) hand out copies of the call log: a reader that sorts or edits what
// it read (slices.Sort(p.Recipients), say, for a userid push kept in
// request order), down to the extras' nested maps, leaves the log as
// recorded for every later reader, and races with no concurrent one. Each
// Push was copied, but its slices, maps and pointers were the log's.
func TestPushesReturnsACopyOfTheCallLog(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	r := tagPush()
	r.Audience = pushapi.Audience{UserID: []string{"zoe", "amy"}}
	r.Notification.IOS.Extras = pushapi.Extras{"order": map[string]any{"id": "A1"}}
	if _, err := b.client(t, testKey, testSecret).Push(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	before := b.em.Pushes()
	if len(before) != 1 {
		t.Fatalf("%d pushes recorded, want 1", len(before))
	}
	wantRecipients := slices.Clone(before[0].Recipients)
	wantUserIDs := slices.Clone(before[0].Request.Audience.UserID)
	wantAlert := before[0].Request.Notification.Alert
	wantIOS := before[0].Notifications["ios"]

	// A reader edits what it was given.
	got := b.em.Pushes()[0]
	slices.Sort(got.Recipients)
	got.Request.Audience.UserID[0] = "mallory"
	got.Request.Notification.Alert = "rewritten"
	got.Notifications["ios"] = Notification{Alert: "rewritten"}
	got.Request.Notification.IOS.Extras["order"].(map[string]any)["id"] = "B2"

	after := b.em.Pushes()[0]
	if diff := cmp.Diff(wantRecipients, after.Recipients); diff != "" {
		t.Errorf("recorded recipients changed by a reader (-recorded +now):\n%s", diff)
	}
	if diff := cmp.Diff(wantUserIDs, after.Request.Audience.UserID); diff != "" {
		t.Errorf("recorded audience.userid changed by a reader (-recorded +now):\n%s", diff)
	}
	if after.Request.Notification.Alert != wantAlert {
		t.Errorf("recorded notification.alert = %q, was %q: changed by a reader", after.Request.Notification.Alert, wantAlert)
	}
	if id := after.Request.Notification.IOS.Extras["order"].(map[string]any)["id"]; id != "A1" {
		t.Errorf("recorded extras order.id = %v, was A1: changed by a reader", id)
	}
	if after.Notifications["ios"] != wantIOS {
		t.Errorf("recorded effective ios notification = %+v, was %+v: changed by a reader", after.Notifications["ios"], wantIOS)
	}
	// The inspection API shows the same rewritten log.
	var shown struct {
		Pushes []Push `json:"pushes"`
	}
	if status := b.control(t, http.MethodGet, "pushes", "", &shown); status != http.StatusOK || len(shown.Pushes) != 1 {
		t.Fatalf("GET pushes: HTTP %d, %d pushes", status, len(shown.Pushes))
	}
	if strings.Join(shown.Pushes[0].Recipients, ",") != strings.Join(wantRecipients, ",") {
		t.Errorf("GET /_emulator/pushes recipients = %q, want %q as recorded", shown.Pushes[0].Recipients, wantRecipients)
	}
}
