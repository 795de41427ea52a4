package campaign

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/pushapi"
)

// clockNow is the injected creation time of every test.
var clockNow = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

var testOpts = ValidateOptions{Now: clockNow, Apps: []string{"main", "other"}}

const designYAML = `
name: winter-sale
app: main
schedule:
  at: 2026-12-01T09:00:00+08:00
  timezone: Asia/Shanghai
  missed: once
  deliver_within: 2h
vars: {product: Winter coat}
push:
  platform: [ios, android]
  fromuserid: system
  audience: {tag: [女, 年轻], is_to_all: false}
  message: {objectName: "RC:TxtMsg", content: '{"content":"{{.Vars.product}}: 30% off"}'}
  notification: {title: Sale, alert: '{{.Vars.product}}: 30% off until {{.FireTime.Format "15:04"}}'}
`

func TestParseFileDesignExample(t *testing.T) {
	t.Parallel()
	got, err := ParseFile([]byte(designYAML), testOpts)
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	at := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	want := Campaign{
		App:  "main",
		Name: "winter-sale",
		Push: pushapi.Request{
			Platform:     []string{"ios", "android"},
			FromUserID:   "system",
			Audience:     pushapi.Audience{Tag: []string{"女", "年轻"}},
			Message:      &pushapi.Message{ObjectName: "RC:TxtMsg", Content: `{"content":"{{.Vars.product}}: 30% off"}`},
			Notification: &pushapi.Notification{Title: "Sale", Alert: `{{.Vars.product}}: 30% off until {{.FireTime.Format "15:04"}}`},
		},
		Schedule:  Schedule{At: &at, Timezone: "Asia/Shanghai", Missed: MissedOnce, DeliverWithin: 2 * time.Hour},
		Vars:      map[string]any{"product": "Winter coat"},
		Status:    CampaignActive,
		NextRunAt: &at,
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("ParseFile (-want +got):\n%s", diff)
	}

	body, err := Render(got, *got.NextRunAt)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if got, want := body.Notification.Alert, "Winter coat: 30% off until 09:00"; got != want {
		t.Errorf("rendered alert = %q, want %q (fire time in the schedule's zone)", got, want)
	}
	if got, want := body.Message.Content, `{"content":"Winter coat: 30% off"}`; got != want {
		t.Errorf("rendered content = %q, want %q", got, want)
	}
	if got.Push.Notification.Alert == body.Notification.Alert {
		t.Error("Render changed the campaign's template in place")
	}
}

func TestParseFileJSONAndCron(t *testing.T) {
	t.Parallel()
	src := `{"name":"daily","app":"other","schedule":{"cron":"CRON_TZ=Asia/Shanghai 0 9 * * MON-FRI","missed":"skip"},
	  "push":{"platform":["android"],"fromuserid":"sys","message":{"objectName":"AppNote","content":"hi"},"audience":{"is_to_all":true},
	  "notification":{"alert":"Good morning, it is {{.FireTime.Weekday}} in {{.Campaign.Name}}"}}}`
	c, err := ParseFile([]byte(src), testOpts)
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	// 2026-11-20 is a Friday; 08:00 UTC is 16:00 in Shanghai, so the next
	// fire is Monday 2026-11-23 09:00 +08:00.
	want := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	if c.NextRunAt == nil || !c.NextRunAt.Equal(want) {
		t.Fatalf("NextRunAt = %v, want %v", c.NextRunAt, want)
	}
	body, err := Render(c, want)
	if err != nil {
		t.Fatal(err)
	}
	if got := body.Notification.Alert; got != "Good morning, it is Monday in daily" {
		t.Errorf("alert = %q", got)
	}
}

func TestParseFileReportsEveryProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string // "path: rule substring", in order
	}{
		{
			name: "many problems at once",
			src: `
name: ""
app: ghost
colour: red
schedule:
  at: 2026-01-01T00:00:00Z
  cron: "0 9 * * *"
  timezone: Mars/Olympus
  missed: twice
  deliver_within: soon
vars: {product: coat}
push:
  platform: [ios]
  fromuserid: system
  message: {objectName: AppNote, content: hi}
  audince: {tag: [a]}
  audience: {tag: [a]}
  notification: {alert: '{{.Vars.price}} off', title: '{{.Vars.product'}
`,
			want: []string{
				"schedule.deliver_within: must be a duration",
				"name: required",
				`app: "ghost" is not a configured app`,
				"schedule.missed: must be skip or once",
				"schedule: exactly one of at, cron or now is required, got 2",
				`schedule.timezone: unknown time zone "Mars/Olympus"`,
				"push.notification.title: ",
				`push.notification.alert: template: `,
				"colour: unknown key",
				"push.audince: unknown key",
			},
		},
		{
			name: "at in the past",
			src:  "name: n\napp: main\nschedule: {at: '2026-11-20T07:59:59Z'}\npush: {platform: [ios], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: hi}}",
			want: []string{"schedule.at: 2026-11-20T07:59:59Z is in the past"},
		},
		{
			name: "cron that never fires",
			src:  "name: n\napp: main\nschedule: {cron: '0 0 30 2 *'}\npush: {platform: [ios], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: hi}}",
			want: []string{`schedule.cron: "0 0 30 2 *" has no fire time within 5 years`},
		},
		{
			name: "malformed cron",
			src:  "name: n\napp: main\nschedule: {cron: '61 * * * *'}\npush: {platform: [ios], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: hi}}",
			want: []string{`schedule.cron: invalid cron spec "61 * * * *"`},
		},
		{
			name: "unknown CRON_TZ",
			src:  "name: n\napp: main\nschedule: {cron: 'CRON_TZ=Nowhere/Town 0 9 * * *'}\npush: {platform: [ios], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: hi}}",
			want: []string{`schedule.cron: unknown time zone "Nowhere/Town" in the spec`},
		},
		{
			name: "Local time zone",
			src:  "name: n\napp: main\nschedule: {cron: '0 9 * * *', timezone: Local}\npush: {platform: [ios], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: hi}}",
			want: []string{`schedule.timezone: time zone "Local" is each host's own setting: name an IANA zone`},
		},
		{
			name: "Local CRON_TZ",
			src:  "name: n\napp: main\nschedule: {cron: 'CRON_TZ=Local 0 9 * * *'}\npush: {platform: [ios], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: hi}}",
			want: []string{`schedule.cron: time zone "Local" is each host's own setting: name an IANA zone such as Asia/Shanghai or UTC in the spec`},
		},
		{
			name: "no schedule kind, wrong types",
			src:  "name: n\napp: main\nschedule: {}\npush: {platform: ios, fromuserid: 7, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}}",
			want: []string{"push.fromuserid: must be a string, got a number", "push.platform: must be a list, got a string"},
		},
		{
			name: "body rules from pushapi, with push. prefix",
			src:  "name: n\napp: main\nschedule: {now: true}\npush: {platform: [windows], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: hi}}",
			want: []string{"push.platform"},
		},
		{
			name: "start and end on a one-off",
			src:  "name: n\napp: main\nschedule: {now: true, start: '2027-01-01T00:00:00Z'}\npush: {platform: [ios], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: hi}}",
			want: []string{"schedule: start and end apply to cron schedules only"},
		},
		{
			name: "cron ends before its first fire",
			src:  "name: n\napp: main\nschedule: {cron: '0 9 1 1 *', end: '2026-12-31T00:00:00Z'}\npush: {platform: [ios], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: hi}}",
			want: []string{"schedule.end: the cron has no fire time before the end"},
		},
		{
			name: "not a mapping",
			src:  "- a\n- b\n",
			want: []string{"a campaign file is a mapping"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseFile([]byte(tt.src), testOpts)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			got := make([]string, len(verr.Problems))
			for i, p := range verr.Problems {
				got[i] = p.String()
			}
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					if strings.HasPrefix(g, w) || (strings.HasSuffix(w, ": ") && strings.HasPrefix(g, w)) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing problem %q in:\n  %s", w, strings.Join(got, "\n  "))
				}
			}
			if strings.Contains(tt.name, "many") && len(got) < len(tt.want) {
				t.Errorf("got %d problems, want at least %d", len(got), len(tt.want))
			}
		})
	}
}

