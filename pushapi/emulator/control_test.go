package emulator

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/pushapi"
)

func TestControlAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	ctx := context.Background()
	c := b.client(t, testKey, testSecret)

	// Add users with a package name, then push by package name.
	var users struct{ Users []User }
	if st := b.control(t, http.MethodPost, "apps/"+testKey+"/users",
		`[{"id":"amy","tags":["vip"],"package_name":"com.shop"},{"id":"bob","tags":["vip"]}]`, &users); st != 200 || len(users.Users) != 2 {
		t.Fatalf("POST users: %d %+v", st, users)
	}
	req := tagPush()
	req.Audience = pushapi.Audience{Tag: []string{"vip"}, PackageName: "com.shop"}
	res, err := c.Push(ctx, req)
	if err != nil {
		t.Fatal(err)
	}

	var pushes struct{ Pushes []Push }
	if st := b.control(t, http.MethodGet, "pushes?app="+testKey, "", &pushes); st != 200 {
		t.Fatalf("GET pushes: %d", st)
	}
	if len(pushes.Pushes) != 1 || pushes.Pushes[0].MessageUID != res.MessageUID || !cmp.Equal(pushes.Pushes[0].Recipients, []string{"amy"}) {
		t.Fatalf("pushes = %+v", pushes.Pushes)
	}
	if st := b.control(t, http.MethodGet, "pushes?app=other", "", &pushes); st != 200 || len(pushes.Pushes) != 0 {
		t.Fatalf("pushes of another app: %+v", pushes.Pushes)
	}

	// App state: quota and counters, never the secret.
	raw := b.rawControl(t, http.MethodGet, "apps")
	if strings.Contains(raw, testSecret) {
		t.Fatalf("GET apps leaks the secret: %s", raw)
	}
	var app AppState
	if st := b.control(t, http.MethodGet, "apps/"+testKey, "", &app); st != 200 {
		t.Fatalf("GET app: %d", st)
	}
	if app.Quota.UsedHour != 1 || app.Quota.Hourly != 2 || app.Counters.Accepted != 1 || app.Users != 2 {
		t.Fatalf("app = %+v", app)
	}

	// Raise the quota and disable push at run time.
	if st := b.control(t, http.MethodPatch, "apps/"+testKey, `{"quota":{"hourly":10,"daily":20,"hour_window":"clock"},"push_disabled":true}`, &app); st != 200 {
		t.Fatalf("PATCH app: %d", st)
	}
	if app.Quota.Hourly != 10 || app.Quota.HourWindow != HourWindowClock || app.Quota.DayWindow != DayWindowCalendar || !app.PushDisabled {
		t.Fatalf("after PATCH: %+v", app)
	}
	_, err = c.Push(ctx, tagPush())
	if e := apiError(t, err); e.HTTPStatus != 430 {
		t.Fatalf("disabled at run time: %v", err)
	}
	b.control(t, http.MethodPatch, "apps/"+testKey, `{"push_disabled":false}`, &app)

	// Faults at run time: per app, then removed.
	if st := b.control(t, http.MethodPut, "apps/"+testKey+"/faults", `{"error_504":1}`, &app); st != 200 || app.OwnFaults == nil || app.Faults.Error504 != 1 {
		t.Fatalf("PUT app faults: %d %+v", st, app)
	}
	if _, err := c.Push(ctx, tagPush()); apiError(t, err).Code != pushapi.CodeServiceTimeout {
		t.Fatalf("with run-time fault: %v", err)
	}
	if st := b.control(t, http.MethodDelete, "apps/"+testKey+"/faults", "", &app); st != 200 || app.OwnFaults != nil {
		t.Fatalf("DELETE app faults: %d %+v", st, app)
	}
	var global Faults
	if st := b.control(t, http.MethodPut, "faults", `{"latency":"1ms","error_500":0.25}`, &global); st != 200 || global.Error500 != 0.25 || global.Latency != Duration(time.Millisecond) {
		t.Fatalf("PUT faults: %d %+v", st, global)
	}
	b.control(t, http.MethodPut, "faults", `{}`, &global)

	// Clock: set, advance, read.
	var clk ClockState
	if st := b.control(t, http.MethodPost, "clock", `{"now":"2026-05-01T08:00:00+08:00"}`, &clk); st != 200 || !clk.Frozen || !clk.Now.Equal(at(shanghai, "2026-05-01 08:00:00")) {
		t.Fatalf("set clock: %d %+v", st, clk)
	}
	if st := b.control(t, http.MethodPost, "clock", `{"advance":"90m"}`, &clk); st != 200 || !clk.Now.Equal(at(shanghai, "2026-05-01 09:30:00")) {
		t.Fatalf("advance clock: %d %+v", st, clk)
	}
	if !b.em.Now().Equal(clk.Now) {
		t.Fatalf("Now() = %s, control says %s", b.em.Now(), clk.Now)
	}

	// Reset forgets pushes, counters, quota and users, keeps the config.
	if st := b.control(t, http.MethodPost, "reset", "", nil); st != 200 {
		t.Fatalf("reset: %d", st)
	}
	b.control(t, http.MethodGet, "apps/"+testKey, "", &app)
	if app.Counters != (Counters{}) || app.Quota.UsedDay != 0 || app.Users != 0 || app.Quota.Hourly != 10 {
		t.Fatalf("after reset: %+v", app)
	}
	if len(b.em.Pushes()) != 0 {
		t.Fatal("pushes survived reset")
	}
	// Message ids stay unique across a reset.
	res2, err := c.Push(ctx, tagPush())
	if err != nil {
		t.Fatal(err)
	}
	if res2.MessageUID == res.MessageUID {
		t.Fatal("messageUID reused after reset")
	}
}

func TestControlAPIErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tests := []struct {
		method, path, body string
		status             int
		inError            string
	}{
		{http.MethodGet, "apps/nobody", "", 404, "unknown app key"},
		{http.MethodPatch, "apps/nobody", `{}`, 404, "unknown app key"},
		{http.MethodPatch, "apps/" + testKey, `{"quota":{"hour_window":"daily"}}`, 400, "quota.hour_window: must be rolling or clock"},
		{http.MethodPatch, "apps/" + testKey, `{"quota":{"timezone":"Mars/Olympus"}}`, 400, "quota.timezone"},
		{http.MethodPatch, "apps/" + testKey, `{"quotas":{}}`, 400, `unknown field "quotas"`},
		{http.MethodPut, "faults", `{"error_500":2}`, 400, "faults.error_500"},
		{http.MethodPost, "clock", `{}`, 400, "set now"},
		{http.MethodPost, "clock", `{"advance":"soon"}`, 400, "duration"},
		{http.MethodPost, "apps", `{"app_key":"k2"}`, 400, "app_secret: required"},
		{http.MethodPost, "apps/" + testKey + "/users", `[{"tags":["a"]}]`, 400, "users[0].id: required"},
		{http.MethodGet, "nothing", "", 404, "no control endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var out struct{ Error string }
			if st := b.control(t, tt.method, tt.path, tt.body, &out); st != tt.status || !strings.Contains(out.Error, tt.inError) {
				t.Fatalf("got %d %q, want %d containing %q", st, out.Error, tt.status, tt.inError)
			}
		})
	}
}

func TestControlAddApp(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	var app AppState
	if st := b.control(t, http.MethodPost, "apps", `{"app_key":"k2","app_secret":"s2","quota":{"hourly":5}}`, &app); st != 200 || app.AppKey != "k2" || app.Quota.Hourly != 5 {
		t.Fatalf("POST apps: %d %+v", st, app)
	}
	if _, err := b.client(t, "k2", "s2").Push(context.Background(), tagPush()); err != nil {
		t.Fatalf("push with the new app: %v", err)
	}
	var index struct{ Endpoints []string }
	if st := b.control(t, http.MethodGet, "", "", &index); st != 200 || len(index.Endpoints) == 0 {
		t.Fatalf("index: %d %+v", st, index)
	}
}

func (b *bundle) rawControl(t testing.TB, method, path string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, b.srv.URL+ControlPrefix+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestMessageUIDUnique(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool, 200000)
	for seq := range uint64(200000) {
		id := messageUID(seq, 0xdeadbeef)
		if !uidFormat.MatchString(id) {
			t.Fatalf("seq %d: %q is not XXXX-XXXX-XXXX-XXXX", seq, id)
		}
		if seen[id] {
			t.Fatalf("seq %d: %q repeated", seq, id)
		}
		seen[id] = true
	}
}

func TestConfigJSONRoundTrip(t *testing.T) {
	t.Parallel()
	in := `{"apps":[{"app_key":"k","app_secret":"s","push_disabled":true,"quota":{"hourly":3,"daily":4,"hour_window":"clock","day_window":"rolling","timezone":"UTC"},
	"faults":{"latency":"10ms","stall_sent":0.5,"stall_for":"1s"},"users":[{"id":"u","tags":["t"]}]}],"freshness":"1m","seed":9}`
	var cfg Config
	if err := json.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Apps: []AppConfig{{AppKey: "k", Secret: "s", PushDisabled: true,
			Quota:  Quota{Hourly: 3, Daily: 4, HourWindow: "clock", DayWindow: "rolling", Timezone: "UTC"},
			Faults: &Faults{Latency: Duration(10 * time.Millisecond), StallSent: 0.5, StallFor: Duration(time.Second)},
			Users:  []User{{ID: "u", Tags: []string{"t"}}}}},
		Freshness: Duration(time.Minute), Seed: 9,
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	em, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if u := em.Users("k"); len(u) != 1 || u[0].ID != "u" {
		t.Errorf("seeded users = %+v", u)
	}
}

func TestConfigValidateNamesFields(t *testing.T) {
	t.Parallel()
	cfg := Config{Apps: []AppConfig{
		{AppKey: "a", Secret: "s", Quota: Quota{DayWindow: "weekly", Hourly: -1}},
		{AppKey: "a", Secret: "s"},
		{Secret: "s"},
	}, MaxPushes: -1}
	err := cfg.Validate()
	for _, want := range []string{
		`apps[0].quota.day_window: must be calendar or rolling, got "weekly"`,
		"apps[0].quota.hourly: must be positive",
		"apps[1].app_key: duplicate of apps[0]",
		"apps[2].app_key: required",
		"max_pushes: must not be negative",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to contain %q", err, want)
		}
	}
}
