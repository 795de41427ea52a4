package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var demoUID = regexp.MustCompile(`(?m)^    messageUID  ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})$`)

func TestDemo(t *testing.T) {
	t.Parallel()
	r := runTagcast(t, cliEnv{}, "demo")
	if r.code != 0 {
		t.Fatalf("demo: %s", r)
	}
	for _, want := range []string{
		"==> Push service emulator at http://127.0.0.1:",
		"batch set lily,mei   tags 女,年轻,北京",
		"read back the tags of 7 users",
		"recipients  123, 456\n",        // userid wins over tags
		"recipients  fang, lily, mei\n", // 女 AND 年轻, 北京 OR 上海
		`ios         "标题" / "override alert"`,
		"2 of 2 used this hour, 2 of 3 today",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	uids := demoUID.FindAllStringSubmatch(r.stdout, -1)
	if len(uids) != 2 || uids[0][1] == uids[1][1] {
		t.Fatalf("want two distinct messageUIDs, got %q in:\n%s", uids, r.stdout)
	}
	for _, m := range uids {
		if !strings.Contains(r.stdout, "push id     "+m[1]+"\n") {
			t.Errorf("push id does not equal messageUID %s", m[1])
		}
	}
	if strings.Contains(r.stdout, "secret") || r.stderr != "" {
		t.Errorf("unexpected output; stderr: %q", r.stderr)
	}
}

func TestDemoJSON(t *testing.T) {
	t.Parallel()
	r := runTagcast(t, cliEnv{}, "demo", "--output", "json", "--duration", "30s")
	if r.code != 0 {
		t.Fatalf("demo: %s", r)
	}
	var rep demoReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("demo --output json is not one JSON report: %v\n%s", err, r.stdout)
	}
	var got [][]string
	for _, p := range rep.Pushes {
		got = append(got, p.Recipients)
		if p.ID != p.MessageUID || p.ID == "" {
			t.Errorf("push %q: id %q messageUID %q", p.Name, p.ID, p.MessageUID)
		}
	}
	if diff := cmp.Diff([][]string{{"123", "456"}, {"fang", "lily", "mei"}}, got); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"女", "年轻", "北京"}, rep.Tags["lily"]); diff != "" {
		t.Errorf("tags read back (-want +got):\n%s", diff)
	}
	if rep.Quota.UsedHour != 2 {
		t.Errorf("quota = %+v", rep.Quota)
	}
}

func TestDemoRejectsNegativeDuration(t *testing.T) {
	t.Parallel()
	r := runTagcast(t, cliEnv{}, "demo", "--duration", "-1s")
	if r.code != 2 || !strings.Contains(r.stderr, "--duration: must not be negative") {
		t.Fatalf("%s", r)
	}
}