func TestParseFileUnknownVariable(t *testing.T) {
	t.Parallel()
	src := "name: n\napp: main\nschedule: {now: true}\nvars: {a: 1}\npush: {platform: [ios], fromuserid: s, audience: {is_to_all: true}, message: {objectName: 'RC:TxtMsg', content: '{\"content\":\"{{.Vars.b}}\"}'}, notification: {alert: '{{.Campaign.Nope}}'}}"
	_, err := ParseFile([]byte(src), testOpts)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v", err)
	}
	paths := map[string]bool{}
	for _, p := range verr.Problems {
		paths[p.Path] = true
	}
	for _, p := range []string{"push.message.content", "push.notification.alert"} {
		if !paths[p] {
			t.Errorf("no problem at %s; got %v", p, verr)
		}
	}
	if !strings.Contains(verr.Error(), `map has no entry for key "b"`) {
		t.Errorf("error does not name the unknown variable: %v", verr)
	}
}

func TestSplit(t *testing.T) {
	t.Parallel()
	ids := make([]string, 2500)
	for i := range ids {
		ids[i] = fmt.Sprintf("u%d", i)
	}
	chunks := Split(pushapi.Request{Audience: pushapi.Audience{UserID: ids}})
	var sizes []int
	for _, c := range chunks {
		sizes = append(sizes, len(c.Audience.UserID))
	}
	if diff := cmp.Diff([]int{1000, 1000, 500}, sizes); diff != "" {
		t.Errorf("chunk sizes (-want +got):\n%s", diff)
	}
	if got := len(Split(pushapi.Request{Audience: pushapi.Audience{Tag: []string{"a"}}})); got != 1 {
		t.Errorf("tag audience: %d sends, want 1", got)
	}
	if got := len(Split(pushapi.Request{Audience: pushapi.Audience{UserID: []string{"a"}, IsToAll: true}})); got != 1 {
		t.Errorf("all-users audience: %d sends, want 1", got)
	}
}

func TestParseFileSplitsBigUserIDAudienceWithoutComplaint(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("name: n\napp: main\nschedule: {now: true}\npush: {platform: [ios], fromuserid: s, message: {objectName: AppNote, content: hi}, notification: {alert: hi}, audience: {userid: [")
	for i := range 1500 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("u")
		b.WriteString(strings.Repeat("1", 1+i%5))
	}
	b.WriteString("]}}")
	c, err := ParseFile([]byte(b.String()), testOpts)
	if err != nil {
		t.Fatalf("a 1500-id audience is split into sends, not rejected: %v", err)
	}
	if !c.NextRunAt.Equal(clockNow) {
		t.Errorf("now schedule: NextRunAt = %v, want %v", c.NextRunAt, clockNow)
	}
}

