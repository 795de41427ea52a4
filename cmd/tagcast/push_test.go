package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/pushapi"
)

// The request example of push-by-tag.txt, verbatim.
const examplePushBody = "testdata/push-by-tag-example.json"

func readExample(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(examplePushBody)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(data, &body); err != nil {
		t.Fatal(err)
	}
	return body
}

func writeJSONFile(t *testing.T, name string, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, name, string(data))
}

func TestPushValidateAcceptsTheDocumentedExample(t *testing.T) {
	t.Parallel()
	r := runTagcast(t, cliEnv{}, "push", "validate", examplePushBody)
	if r.code != 0 || r.stdout != "valid\n" || r.stderr != "" {
		t.Fatalf("push validate %s: %s", examplePushBody, r)
	}
	r = runTagcast(t, cliEnv{}, "push", "validate", "--output", "json", examplePushBody)
	if r.code != 0 || !json.Valid([]byte(r.stdout)) || !strings.Contains(r.stdout, `"valid": true`) {
		t.Errorf("push validate --output json: %s", r)
	}
}

func TestPushValidateRejects1001UserIDs(t *testing.T) {
	t.Parallel()
	body := readExample(t)
	ids := make([]string, 1001)
	for i := range ids {
		ids[i] = fmt.Sprint(i + 1)
	}
	body["audience"].(map[string]any)["userid"] = ids
	file := writeJSONFile(t, "big.json", body)

	r := runTagcast(t, cliEnv{}, "push", "validate", file)
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	if r.stdout != "audience.userid: at most 1000 items, got 1001\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	if r.stderr != "tagcast: "+file+": invalid push body: 1 problem\n" {
		t.Errorf("stderr = %q", r.stderr)
	}

	r = runTagcast(t, cliEnv{}, "push", "validate", "-o", "json", file)
	var report pushValidateReport
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || r.code != 1 {
		t.Fatalf("json: %v %s", err, r)
	}
	want := []pushapi.FieldError{{Path: "audience.userid", Rule: "at most 1000 items, got 1001", Code: pushapi.CodeParam}}
	if diff := cmp.Diff(want, report.Problems); diff != "" || report.Valid {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestPushValidateReportsShapeProblemsWithPaths(t *testing.T) {
	t.Parallel()
	body := readExample(t)
	body["Platform"] = body["platform"]
	delete(body, "platform")
	body["audience"].(map[string]any)["tag"] = "女"
	n := body["notification"].(map[string]any)
	n["ios"].(map[string]any)["badge"] = 1.5
	n["android"].(map[string]any)["oppo"].(map[string]any)["notify_level"] = "2"
	n["android"].(map[string]any)["hw"].(map[string]any)["colour"] = "red"
	n["forceShowPushContent"] = true
	n["ios"].(map[string]any)["extras"] = []any{1}
	file := writeJSONFile(t, "shape.json", body)

	r := runTagcast(t, cliEnv{}, "push", "validate", file)
	want := `audience.tag: must be a list, got a string ("女")
notification.forceShowPushContent: must be an integer, got a boolean (true)
notification.ios.badge: must be an integer, got 1.5
notification.ios.extras: must be an object, got a list
notification.android.hw.colour: unknown field; known fields: channelId, importance, image, category
notification.android.oppo.notify_level: must be an integer, got a string ("2")
Platform: unknown field (did you mean "platform"?)
`
	if diff := cmp.Diff(want, r.stdout); diff != "" || r.code != 1 {
		t.Errorf("exit %d, stdout (-want +got):\n%s", r.code, diff)
	}
}

func TestPushValidateRuleViolationsAllAtOnce(t *testing.T) {
	t.Parallel()
	body := readExample(t)
	body["platform"] = []string{"ios", "web"}
	n := body["notification"].(map[string]any)
	n["title"] = strings.Repeat("长", 51)
	n["ios"].(map[string]any)["badge"] = 10000
	n["android"].(map[string]any)["hw"].(map[string]any)["image"] = "http://example.com/i.png"
	file := writeJSONFile(t, "rules.json", body)

	r := runTagcast(t, cliEnv{}, "push", "validate", file)
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	for _, path := range []string{"platform[1]: ", "notification.title: ", "notification.ios.badge: ", "notification.android.hw.image: "} {
		if !strings.Contains(r.stdout, "\n"+path) && !strings.HasPrefix(r.stdout, path) {
			t.Errorf("stdout lacks a line for %q:\n%s", path, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "invalid push body: 4 problems") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestPushValidateYAMLAndStdin(t *testing.T) {
	t.Parallel()
	const yamlBody = `platform: [ios, android]
fromuserid: system
audience: {tag: [女, 年轻], is_to_all: false}
message: {objectName: "RC:TxtMsg", content: '{"content":"30% off"}'}
notification:
  title: Sale
  alert: 30% off
  ios: {badge: 0}
`
	file := writeFile(t, "push.yaml", yamlBody)
	if r := runTagcast(t, cliEnv{}, "push", "validate", file); r.code != 0 || r.stdout != "valid\n" {
		t.Errorf("YAML file: %s", r)
	}
	if r := runTagcast(t, cliEnv{stdin: yamlBody}, "push", "validate", "-"); r.code != 0 || r.stdout != "valid\n" {
		t.Errorf("YAML on stdin: %s", r)
	}
	example, err := os.ReadFile(examplePushBody)
	if err != nil {
		t.Fatal(err)
	}
	if r := runTagcast(t, cliEnv{stdin: string(example)}, "push", "validate", "-"); r.code != 0 {
		t.Errorf("JSON on stdin: %s", r)
	}
	bad := writeFile(t, "bad.yaml", "platform: [ios\n")
	if r := runTagcast(t, cliEnv{}, "push", "validate", bad); r.code != 1 || !strings.Contains(r.stderr, "bad.yaml: yaml: line") {
		t.Errorf("broken YAML: %s", r)
	}
}

func TestPushValidateMalformedJSONNamesThePosition(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, want string }{
		{"{\"platform\": [\"ios\"],\n  \"audience\": {,}}", "body.json:2:16: invalid JSON: invalid character ',' looking for beginning of object key string"},
		{`{"platform": ["ios"]`, "invalid JSON: unexpected end of input"},
		{`{"platform": ["ios"]} {}`, "body.json:1:23: unexpected data after the JSON document"},
		{`["ios"]`, "(document): must be an object, got a list"},
		{``, "invalid JSON: unexpected end of input"},
	}
	for _, tt := range tests {
		file := writeFile(t, "body.json", tt.body)
		r := runTagcast(t, cliEnv{}, "push", "validate", file)
		if r.code != 1 || !strings.Contains(r.stdout+r.stderr, tt.want) {
			t.Errorf("body %q: want exit 1 and %q, got %s", tt.body, tt.want, r)
		}
	}
	r := runTagcast(t, cliEnv{}, "push", "validate", "/nonexistent/body.json")
	if r.code != 1 || !strings.Contains(r.stderr, "open /nonexistent/body.json: no such file or directory") {
		t.Errorf("missing file: %s", r)
	}
}

// fakeService is an httptest push service: it verifies every request's
// signature against its App Key and secret, records the requests and answers
// with respond.
type fakeService struct {
	*httptest.Server
	t       *testing.T
	appKey  string
	secret  string
	respond func(w http.ResponseWriter, r *http.Request, body []byte)

	mu       sync.Mutex
	requests []recordedRequest
}

type recordedRequest struct {
	path        string
	contentType string
	body        []byte
}

func newFakeService(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, body []byte)) *fakeService {
	t.Helper()
	s := &fakeService{t: t, appKey: "key-main", secret: secretValue, respond: respond}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *fakeService) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	nonce, ts := r.Header.Get("Nonce"), r.Header.Get("Timestamp")
	if r.Header.Get("App-Key") != s.appKey || nonce == "" || ts == "" || r.Header.Get("Signature") != pushapi.Sign(s.secret, nonce, ts) {
		s.t.Errorf("%s: bad App-Key or signature (App-Key %q)", r.URL.Path, r.Header.Get("App-Key"))
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"code":1004,"errorMessage":"signature error"}`)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, recordedRequest{path: r.URL.Path, contentType: r.Header.Get("Content-Type"), body: body})
	s.mu.Unlock()
	s.respond(w, r, body)
}

func (s *fakeService) recorded() []recordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recordedRequest(nil), s.requests...)
}

// configFor writes a config whose app "main" talks to the fake service.
func (s *fakeService) configFor(t *testing.T) (file string, vars map[string]string) {
	t.Helper()
	file = writeFile(t, "tagcast.yaml", fmt.Sprintf(`apps:
  - name: main
    app_key: %s
    app_secret_env: MAIN_SECRET
    hosts: [%s]
    timeout: 5s
database: {url: "sqlite://%s"}
`, s.appKey, s.URL, filepath.Join(t.TempDir(), "tagcast.db")))
	return file, map[string]string{"MAIN_SECRET": s.secret}
}

func okPush(w http.ResponseWriter, _ *http.Request, _ []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"code":200,"id":"PUSH-ID-1","messageUID":"MSG-UID-1"}`)
}

