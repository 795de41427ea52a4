package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/pushapi"
)

// SetUsers (also behind POST /_emulator/apps/{key}/users and Config's
// users) says it sets users "as if their tags had been set through the tag
// APIs". The tag APIs refuse more than 20 tags, a tag over 40 bytes and an
// empty tag (push-api-facts.md; pushapi.SetUserTagsRequest.Validate), so a
// seeded user must not hold them either: otherwise a tag push resolves to
// users the real service can never have (a 41-byte tag matches in the
// emulator, never in production).
func TestSeededUsersObeyTheTagLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tooMany := make([]string, pushapi.MaxTagsPerUser+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint("t", i)
	}
	for name, tags := range map[string][]string{
		"21 tags":       tooMany,
		"41-byte tag":   {strings.Repeat("x", pushapi.MaxTagBytes+1)},
		"14 CJK (42 B)": {strings.Repeat("北", 14)},
		"empty tag":     {""},
	} {
		if err := b.em.SetUsers(testKey, User{ID: "seeded", Tags: tags}); err == nil {
			t.Errorf("%s: SetUsers accepted tags /user/tag/set.json refuses", name)
		}
		body, _ := json.Marshal([]User{{ID: "seeded-ctl", Tags: tags}})
		if status := b.control(t, http.MethodPost, "apps/"+testKey+"/users", string(body), nil); status == http.StatusOK {
			t.Errorf("%s: the control API seeded tags /user/tag/set.json refuses (HTTP %d)", name, status)
		}
	}
}

// The project's invariant (agree_test.go): client and emulator agree. The
// service documents no limit on a tag call's body, but the emulator bounds
// every body it receives by pushapi.MaxBodyBytes: a batch of 1000 long user
// ids is refused by the client before sending, naming the body, and one just
// under the limit is accepted by both.
func TestBatchSetBodySizeClientAndEmulatorAgree(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	c := b.client(t, testKey, testSecret)
	batch := func(idLen int) []string {
		ids := make([]string, pushapi.MaxBatchTagUsers)
		for i := range ids {
			ids[i] = fmt.Sprintf("%04d-%s", i, strings.Repeat("u", idLen))
		}
		return ids
	}
	err := c.BatchSetUserTags(context.Background(), batch(1100), []string{"vip"})
	var pe *pushapi.Error
	if !errors.As(err, &pe) || pe.HTTPStatus != 0 || !strings.Contains(err.Error(), "body: at most") {
		t.Errorf("a batch of 1000 ids of 1.1 KB: %v; want refused by the client before sending, naming the body", err)
	}
	if err := c.BatchSetUserTags(context.Background(), batch(1000), []string{"vip"}); err != nil {
		t.Errorf("a batch of 1000 ids of 1 KB (under the limit): %v", err)
	}
}