func TestSimplePlan(t *testing.T) {
	t.Parallel()
	hourly := func(missed MissedPolicy, next time.Time) Campaign {
		return Campaign{Schedule: Schedule{Cron: "0 * * * *", Missed: missed}, NextRunAt: &next}
	}
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	ptr := func(t time.Time) *time.Time { return &t }
	tests := []struct {
		name string
		c    Campaign
		now  time.Time
		want FirePlan
	}{
		{"on time", hourly(MissedSkip, t0), t0.Add(300 * time.Millisecond), FirePlan{Fire: true, ScheduledFor: t0, Next: ptr(t0.Add(time.Hour))}},
		{"missed, skip", hourly(MissedSkip, t0), t0.Add(5*time.Hour + 30*time.Minute), FirePlan{ScheduledFor: t0.Add(5 * time.Hour), Next: ptr(t0.Add(6 * time.Hour))}},
		{"missed, once fires the latest only", hourly(MissedOnce, t0), t0.Add(5*time.Hour + 30*time.Minute), FirePlan{Fire: true, ScheduledFor: t0.Add(5 * time.Hour), Next: ptr(t0.Add(6 * time.Hour))}},
		{"one-off exhausted", Campaign{Schedule: Schedule{At: &t0}, NextRunAt: &t0}, t0, FirePlan{Fire: true, ScheduledFor: t0}},
		// The next fire, a minute away, stands for the missed one: not
		// the same announcement twice a minute apart.
		{"missed, once, the next fire within grace", hourly(MissedOnce, t0), t0.Add(5*time.Hour + 59*time.Minute), FirePlan{ScheduledFor: t0.Add(5 * time.Hour), Next: ptr(t0.Add(6 * time.Hour))}},
		{"missed, once, the next fire just past grace", hourly(MissedOnce, t0), t0.Add(5*time.Hour + 58*time.Minute + 59*time.Second), FirePlan{Fire: true, ScheduledFor: t0.Add(5 * time.Hour), Next: ptr(t0.Add(6 * time.Hour))}},
	}
	for _, tt := range tests {
		got, err := SimplePlan(time.Minute)(tt.c, tt.now)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestParseFileFirstFireFollowsTheDSTRules: validation computes next_run_at
// with Schedule.FirstFire, so a cron created just before a daylight saving
// change fires on the change day, once.
func TestParseFileFirstFireFollowsTheDSTRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, schedule string
		now, want      time.Time
	}{
		{
			name:     "spring forward: the skipped 02:30 fires at the jump, not the next day",
			schedule: "{cron: '30 2 * * *', timezone: America/New_York}",
			now:      time.Date(2026, 3, 7, 17, 0, 0, 0, time.UTC),
			want:     time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC),
		},
		{
			name:     "fall back, created between the two 01:30s: the next day",
			schedule: "{cron: 'CRON_TZ=America/New_York 30 1 * * *'}",
			now:      time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC), // 01:00 EST, after 01:30 EDT
			want:     time.Date(2026, 11, 2, 6, 30, 0, 0, time.UTC),
		},
		{
			name:     "Berlin spring forward, CRON_TZ= and timezone agreeing",
			schedule: "{cron: 'CRON_TZ=Europe/Berlin 30 2 * * *', timezone: Europe/Berlin}",
			now:      time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC),
			want:     time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := ValidateOptions{Now: tt.now, Apps: []string{"main"}}
			src := "name: n\napp: main\nschedule: " + tt.schedule +
				"\npush: {platform: [ios], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: hi}}"
			c, err := ParseFile([]byte(src), opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.NextRunAt == nil || !c.NextRunAt.Equal(tt.want) {
				t.Errorf("NextRunAt = %v, want %v", c.NextRunAt, tt.want)
			}
		})
	}
}

