package emulator

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Found by FuzzControl (seeds at the edge of the years RFC 3339 can write).
// The inspection API writes instants with encoding/json, which cannot write
// a year past 9999. POST /_emulator/clock used to accept an instant near the
// end of 9999 (200), after which GET /_emulator/apps and apps/{key} answered
// 500 "encoding the answer failed" (the quota view's Asia/Shanghai day ends
// in 10000); moved past it, the POST itself answered 500 after having moved
// the clock. Now and the clock after advance must be in years 1 to 9998: a
// change outside is refused with a 400 naming the field and the rule, and
// leaves the clock as it was.
func TestControlClockNearYear10000(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, field string }{
		{`{"now":"9999-12-31T20:00:00Z"}`, "now"},
		{`{"now":"9999-12-31T23:00:00Z","advance":"2h"}`, "now"},
		{`{"now":"9998-12-31T23:00:00Z","advance":"2h"}`, "advance"},
		{`{"now":"9998-12-31T20:00:00-08:00","run":true}`, "now"}, // 9999 in UTC
		{`{"now":"0000-12-31T23:00:00Z"}`, "now"},
		{`{"now":"0001-01-01T00:30:00Z","advance":"-1h"}`, "advance"},
	} {
		t.Run(tc.body, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{})
			var out struct {
				Error string `json:"error"`
			}
			status := b.control(t, http.MethodPost, "clock", tc.body, &out)
			switch {
			case status >= 500:
				t.Errorf("POST clock %s: HTTP %d, and the clock moved to %s", tc.body, status, b.em.Now())
			case status >= 400:
				if !b.em.Now().Equal(t0) || !strings.HasPrefix(out.Error, tc.field+":") || !strings.Contains(out.Error, "years 1 to 9998") {
					t.Errorf("POST clock %s refused: %d %q, clock %s; want %s and the rule named and the clock at %s", tc.body, status, out.Error, b.em.Now(), tc.field, t0)
				}
				return
			default:
				t.Errorf("POST clock %s: HTTP %d, clock at %s; want a 400 naming %s", tc.body, status, b.em.Now(), tc.field)
			}
			for _, path := range []string{"apps", "apps/" + testKey, "clock"} {
				if raw := b.rawControl(t, http.MethodGet, path); !strings.HasPrefix(raw, "{") || strings.Contains(raw, "encoding the answer failed") {
					t.Errorf("after POST clock %s: GET %s answered %s", tc.body, path, raw)
				}
			}
		})
	}
	// The edges of the range are accepted, and every GET can show them.
	for _, tc := range []struct {
		body string
		want time.Time
	}{
		{`{"now":"9998-12-31T23:59:59Z"}`, time.Date(9998, 12, 31, 23, 59, 59, 0, time.UTC)},
		{`{"now":"0001-01-01T00:00:00Z","run":true}`, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.body, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Quota: Quota{Timezone: "Pacific/Kiritimati"}},
				{AppKey: "k2", Secret: "s2", Quota: Quota{Timezone: "Etc/GMT+12", DayWindow: DayWindowRolling}}}},
				WithClock(func() time.Time { return t0 }))
			var clk ClockState
			if status := b.control(t, http.MethodPost, "clock", tc.body, &clk); status != http.StatusOK || !clk.Now.Equal(tc.want) {
				t.Errorf("POST clock %s: HTTP %d now %s; want 200 at %s", tc.body, status, clk.Now, tc.want)
			}
			for _, path := range []string{"apps", "apps/" + testKey, "apps/k2", "clock"} {
				if raw := b.rawControl(t, http.MethodGet, path); !strings.HasPrefix(raw, "{") || strings.Contains(raw, "failed") {
					t.Errorf("after POST clock %s: GET %s answered %s", tc.body, path, raw)
				}
			}
		})
	}
}