func TestPushSendSendsOnceAndPrintsTheIDs(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, okPush)
	cfgFile, vars := svc.configFor(t)

	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "push", "send", "--app", "main", examplePushBody)
	if r.code != 0 {
		t.Fatalf("push send: %s", r)
	}
	fields := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 {
			fields[f[0]] = f[1]
		}
	}
	if fields["id"] != "PUSH-ID-1" || fields["messageUID"] != "MSG-UID-1" || fields["app"] != "main" || fields["host"] != svc.URL {
		t.Errorf("stdout = %q", r.stdout)
	}
	assertNoSecret(t, r)

	reqs := svc.recorded()
	if len(reqs) != 1 || reqs[0].path != "/push.json" || !strings.HasPrefix(reqs[0].contentType, "application/json") {
		t.Fatalf("requests = %+v, want one /push.json", reqs)
	}
	var sent, want map[string]any
	if err := json.Unmarshal(reqs[0].body, &sent); err != nil {
		t.Fatal(err)
	}
	want = readExample(t)
	if diff := cmp.Diff(want, sent); diff != "" {
		t.Errorf("sent body differs from the file (-file +sent):\n%s", diff)
	}

	r = runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "-o", "json", "push", "send", "--app", "main", examplePushBody)
	var report pushSendReport
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || r.code != 0 {
		t.Fatalf("json: %v %s", err, r)
	}
	if !report.Sent || report.Outcome != pushapi.OutcomeSent || report.ID != "PUSH-ID-1" || report.MessageUID != "MSG-UID-1" || report.RequestID == "" {
		t.Errorf("report = %+v", report)
	}
}

