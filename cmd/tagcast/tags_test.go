package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tagService answers the three tag APIs like the service does; get returns
// fixed tags.
func tagService(t *testing.T) *fakeService {
	return newFakeService(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/user/tag/set.json", "/user/tag/batch/set.json":
			_, _ = io.WriteString(w, `{"code":200}`)
		case "/user/tags/get.json":
			_, _ = io.WriteString(w, `{"code":200,"result":{"u1":["女","北京"],"u2":[]}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"code":404}`)
		}
	})
}

func TestTagsSet(t *testing.T) {
	t.Parallel()
	svc := tagService(t)
	cfgFile, vars := svc.configFor(t)

	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "tags", "set", "--app", "main", "u1", "女", "北京")
	if r.code != 0 || r.stdout != "tags of u1 set to: 女, 北京\n" {
		t.Errorf("tags set: %s", r)
	}
	r = runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "tags", "set", "--app", "main", "u1")
	if r.code != 0 || r.stdout != "tags cleared for u1\n" {
		t.Errorf("tags set (clear): %s", r)
	}
	assertNoSecret(t, r)

	reqs := svc.recorded()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d, want 2", len(reqs))
	}
	for i, want := range []string{`{"userId":"u1","tags":["女","北京"]}`, `{"userId":"u1","tags":[]}`} {
		if reqs[i].path != "/user/tag/set.json" || string(reqs[i].body) != want {
			t.Errorf("request %d = %s %s, want /user/tag/set.json %s", i, reqs[i].path, reqs[i].body, want)
		}
	}

	// Invalid requests are refused before anything is sent.
	args := []string{"--config", cfgFile, "tags", "set", "--app", "main", "u1"}
	for range 21 {
		args = append(args, "t")
	}
	r = runTagcast(t, cliEnv{vars: vars}, args...)
	if r.code != 1 || !strings.Contains(r.stderr, "tags: at most 20") || !strings.Contains(r.stderr, "nothing sent") {
		t.Errorf("21 tags: %s", r)
	}
	r = runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "tags", "set", "--app", "main", "u1", strings.Repeat("x", 41))
	if r.code != 1 || !strings.Contains(r.stderr, "tags[0]: ") {
		t.Errorf("41-byte tag: %s", r)
	}
	if n := len(svc.recorded()); n != 2 {
		t.Errorf("service saw %d requests, want still 2", n)
	}

	r = runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "-o", "json", "tags", "set", "--app", "main", "u2", "a")
	var report tagsSetReport
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || r.code != 0 {
		t.Fatalf("json: %v %s", err, r)
	}
	if diff := cmp.Diff(tagsSetReport{App: "main", UserIDs: []string{"u2"}, Tags: []string{"a"}}, report); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}

func TestTagsBatchSet(t *testing.T) {
	t.Parallel()
	svc := tagService(t)
	cfgFile, vars := svc.configFor(t)
	run := func(args ...string) cliResult {
		return runTagcast(t, cliEnv{vars: vars, stdin: `{"userIds": ["s1", "s2"], "tags": ["x"]}`}, append([]string{"--config", cfgFile, "tags", "batch-set", "--app", "main"}, args...)...)
	}

	if r := run("--users", "a, b", "--users", "c", "--tags", "x,y"); r.code != 0 || r.stdout != "tags of a, b, c set to: x, y\n" {
		t.Errorf("batch-set: %s", r)
	}
	if r := run("--users", "a", "--tags", ""); r.code != 0 || r.stdout != "tags cleared for a\n" {
		t.Errorf("batch-set clear: %s", r)
	}
	file := writeFile(t, "batch.yaml", "userIds: [f1, f2]\ntags: [北京]\n")
	if r := run("--file", file); r.code != 0 {
		t.Errorf("batch-set --file: %s", r)
	}
	if r := run("--file", "-"); r.code != 0 {
		t.Errorf("batch-set --file -: %s", r)
	}
	var bodies []string
	for _, req := range svc.recorded() {
		if req.path != "/user/tag/batch/set.json" {
			t.Errorf("path = %s", req.path)
		}
		bodies = append(bodies, string(req.body))
	}
	want := []string{
		`{"userIds":["a","b","c"],"tags":["x","y"]}`,
		`{"userIds":["a"],"tags":[]}`,
		`{"userIds":["f1","f2"],"tags":["北京"]}`,
		`{"userIds":["s1","s2"],"tags":["x"]}`,
	}
	if diff := cmp.Diff(want, bodies); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}

	// Usage and input errors send nothing.
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--users", "a"}, 2, `--users and --tags are required (--tags "" clears), or --file`},
		{[]string{"--tags", "x"}, 2, "--users and --tags are required"},
		{[]string{"--file", file, "--tags", "x"}, 2, "--file and --users/--tags are exclusive"},
		{[]string{"--file", writeFile(t, "typo.json", `{"userId": ["a"], "tags": []}`)}, 1, "userId: unknown field (did you mean \"userIds\"?)"},
		{[]string{"--users", "", "--tags", "x"}, 1, "userIds: "},
	} {
		r := run(tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("batch-set %v: want exit %d and %q, got %s", tt.args, tt.code, tt.want, r)
		}
	}
	if n := len(svc.recorded()); n != 4 {
		t.Errorf("service saw %d requests, want still 4", n)
	}
}