// An integer in extras beyond 2^53 (an order id) survives the file, the
// rendering and the JSON the store keeps, digit for digit.
func TestParseFileKeepsExtrasIntegersExact(t *testing.T) {
	t.Parallel()
	const id = "1234567890123456789" // as a float64: 1234567890123456800
	src := `
name: order-ready
app: main
schedule: {at: 2026-12-01T09:00:00+08:00}
push:
  platform: [android]
  fromuserid: system
  audience: {userid: [u1], is_to_all: false}
  message: {objectName: "RC:TxtMsg", content: '{"content":"ready"}'}
  notification: {alert: ready, android: {extras: {orderId: ` + id + `}}}
`
	c, err := ParseFile([]byte(src), testOpts)
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	r, err := Render(c, *c.NextRunAt)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	stored, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var reloaded pushapi.Request // as the store reads a send's body back
	if err := json.Unmarshal(stored, &reloaded); err != nil {
		t.Fatal(err)
	}
	sent, err := json.Marshal(reloaded)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"extras":{"orderId":` + id + `}`; !strings.Contains(string(sent), want) {
		t.Errorf("the push body lost extras.orderId's digits:\n got %s\nwant %s", sent, want)
	}
}

// A JSON campaign file is read as JSON: YAML's parser refuses the
// surrogate-pair escapes ("\ud83d\ude00") many tools write for an emoji.
func TestParseFileJSONWithSurrogateEscapes(t *testing.T) {
	t.Parallel()
	file := `{"name": "sale", "app": "main", "schedule": {"now": true},
	  "push": {"platform": ["ios"], "fromuserid": "system", "audience": {"is_to_all": true},
	           "message": {"objectName": "RC:TxtMsg", "content": "{\"content\":\"hi\"}"},
	           "notification": {"alert": "sale \ud83d\ude00"}}}`
	c, err := ParseFile([]byte(file), testOpts)
	if err != nil {
		t.Fatalf("valid JSON campaign refused: %v", err)
	}
	if got := c.Push.Notification.Alert; got != "sale \U0001F600" {
		t.Errorf("alert = %q, want %q", got, "sale \U0001F600")
	}
}

// YAML reads "2031-12-01 09:00:00" as a UTC timestamp; a campaign file
// keeps it as text, so it meets the RFC 3339 rule and is refused for its
// missing zone, rather than firing eight hours off in Asia/Shanghai.
func TestParseFileYAMLTimestampsMustBeRFC3339(t *testing.T) {
	t.Parallel()
	for _, at := range []string{"2031-12-01 09:00:00", "2031-12-01", "!!timestamp 2031-12-01"} {
		file := "name: x\napp: main\nschedule:\n  at: " + at + "\n  timezone: Asia/Shanghai\n" +
			"push:\n  platform: [ios]\n  fromuserid: system\n  audience: {is_to_all: true}\n" +
			"  message: {objectName: \"RC:TxtMsg\", content: '{\"content\":\"hi\"}'}\n  notification: {alert: hi}\n"
		c, err := ParseFile([]byte(file), testOpts)
		if err == nil {
			t.Errorf("at: %s accepted as %s; want a schedule.at RFC 3339 problem", at, c.NextRunAt)
			continue
		}
		if !strings.Contains(err.Error(), "schedule.at") {
			t.Errorf("at: %s: error does not name schedule.at: %v", at, err)
		}
	}
}

// JSON campaign files are read as JSON, but as strictly as YAML read them: a
// key given twice is refused with its path (encoding/json would keep the
// last in silence: here the push would go to every user instead of "vip"),
// and bytes that are not UTF-8 are refused rather than replaced.
func TestParseFileJSONDuplicateKeysAndBadUTF8(t *testing.T) {
	t.Parallel()
	dup := `{"name":"n","app":"main","schedule":{"now":true},
	  "push":{"platform":["ios"],"fromuserid":"s","message":{"objectName":"AppNote","content":"hi"},
	  "audience":{"tag":["vip"],"is_to_all":false},"notification":{"alert":"hi"},
	  "audience":{"is_to_all":true}}}`
	if _, err := ParseFile([]byte(dup), testOpts); err == nil || !strings.Contains(err.Error(), "key push.audience is given twice") {
		t.Errorf("duplicate push.audience: %v, want it refused naming the key", err)
	}
	nested := `{"name":"n","app":"main","schedule":{"now":true},"vars":{"list":[{"a":1,"a":2}]},
	  "push":{"platform":["ios"],"fromuserid":"s","message":{"objectName":"AppNote","content":"hi"},
	  "audience":{"is_to_all":true},"notification":{"alert":"hi"}}}`
	if _, err := ParseFile([]byte(nested), testOpts); err == nil || !strings.Contains(err.Error(), "key vars.list[0].a is given twice") {
		t.Errorf("duplicate vars.list[0].a: %v, want it refused naming the key", err)
	}
	badUTF8 := strings.Replace(nested, `{"a":1,"a":2}`, "\"\xff\"", 1) // a raw 0xff byte in a string
	if _, err := ParseFile([]byte(badUTF8), testOpts); err == nil {
		t.Error("a JSON file with bytes that are not UTF-8 was accepted")
	}
}
