package admin_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// api/openapi.yaml's "Invalid" example is what POST /v1/campaigns answers
// to the same mistakes (a cron minute of 61, a platform "windows"): its
// cron rule went stale when the parser began to name the field.
func TestOpenAPIInvalidExampleIsWhatTheAPIAnswers(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type problem struct {
		Path string `yaml:"path" json:"path"`
		Rule string `yaml:"rule" json:"rule"`
	}
	type errorBody struct {
		Error    string    `yaml:"error" json:"error"`
		Problems []problem `yaml:"problems" json:"problems"`
	}
	var doc struct {
		Components struct {
			Responses map[string]struct {
				Content map[string]struct {
					Example errorBody `yaml:"example"`
				} `yaml:"content"`
			} `yaml:"responses"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	example := doc.Components.Responses["Invalid"].Content["application/json"].Example
	if len(example.Problems) != 2 {
		t.Fatalf("the Invalid example: %+v; want its two problems (schedule.cron, push.platform[1])", example)
	}

	b := setup(t, "sqlite::memory:")
	body := `name: x
app: main
schedule: {cron: "61 * * * *"}
push:
  platform: [ios, windows]
  fromuserid: system
  audience: {tag: [vip]}
  message: {objectName: "RC:TxtMsg", content: '{"content":"hi"}'}
  notification: {alert: hi}
`
	r := b.call(t, "POST", "/v1/campaigns", "Bearer "+tokenA, "application/yaml", strings.NewReader(body))
	var got errorBody
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != 400 {
		t.Fatalf("POST /v1/campaigns with a bad cron and platform: %s (%v); want 400", r, err)
	}
	if got.Error != example.Error || len(got.Problems) != len(example.Problems) {
		t.Fatalf("the API answers %+v\napi/openapi.yaml's Invalid example shows %+v", got, example)
	}
	for i, p := range example.Problems {
		if got.Problems[i] != p {
			t.Errorf("problem %d: the API answers\n  %+v\napi/openapi.yaml's Invalid example shows\n  %+v", i, got.Problems[i], p)
		}
	}
}
