package emulator

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/pushapi"
)

// isToAllBody is tagPush with an audience whose ignored conditions break
// their limits: 21 tags and an empty user id.
func isToAllBody(t *testing.T, isToAll bool) string {
	t.Helper()
	tags := make([]string, pushapi.MaxAudienceTags+1)
	for i := range tags {
		tags[i] = "t" + strings.Repeat("x", i+1)
	}
	r := tagPush()
	r.Audience = pushapi.Audience{IsToAll: isToAll, Tag: tags, UserID: []string{""}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// push-by-tag.txt: "If is_to_all is true, other conditions are ignored." The
// emulator accepts such a body whatever the ignored conditions hold, and
// pushes to every user of the app, as the service would.
func TestEmulatorIsToAllIgnoresOtherConditions(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	if err := b.em.SetUsers(testKey, User{ID: "amy", Tags: []string{"女"}}, User{ID: "bob"}); err != nil {
		t.Fatal(err)
	}
	status, ans := b.do(t, http.MethodPost, pushapi.PathPush, isToAllBody(t, true), b.signed(testKey, testSecret, ""))
	if status != http.StatusOK || ans.Code != pushapi.CodeOK {
		t.Fatalf("is_to_all: true with ignored conditions: HTTP %d code %d %q, want 200/200", status, ans.Code, ans.ErrorMessage)
	}
	pushes := b.em.PushesFor(testKey)
	if len(pushes) != 1 {
		t.Fatalf("%d pushes recorded, want 1", len(pushes))
	}
	if got, want := pushes[0].Recipients, []string{"amy", "bob"}; !slices.Equal(got, want) {
		t.Errorf("recipients = %q, want every user %q", got, want)
	}
}

// With is_to_all: false the same audience is refused: its conditions are used.
func TestEmulatorIsToAllFalseChecksOtherConditions(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	status, ans := b.do(t, http.MethodPost, pushapi.PathPush, isToAllBody(t, false), b.signed(testKey, testSecret, ""))
	if status != http.StatusBadRequest || ans.Code != pushapi.CodeParam ||
		!strings.Contains(ans.ErrorMessage, "audience.tag") || !strings.Contains(ans.ErrorMessage, "audience.userid[0]") {
		t.Errorf("is_to_all: false with 21 tags and an empty user id: HTTP %d code %d %q, want 400/1002 naming audience.tag and audience.userid[0]", status, ans.Code, ans.ErrorMessage)
	}
}
