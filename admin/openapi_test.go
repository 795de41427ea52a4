package admin

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestOpenAPIDescribesEveryEndpoint checks api/openapi.yaml against the
// routes: every route is documented with its method, every documented
// operation is served, and every $ref resolves.
func TestOpenAPIDescribesEveryEndpoint(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI    string                    `yaml:"openapi"`
		Paths      map[string]map[string]any `yaml:"paths"`
		Components map[string]map[string]any `yaml:"components"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	s := &Server{}
	served := map[string]bool{}
	for _, e := range s.endpoints() {
		if !strings.Contains(e.pattern, " ") {
			continue // the method-less monitoring fallback
		}
		served[e.pattern] = true
		if !documented[e.pattern] {
			t.Errorf("%s is not in api/openapi.yaml", e.pattern)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("api/openapi.yaml documents %s, which is not served", op)
		}
	}
	for _, m := range regexp.MustCompile(`\$ref: "#/components/(\w+)/(\w+)"`).FindAllStringSubmatch(string(data), -1) {
		if _, ok := doc.Components[m[1]][m[2]]; !ok {
			t.Errorf("$ref %s/%s does not resolve", m[1], m[2])
		}
	}
}