func TestTagsGet(t *testing.T) {
	t.Parallel()
	svc := tagService(t)
	cfgFile, vars := svc.configFor(t)

	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "tags", "get", "--app", "main", "u1", "u2")
	if r.code != 0 {
		t.Fatalf("tags get: %s", r)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	if diff := cmp.Diff([]string{"USER TAGS", "u1 女, 北京", "u2"}, lines); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	reqs := svc.recorded()
	if len(reqs) != 1 || reqs[0].path != "/user/tags/get.json" || !strings.HasPrefix(reqs[0].contentType, "application/x-www-form-urlencoded") {
		t.Fatalf("requests = %+v", reqs)
	}
	form, err := url.ParseQuery(string(reqs[0].body))
	if err != nil || !cmp.Equal(form["userIds"], []string{"u1", "u2"}) {
		t.Errorf("form = %q (%v), want repeated userIds u1, u2", reqs[0].body, err)
	}

	r = runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "-o", "json", "tags", "get", "--app", "main", "u1", "u2")
	var got struct {
		App  string              `json:"app"`
		Tags map[string][]string `json:"tags"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("json: %v %s", err, r)
	}
	if diff := cmp.Diff(map[string][]string{"u1": {"女", "北京"}, "u2": {}}, got.Tags); diff != "" || got.App != "main" {
		t.Errorf("json tags (-want +got):\n%s", diff)
	}

	args := []string{"--config", cfgFile, "tags", "get", "--app", "main"}
	for range 51 {
		args = append(args, "u")
	}
	r = runTagcast(t, cliEnv{vars: vars}, args...)
	if r.code != 1 || !strings.Contains(r.stderr, "userIds: at most 50") {
		t.Errorf("51 users: %s", r)
	}
	if n := len(svc.recorded()); n != 2 {
		t.Errorf("service saw %d requests, want 2", n)
	}
}

func TestTagsServiceErrorExit1(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "<html>upstream broke</html>")
	})
	cfgFile, vars := svc.configFor(t)
	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "tags", "set", "--app", "main", "u1", "a")
	if r.code != 1 || !strings.Contains(r.stderr, "tags set (app main): ") || !strings.Contains(r.stderr, "500") {
		t.Errorf("5xx: %s", r)
	}
	assertNoSecret(t, r)
}

// A batch-set file without tags (absent, null, or YAML's empty "tags:") is
// refused naming the field, and nothing is sent: tags replace every listed
// user's, so sending [] would wipe them (the admin API refuses it too).
func TestTagsBatchSetFileWithoutTagsSendsNothing(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		"absent.json": `{"userIds": ["u1", "u2"]}`,
		"null.json":   `{"userIds": ["u1", "u2"], "tags": null}`,
		"empty.yaml":  "userIds: [u1, u2]\ntags:\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			svc := tagService(t)
			cfgFile, vars := svc.configFor(t)
			file := writeFile(t, name, text)
			r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "tags", "batch-set", "--app", "main", "--file", file)
			if n := len(svc.recorded()); n != 0 {
				t.Errorf("the service received %d request(s) (%s), want none: a file without tags wipes the users' tags\n%s",
					n, svc.recorded()[0].body, r)
			}
			if r.code != 1 || !strings.Contains(r.stderr, "tags") {
				t.Errorf("want exit 1 naming the missing tags field:\n%s", r)
			}
		})
	}
}
