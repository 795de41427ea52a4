package pushapi

import (
	"encoding/json"
	"errors"
	"testing"
)

// push-by-tag.txt, audience: "Note: If is_to_all is true, other conditions
// are ignored."; audience.userid, tag and tag_or: "Invalid if is_to_all is
// true."; is_to_all: "true means push to all users, ignoring other
// conditions." A body with is_to_all: true is valid whatever the ignored
// conditions hold (too many ids or tags, empty items), and they are still
// sent as they are.
func TestIsToAllIgnoresOtherConditions(t *testing.T) {
	t.Parallel()
	r := validRequest()
	r.Audience = Audience{
		IsToAll: true,
		UserID:  append(ids(MaxUserIDs+1), ""),
		Tag:     ids(MaxAudienceTags + 1),
		TagOr:   []string{""},
	}
	body, err := r.Encode()
	if err != nil {
		t.Fatalf("is_to_all: true with ignored conditions refused: %v", err)
	}
	var sent struct {
		Audience Audience `json:"audience"`
	}
	if err := json.Unmarshal(body, &sent); err != nil {
		t.Fatal(err)
	}
	if !sent.Audience.IsToAll || len(sent.Audience.UserID) != MaxUserIDs+2 || len(sent.Audience.Tag) != MaxAudienceTags+1 || len(sent.Audience.TagOr) != 1 {
		t.Errorf("encoded audience = is_to_all %v, %d userid, %d tag, %d tag_or; want the request's, sent as they are",
			sent.Audience.IsToAll, len(sent.Audience.UserID), len(sent.Audience.Tag), len(sent.Audience.TagOr))
	}
}

// With is_to_all: false the same conditions select the recipients, and their
// limits apply.
func TestIsToAllFalseChecksOtherConditions(t *testing.T) {
	t.Parallel()
	r := validRequest()
	r.Audience = Audience{
		UserID: append(ids(MaxUserIDs), ""),
		Tag:    ids(MaxAudienceTags + 1),
		TagOr:  []string{""},
	}
	err := r.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate() = %v, want a *ValidationError", err)
	}
	want := map[string]bool{"audience.userid": true, "audience.userid[1000]": true, "audience.tag": true, "audience.tag_or[0]": true}
	for _, p := range ve.Problems {
		delete(want, p.Path)
	}
	if len(want) > 0 {
		t.Errorf("Validate() = %v; missing problems for %v", err, want)
	}
}
