package admin_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// api/openapi.yaml must not give a tag a maxLength the API does not keep:
// in JSON Schema (OpenAPI 3.1) maxLength counts characters, and the API
// counts 40 bytes (the service's limit, pushapi.MaxTagBytes). Was:
// maxLength 40, and a tag the published schema accepted, such as 14
// Chinese characters (42 bytes), was refused with a 400 (found by a
// review). The document says x-max-bytes: 40 now.
func TestOpenAPITagMaxLengthMatchesTheAPI(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type operation struct {
		RequestBody struct {
			Content map[string]struct {
				Schema struct {
					Properties map[string]struct {
						Items struct {
							MaxLength *int `yaml:"maxLength"`
						} `yaml:"items"`
					} `yaml:"properties"`
				} `yaml:"schema"`
			} `yaml:"content"`
		} `yaml:"requestBody"`
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	b := setup(t, "sqlite::memory:")
	for _, op := range []struct{ path, method, url, body string }{
		{"/v1/apps/{app}/users/{user}/tags", "put", "/v1/apps/main/users/u1/tags", `{"tags": [%q]}`},
		{"/v1/apps/{app}/tags/batch", "post", "/v1/apps/main/tags/batch", `{"userIds": ["u1"], "tags": [%q]}`},
	} {
		var o operation
		node := doc.Paths[op.path][op.method]
		if err := node.Decode(&o); err != nil {
			t.Fatalf("%s %s: %v", op.method, op.path, err)
		}
		max := o.RequestBody.Content["application/json"].Schema.Properties["tags"].Items.MaxLength
		if max == nil {
			continue // no character limit published: nothing the schema allows is refused for length
		}
		tag := strings.Repeat("北", *max) // *max characters, as the schema counts
		r := b.call(t, strings.ToUpper(op.method), op.url, "Bearer "+tokenA, "application/json", strings.NewReader(fmt.Sprintf(op.body, tag)))
		if r.status != 200 {
			t.Errorf("%s %s with a tag of %d characters (%d bytes), valid for api/openapi.yaml (maxLength %d): %s; want 200, or a schema that says what the API enforces",
				strings.ToUpper(op.method), op.path, *max, len(tag), *max, r)
		}
	}
}
