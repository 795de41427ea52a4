package admin_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/admin"
)

// Was: a tag body of the wrong JSON types was refused with 400, but the
// problems were encoding/json's first UnmarshalTypeError passed through as
// is: it named the array ("userIds"), not the element ("userIds[1]", which
// pushapi's own checks name), it dropped every other wrong field
// (api/openapi.yaml: "400 invalid input (every problem with its field
// path)"), and for a body that is not an object the rule named a Go type
// ("must be admin.TagsBatchSet, got array").
func TestTagBodyTypeErrorsNameEveryField(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	auth := "Bearer " + tokenA

	r := b.call(t, "POST", "/v1/apps/main/tags/batch", auth, "application/json",
		strings.NewReader(`{"userIds":["u1",2],"tags":"vip"}`))
	var got admin.ErrorBody
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != 400 {
		t.Fatalf("want a 400 error body, got %s", r)
	}
	want := []admin.Problem{{Path: "tags", Rule: "must be an array, got string"}, {Path: "userIds[1]", Rule: "must be a string, got number"}}
	if !slices.Equal(got.Problems, want) {
		t.Errorf("problems %+v, want %+v (every wrong field, the element by index)", got.Problems, want)
	}

	r = b.call(t, "POST", "/v1/apps/main/tags/batch", auth, "application/json", strings.NewReader(`[]`))
	if r.status != 400 || !strings.Contains(r.body, `"rule":"must be a JSON object, got array"`) {
		t.Errorf("a body that is not an object: %s; want 400, must be a JSON object", r)
	}
	// null stands for an absent key: the handler names the missing tags.
	r = b.call(t, "POST", "/v1/apps/main/tags/batch", auth, "application/json", strings.NewReader(`{"userIds":["u1"],"tags":null}`))
	if r.status != 400 || !strings.Contains(r.body, `"path":"tags"`) || strings.Contains(r.body, "got null") {
		t.Errorf("tags null: %s; want 400 naming tags as required", r)
	}
}