// Found by FuzzControl. With "run":true the clock used to be set through
// t.Sub(base), which saturates at about 292 years, and moved through an
// offset that Advance added to without a check, which wraps. Both answered
// 200 with a time other than the one asked for: now 1500-01-01 landed in
// 1733; now 2300-01-01 with advance 2000000h in 1943. A running clock must
// go where it is told, as a frozen one does, and keep running from there.
func TestControlRunningClockFarAway(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		want time.Time
	}{
		{`{"now":"1500-01-01T00:00:00Z","run":true}`, time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)},
		{`{"now":"2300-01-01T00:00:00Z","run":true,"advance":"2000000h"}`, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC).Add(2000000 * time.Hour)},
		{`{"now":"9000-01-01T00:00:00Z","run":true}`, time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.body, func(t *testing.T) {
			t.Parallel()
			var elapsed atomic.Int64 // of the base clock, in ns
			base := func() time.Time {
				return time.Date(2026, 3, 10, 2, 20, 0, 0, time.UTC).Add(time.Duration(elapsed.Load()))
			}
			em, err := New(Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret}}}, WithClock(base))
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(em)
			t.Cleanup(srv.Close)
			b := &bundle{em: em, srv: srv}
			var clk struct {
				ClockState
				Error string `json:"error"`
			}
			status := b.control(t, http.MethodPost, "clock", tc.body, &clk)
			if status != http.StatusOK || !clk.Now.Equal(tc.want) || clk.Frozen || !em.Now().Equal(tc.want) {
				t.Fatalf("POST clock %s: HTTP %d now %s frozen %t %q (Now() %s); want 200 running at %s", tc.body, status, clk.Now, clk.Frozen, clk.Error, em.Now(), tc.want)
			}
			// Still running: the base clock moves, so does the emulator's.
			elapsed.Add(int64(90 * time.Minute))
			if got, want := em.Now(), tc.want.Add(90*time.Minute); !got.Equal(want) {
				t.Errorf("90 minutes of base clock later: Now() = %s, want %s", got, want)
			}
			// And a further advance of the running clock lands exactly.
			if status := b.control(t, http.MethodPost, "clock", `{"advance":"-2000000h"}`, &clk); status != http.StatusOK {
				t.Fatalf("POST clock advance -2000000h: HTTP %d %q", status, clk.Error)
			}
			if want := tc.want.Add(90*time.Minute - 2000000*time.Hour); !clk.Now.Equal(want) || !em.Now().Equal(want) || clk.Frozen {
				t.Errorf("after advance -2000000h: now %s (Now() %s) frozen %t, want running at %s", clk.Now, em.Now(), clk.Frozen, want)
			}
		})
	}
}

// Found by FuzzControl. AppConfig's app_secret_env and app_secret_file are
// fields of the POST /_emulator/apps body (the decoder takes them), but only
// the command line resolves them, from its config file. An operator who adds
// an app the way tagcast's own config names it, {"app_key":"k3",
// "app_secret_env":"K3_SECRET"}, used to be told "app k3.app_secret:
// required (or app_secret_env / app_secret_file)": the remedy offered was
// what the body already did, and nothing said why it did not count. The
// message must say where those fields are resolved and that the body must
// give app_secret. The other callers of the check keep messages right for
// them: the command line's config (which may name the secret), New and
// SetApp (Go callers, who resolve nothing), and a patch (which has only
// app_secret).
func TestControlAddAppSecretEnvMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	for _, tc := range []struct {
		body  string
		given string
	}{
		{`{"app_key":"k3","app_secret_env":"K3_SECRET_UNSET_IN_TESTS"}`, "app_secret_env"},
		{`{"app_key":"k3","app_secret_file":"/run/k3-secret"}`, "app_secret_file"},
	} {
		var out struct {
			Error string `json:"error"`
		}
		status := b.control(t, http.MethodPost, "apps", tc.body, &out)
		if status != http.StatusBadRequest || out.Error != "app k3.app_secret: required: "+tc.given+" is resolved only from the command line's config file (tagcast emulator --config), never from a control API body; the body must give app_secret itself" {
			t.Errorf("POST apps %s: HTTP %d %q; want a 400 that says why %s did not do", tc.body, status, out.Error, tc.given)
		}
	}
	if _, err := b.em.App("k3"); err == nil {
		t.Error("a refused POST apps added app k3")
	}

	for _, tc := range []struct {
		name string
		got  func() error
		want string
	}{
		{"POST apps without any secret", func() error {
			var out struct {
				Error string `json:"error"`
			}
			b.control(t, http.MethodPost, "apps", `{"app_key":"k4"}`, &out)
			return errorString(out.Error)
		}, "app k4.app_secret: required"},
		{"PATCH app_secret empty", func() error {
			var out struct {
				Error string `json:"error"`
			}
			b.control(t, http.MethodPatch, "apps/"+testKey, `{"app_secret":""}`, &out)
			return errorString(out.Error)
		}, "app " + testKey + ".app_secret: must not be empty (leave it out to keep the app's secret)"},
		{"the command line's config without a secret", func() error {
			return Config{Apps: []AppConfig{{AppKey: "k5"}}}.Validate()
		}, "apps[0].app_secret: required (or app_secret_env / app_secret_file)"},
		{"New with app_secret_env", func() error {
			_, err := New(Config{Apps: []AppConfig{{AppKey: "k5", SecretEnv: "K5_SECRET"}}})
			return err
		}, "emulator config: apps[0].app_secret: required: app_secret_env is resolved only by the command line from its config file (tagcast emulator --config), not by New or Config.Validate; set Secret itself"},
		{"SetApp with app_secret_file", func() error {
			return b.em.SetApp(AppConfig{AppKey: "k6", SecretFile: "/run/k6"})
		}, "app k6.app_secret: required: app_secret_file is resolved only by the command line from its config file (tagcast emulator --config), not by SetApp; set Secret itself"},
	} {
		if err := tc.got(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v\nwant %s", tc.name, err, tc.want)
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