func TestPushSendFailures(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"code":1002,"errorMessage":"audience invalid"}`)
	})
	cfgFile, vars := svc.configFor(t)

	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "push", "send", "--app", "main", examplePushBody)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "tagcast: push send (app main): ") ||
		!strings.Contains(r.stderr, "1002") || !strings.Contains(r.stderr, "rejected by the service") {
		t.Errorf("service error: %s", r)
	}
	assertNoSecret(t, r)

	r = runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "-o", "json", "push", "send", "--app", "main", examplePushBody)
	var report pushSendReport
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || r.code != 1 {
		t.Fatalf("json: %v %s", err, r)
	}
	if report.Sent || report.Outcome != pushapi.OutcomeFailed || report.Code != 1002 || report.HTTPStatus != 400 {
		t.Errorf("report = %+v", report)
	}
	if n := len(svc.recorded()); n != 2 {
		t.Errorf("service saw %d requests, want 2", n)
	}

	// Nothing is sent for an invalid body, an unknown app or an invalid config.
	body := readExample(t)
	body["audience"].(map[string]any)["tag"] = make([]string, 21)
	bad := writeJSONFile(t, "bad.json", body)
	r = runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "push", "send", "--app", "main", bad)
	if r.code != 1 || !strings.Contains(r.stderr, "audience.tag: at most 20 items, got 21") || !strings.Contains(r.stderr, "nothing sent") {
		t.Errorf("invalid body: %s", r)
	}
	r = runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "push", "send", "--app", "other", examplePushBody)
	if r.code != 2 || !strings.Contains(r.stderr, `--app "other": not configured; apps: [main]`) {
		t.Errorf("unknown app: %s", r)
	}
	r = runTagcast(t, cliEnv{vars: map[string]string{}}, "--config", cfgFile, "push", "send", "--app", "main", examplePushBody)
	if r.code != 1 || !strings.Contains(r.stderr, "apps[0].app_secret_env: environment variable MAIN_SECRET is not set") {
		t.Errorf("invalid config: %s", r)
	}
	if n := len(svc.recorded()); n != 2 {
		t.Errorf("service saw %d requests, want still 2", n)
	}
}

// One unknown (say misspelt) field does not hide the body's rule
// violations: push validate reports both.
func TestPushValidateReportsRulesDespiteUnknownField(t *testing.T) {
	t.Parallel()
	body := `{"platform":["ios","web"],"fromuserid":"system","audience":{"tag":["a"],"is_to_all":false},"notification":{"alert":"hi"},"extra":1}`
	r := runTagcast(t, cliEnv{}, "push", "validate", writeFile(t, "body.json", body))
	if r.code != 1 {
		t.Fatalf("want exit 1:\n%s", r)
	}
	if !strings.Contains(r.stdout, "extra: ") {
		t.Errorf("the unknown field is not reported:\n%s", r)
	}
	if !strings.Contains(r.stdout, "platform[1]: ") {
		t.Errorf("the platform rule violation is hidden by the unknown field:\n%s", r)
	}
}
