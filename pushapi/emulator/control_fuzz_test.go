package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tagcast/tagcast/internal/calendar"
	"github.com/tagcast/tagcast/pushapi"
)

// FuzzControl sends one arbitrary request (method, path under /_emulator/,
// body) to the control API of an emulator that already holds some state (two
// apps, one with its own faults, global faults, users, one accepted push),
// then checks, besides "no panic":
//
//   - never a 5xx, and every answer is a JSON object; every 4xx carries an
//     "error" that names what was wrong: the decoder's own explanation for a
//     body that is not the endpoint's JSON, every bad field of a refused
//     quota, faults or app, the first bad user, the unknown App Key, the
//     missing clock fields, the method and path of an unknown endpoint;
//   - the status is what the documented rules call for (a model of them
//     below): 200 for a valid body, 400 for an invalid one, 404 for an
//     unknown App Key;
//   - a refused request (any non-2xx) leaves the state exactly as it was,
//     and so does every GET;
//   - an accepted request leaves the state the body asked for, read back
//     both from the emulator's fields and through the API's own GETs (which
//     must agree with the answer of the change itself);
//   - after any request the state stays readable: GET apps, faults, clock
//     and pushes answer 200;
//   - no answer holds an App Secret or an "app_secret" key.
func FuzzControl(f *testing.F) {
	for _, s := range []struct{ method, path, body string }{
		// PATCH apps/{key}: valid, several invalid fields, unknown field,
		// wrong type, unknown key, a second document.
		{"PATCH", "apps/" + testKey, `{"push_disabled":true,"locked":false,"restricted":true,"quota":{"hourly":10,"daily":20,"hour_window":"clock","day_window":"rolling","timezone":"UTC"},"app_secret":"new-secret-123"}`},
		{"PATCH", "apps/" + testKey, `{"faults":{"latency":"5ms","error_500":0.5,"reset":0.5},"clear_faults":false}`},
		{"PATCH", "apps/k2", `{"clear_faults":true,"locked":true}`},
		{"PATCH", "apps/" + testKey, `{"quota":{"hourly":-1,"day_window":"weekly","timezone":"Mars/Olympus"},"faults":{"error_504":1.5}}`},
		{"PATCH", "apps/" + testKey, `{"quotas":{}}`},
		{"PATCH", "apps/" + testKey, `{"push_disabled":"yes"}`},
		{"PATCH", "apps/" + testKey, `{"app_secret":""}`},
		{"PATCH", "apps/nobody", `{"locked":true}`},
		{"PATCH", "apps/" + testKey, `{"locked":true} {"locked":false}`},
		// POST apps: new app, replace an app, invalid, secret only by
		// reference (which the control API does not resolve).
		{"POST", "apps", `{"app_key":"k3","app_secret":"s3","quota":{"hourly":5},"faults":{"stall_sent":0.25,"stall_for":"1s"},"users":[{"id":"cat","tags":["vip"]}]}`},
		{"POST", "apps", `{"app_key":"k2","app_secret":"s2b","restricted":true}`},
		{"POST", "apps", `{"app_key":"","quota":{"daily":-3},"users":[{"tags":["a"]}]}`},
		{"POST", "apps", `{"app_key":"k3","app_secret_env":"K3_SECRET"}`},
		// Users: valid, no id, too many tags, unknown key, not a list.
		{"POST", "apps/" + testKey + "/users", `[{"id":"dan","tags":["vip","北京"],"package_name":"com.shop"},{"id":"amy","tags":[]}]`},
		{"POST", "apps/" + testKey + "/users", `[{"id":"eve","tags":["x"]},{"tags":["y"]}]`},
		{"POST", "apps/" + testKey + "/users", `[{"id":"fay","tags":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17","18","19","20","21"]}]`},
		{"POST", "apps/nobody/users", `[{"id":"gus"}]`},
		{"POST", "apps/" + testKey + "/users", `{"id":"hal"}`},
		// Faults: global and per app, valid and not, and their removal.
		{"PUT", "faults", `{"latency":"1ms","error_500":0.25,"stall_dropped":0.25,"tag_apis":true}`},
		{"PUT", "faults", `{"error_500":0.6,"error_504":0.6}`},
		{"PUT", "faults", `{"latency":"-1s","stall_for":"soon"}`},
		{"PUT", "apps/k2/faults", `{"reset":1}`},
		{"PUT", "apps/k2/faults", `{"stall_for":"-2s","error_500":-0.1}`},
		{"PUT", "apps/nobody/faults", `{}`},
		{"DELETE", "apps/" + testKey + "/faults", ``},
		// Clock: set and freeze, set and run, advance, both, neither, bad
		// values, and the edges of the years the API can show.
		{"POST", "clock", `{"now":"2026-05-01T08:00:00+08:00"}`},
		{"POST", "clock", `{"now":"2026-05-01T08:00:00Z","run":true,"advance":"90m"}`},
		{"POST", "clock", `{"advance":"-26h"}`},
		{"POST", "clock", `{"run":true}`},
		{"POST", "clock", `{"now":"yesterday"}`},
		{"POST", "clock", `{"now":"9999-12-31T20:00:00Z"}`},
		{"POST", "clock", `{"now":"9999-12-31T23:00:00Z","advance":"2h"}`},
		{"POST", "clock", `{"now":"1900-01-01T00:00:00Z","run":true}`},
		// Reads, reset, unknown endpoints and methods, empty bodies.
		{"POST", "reset", ``},
		{"GET", "apps", ``},
		{"GET", "apps/" + testKey, ``},
		{"GET", "apps/" + testKey + "/users", ``},
		{"GET", "pushes?app=" + testKey, ``},
		{"GET", "", ``},
		{"DELETE", "clock", ``},
		{"PATCH", "apps/" + testKey, ``},
		{"GET", "apps/nobody/users", ``},
		// Edges: a running clock set or moved far, odd keys, null bodies.
		{"POST", "clock", `{"now":"1500-01-01T00:00:00Z","run":true}`},
		{"POST", "clock", `{"now":"2300-01-01T00:00:00Z","run":true,"advance":"2000000h"}`},
		{"POST", "clock", `{"now":"2300-01-01T00:00:00Z","advance":"2000000h"}`},
		{"POST", "clock", `{"now":"9998-12-31T20:00:00-08:00","run":true}`},
		{"POST", "clock", `{"now":"0001-01-01T00:30:00Z","run":true,"advance":"-1h"}`},
		{"PATCH", "apps/k2", `{"faults":null,"clear_faults":true,"quota":{"timezone":"Local"}}`},
		{"POST", "apps", `{"app_key":"k9","app_secret":"s","users":[{"id":"a","tags":["x"]},{"id":"a"}]}`},
		{"POST", "apps/k2/users", `[{"id":" "}]`},
		{"PUT", "faults", `{"error_500":1e-10,"error_504":1}`},
		{"PUT", "apps/k2/faults", `null`},
		{"HEAD", "clock", ``},
		{"GET", "apps/a%2Fb/users", ``},
	} {
		f.Add(s.method, s.path, s.body)
	}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if len(body) > maxBodyBytes {
			return // the size limit is body_limit_test.go's business
		}
		req, err := http.NewRequest(method, "http://emulator"+ControlPrefix+path, strings.NewReader(body))
		if err != nil {
			return // not an HTTP request a client could send
		}
		em := newFuzzEmulator(t)
		before := snapshotState(em)

		rec := httptest.NewRecorder()
		em.ServeHTTP(rec, req)
		after := snapshotState(em)
		status, raw := rec.Code, rec.Body.Bytes()
		what := fmt.Sprintf("%s %s %q", method, path, body)

		if status >= 300 && status < 400 { // the mux's redirect to a clean path
			if diff := cmp.Diff(before, after, snapshotOpts); diff != "" {
				t.Fatalf("%s: redirect %d changed the state (-before +after):\n%s", what, status, diff)
			}
			return
		}
		if status >= 500 {
			t.Fatalf("%s: answered %d: %s", what, status, raw)
		}
		checkNoSecret(t, what, raw, body+path, after)
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatalf("%s: answer %d is not a JSON object: %v: %q", what, status, err, raw)
		}
		msg := ""
		if status >= 400 {
			if err := json.Unmarshal(obj["error"], &msg); err != nil || msg == "" {
				t.Fatalf("%s: answer %d without an error message: %s", what, status, raw)
			}
		}

		exp := expectFor(before, req, body)
		if !slices.Contains(exp.statuses, status) {
			t.Fatalf("%s: answered %d %s; the rules call for %v (%s)", what, status, raw, exp.statuses, exp.why)
		}
		if status >= 400 {
			for _, frag := range exp.inError {
				if !strings.Contains(msg, frag) {
					t.Fatalf("%s: answered %d %q, which does not name %q", what, status, msg, frag)
				}
			}
			if exp.checkError != nil {
				if problem := exp.checkError(msg); problem != "" {
					t.Fatalf("%s: answered %d %q: %s", what, status, msg, problem)
				}
			}
		}
		if status >= 400 || exp.apply == nil {
			if diff := cmp.Diff(before, after, snapshotOpts); diff != "" {
				t.Fatalf("%s: answered %d but changed the state (-before +after):\n%s", what, status, diff)
			}
		} else {
			opts := snapshotOpts
			if exp.clock { // the clock is compared by what it shows, not how it keeps it
				opts = append(opts, cmpopts.IgnoreFields(fuzzState{}, "At", "Since", "Set"))
			}
			if diff := cmp.Diff(exp.apply(before), after, opts); diff != "" {
				t.Fatalf("%s: answered %d %s; the state is not what the body asked for (-want +got):\n%s", what, status, raw, diff)
			}
		}
		checkReadable(t, what, em, after, status < 400, exp, raw)
	})
}

// fuzzBase is the fuzzed emulators' base clock: fixed, so a running clock
// does not move during one input.
var fuzzBase = time.Date(2026, 3, 10, 2, 20, 0, 0, time.UTC)

// fuzzSecrets are the secrets of the apps newFuzzEmulator starts with.
var fuzzSecrets = []string{testSecret, "k2-secret-Zq81x"}

// newFuzzEmulator returns an emulator with state in every part the control
// API touches: two apps (one with its own faults), global faults, users, a
// clock frozen at t0, and one accepted push.
func newFuzzEmulator(t *testing.T) *Emulator {
	t.Helper()
	cfg := Config{
		Apps: []AppConfig{
			{AppKey: testKey, Secret: fuzzSecrets[0],
				Quota:  Quota{Hourly: 4, Daily: 9, HourWindow: HourWindowClock, Timezone: "UTC"},
				Faults: &Faults{StallFor: Duration(3 * time.Second), TagAPIs: true},
				Users:  []User{{ID: "amy", Tags: []string{"女", "年轻", "北京"}, PackageName: "com.shop"}, {ID: "bob", Tags: []string{"vip"}}}},
			{AppKey: "k2", Secret: fuzzSecrets[1], PushDisabled: true, Users: []User{{ID: "bob"}}},
		},
		Faults: Faults{Error504: 0.2, Latency: Duration(time.Millisecond)},
		Seed:   7,
	}
	em, err := New(cfg, WithClock(func() time.Time { return fuzzBase }))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	em.SetNow(t0)
	b, err := json.Marshal(tagPush())
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, pushapi.PathPush, bytes.NewReader(b))
	ts := strconv.FormatInt(t0.Unix(), 10)
	req.Header.Set("App-Key", testKey)
	req.Header.Set("Nonce", "14314")
	req.Header.Set("Timestamp", ts)
	req.Header.Set("Signature", pushapi.Sign(fuzzSecrets[0], "14314", ts))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	em.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("seed push: %d %s", rec.Code, rec.Body)
	}
	return em
}

// fuzzState is everything the control API can change or must not change.
type fuzzState struct {
	Faults  Faults
	Frozen  bool
	Now     time.Time // the clock as Now shows it (compared as an instant)
	At      time.Time // the raw clock: compared when nothing may change
	Since   time.Time // idem
	Set     bool      // idem
	Apps    map[string]fuzzApp
	Pushes  []uint64 // Seq of the recorded pushes
	Seq     uint64
	ReqSeq  uint64
	Unknown Counters
}

type fuzzApp struct {
	Cfg        AppConfig
	Users      map[string]User
	Counters   Counters
	Accepted   []time.Time
	NotEnabled []time.Time
	BatchSets  []time.Time
	Quota      Quota  // the quota windows in force
	Zone       string // their time zone
}

func snapshotState(e *Emulator) fuzzState {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := fuzzState{
		Faults: e.faults, Frozen: e.clock.frozen, Now: e.clock.now(), At: e.clock.at, Since: e.clock.since, Set: e.clock.set,
		Apps: map[string]fuzzApp{}, Seq: e.seq, ReqSeq: e.reqSeq, Unknown: e.unknown,
	}
	for _, p := range e.pushes {
		s.Pushes = append(s.Pushes, p.Seq)
	}
	for k, st := range e.apps {
		a := fuzzApp{
			Cfg: copyConfig(st.cfg), Users: map[string]User{}, Counters: st.counters,
			Accepted: slices.Clone(st.accepted.at), NotEnabled: slices.Clone(st.notEnabled.at), BatchSets: slices.Clone(st.batchSets.at),
			Quota: st.windows.q,
		}
		if st.windows.loc != nil {
			a.Zone = st.windows.loc.String()
		}
		for id, u := range st.users {
			a.Users[id] = User{ID: id, Tags: slices.Clone(u.tags), PackageName: u.packageName}
		}
		s.Apps[k] = a
	}
	return s
}

func copyConfig(c AppConfig) AppConfig {
	if c.Faults != nil {
		f := *c.Faults
		c.Faults = &f
	}
	c.Users = slices.Clone(c.Users)
	return c
}

func (s fuzzState) clone() fuzzState {
	c := s
	c.Pushes = slices.Clone(s.Pushes)
	c.Apps = map[string]fuzzApp{}
	for k, a := range s.Apps {
		a.Cfg = copyConfig(a.Cfg)
		a.Users = maps.Clone(a.Users)
		c.Apps[k] = a
	}
	return c
}

var snapshotOpts = cmp.Options{
	cmpopts.EquateEmpty(),
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
}

// expectation is what the documented rules call for on one request.
type expectation struct {
	why        string
	statuses   []int
	inError    []string            // fragments a 4xx's message must hold
	checkError func(string) string // further rule on it: what is wrong, or ""
	// apply returns the state after an accepted request (nil: nothing
	// changes).
	apply func(fuzzState) fuzzState
	clock bool // apply sets Now and Frozen, not the raw clock
	// readBack checks an accepted request through the API's own GETs.
	readBack func(t *testing.T, what string, em *Emulator, answer []byte)
}

func refuse(status int, why string, frags ...string) expectation {
	return expectation{why: why, statuses: []int{status}, inError: frags}
}

// expectFor models the control API's rules for req (already routed by the
// emulator's mux: req.Pattern and req.PathValue are set) on the state s.
func expectFor(s fuzzState, req *http.Request, body string) expectation {
	key := req.PathValue("key")
	_, known := s.Apps[key]
	unknown := refuse(http.StatusNotFound, "unknown app", "unknown app key", strconv.Quote(key))
	ok := expectation{why: "a read", statuses: []int{http.StatusOK}}
	switch req.Pattern {
	case "GET " + ControlPrefix + "{$}", "GET " + ControlPrefix + "pushes", "GET " + ControlPrefix + "apps",
		"GET " + ControlPrefix + "faults", "GET " + ControlPrefix + "clock":
		return ok
	case "GET " + ControlPrefix + "apps/{key}", "GET " + ControlPrefix + "apps/{key}/users":
		if !known {
			return unknown
		}
		return ok

	case "POST " + ControlPrefix + "apps":
		var a AppConfig
		if e, bad := decodeModel(body, &a); bad {
			return e
		}
		a.Quota = quotaDefaults(a.Quota)
		probs := appProblems(a)
		if len(probs) > 0 {
			e := refuse(http.StatusBadRequest, "invalid app", probs...)
			if a.Secret == "" && (a.SecretEnv != "" || a.SecretFile != "") {
				// The control API does not resolve these. Offering them as
				// the way out ("required (or app_secret_env /
				// app_secret_file)") to a body that used one sends the
				// operator in a circle: the message must say why the one
				// given did not do.
				given := "app_secret_env"
				if a.SecretEnv == "" {
					given = "app_secret_file"
				}
				e.checkError = func(msg string) string {
					if !strings.Contains(strings.ReplaceAll(msg, "(or app_secret_env / app_secret_file)", ""), given) {
						return "the body gave " + given + " and the message only offers it as the remedy"
					}
					return ""
				}
			}
			return e
		}
		return expectation{why: "a valid app", statuses: []int{http.StatusOK},
			apply: func(s fuzzState) fuzzState {
				s = s.clone()
				old, existed := s.Apps[a.AppKey]
				n := fuzzApp{Cfg: copyConfig(a), Users: map[string]User{}, Quota: a.Quota, Zone: zoneName(a.Quota.Timezone)}
				if existed {
					n.Users, n.Counters = old.Users, old.Counters
					n.Accepted, n.NotEnabled, n.BatchSets = old.Accepted, old.NotEnabled, old.BatchSets
				}
				for _, u := range a.Users {
					n.Users[u.ID] = u
				}
				s.Apps[a.AppKey] = n
				return s
			},
			readBack: func(t *testing.T, what string, em *Emulator, answer []byte) {
				checkAppAnswer(t, what, em, a.AppKey, answer)
			}}

	case "PATCH " + ControlPrefix + "apps/{key}":
		var p AppPatch
		if e, bad := decodeModel(body, &p); bad {
			return e
		}
		if !known {
			return unknown
		}
		cfg := copyConfig(s.Apps[key].Cfg)
		if p.PushDisabled != nil {
			cfg.PushDisabled = *p.PushDisabled
		}
		if p.Locked != nil {
			cfg.Locked = *p.Locked
		}
		if p.Restricted != nil {
			cfg.Restricted = *p.Restricted
		}
		if p.Quota != nil {
			cfg.Quota = quotaDefaults(*p.Quota)
		}
		if p.Faults != nil {
			f := *p.Faults
			cfg.Faults = &f
		}
		if p.ClearFaults {
			cfg.Faults = nil
		}
		if p.Secret != nil {
			cfg.Secret = *p.Secret
		}
		if probs := appProblems(cfg); len(probs) > 0 {
			return refuse(http.StatusBadRequest, "the patched app is invalid", probs...)
		}
		return expectation{why: "a valid patch", statuses: []int{http.StatusOK},
			apply: func(s fuzzState) fuzzState {
				s = s.clone()
				a := s.Apps[key]
				a.Cfg, a.Quota, a.Zone = copyConfig(cfg), cfg.Quota, zoneName(cfg.Quota.Timezone)
				s.Apps[key] = a
				return s
			},
			readBack: func(t *testing.T, what string, em *Emulator, answer []byte) {
				checkAppAnswer(t, what, em, key, answer)
			}}

	case "POST " + ControlPrefix + "apps/{key}/users":
		var users []User
		if e, bad := decodeModel(body, &users); bad {
			return e
		}
		var first string
		for i, u := range users {
			if probs := userProblems(fmt.Sprintf("users[%d]", i), u); len(probs) > 0 {
				first = probs[0]
				break
			}
		}
		switch {
		case !known && first != "":
			e := refuse(http.StatusNotFound, "unknown app and a bad user")
			e.statuses = append(e.statuses, http.StatusBadRequest)
			return e
		case !known:
			return unknown
		case first != "":
			return refuse(http.StatusBadRequest, "a bad user", first)
		}
		return expectation{why: "valid users", statuses: []int{http.StatusOK},
			apply: func(s fuzzState) fuzzState {
				s = s.clone()
				a := s.Apps[key]
				for _, u := range users {
					a.Users[u.ID] = u
				}
				s.Apps[key] = a
				return s
			},
			readBack: func(t *testing.T, what string, em *Emulator, answer []byte) {
				want := sortedUsers(snapshotState(em).Apps[key].Users)
				var got, gotGET struct{ Users []User }
				mustJSON(t, what, answer, &got)
				mustJSON(t, what, get(t, what, em, "apps/"+url.PathEscape(key)+"/users"), &gotGET)
				if diff := cmp.Diff(want, got.Users, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("%s: the answer's users (-want +got):\n%s", what, diff)
				}
				if diff := cmp.Diff(got.Users, gotGET.Users, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("%s: GET users differs from the answer (-answer +GET):\n%s", what, diff)
				}
			}}

	case "PUT " + ControlPrefix + "faults", "PUT " + ControlPrefix + "apps/{key}/faults":
		var f Faults
		if e, bad := decodeModel(body, &f); bad {
			return e
		}
		probs := faultsProblems(f, "faults")
		global := req.Pattern == "PUT "+ControlPrefix+"faults"
		switch {
		case !global && !known && len(probs) > 0:
			e := refuse(http.StatusBadRequest, "unknown app and bad faults")
			e.statuses = append(e.statuses, http.StatusNotFound)
			return e
		case len(probs) > 0:
			return refuse(http.StatusBadRequest, "bad faults", probs...)
		case !global && !known:
			return unknown
		}
		return expectation{why: "valid faults", statuses: []int{http.StatusOK},
			apply: func(s fuzzState) fuzzState {
				s = s.clone()
				if global {
					s.Faults = f
					return s
				}
				a := s.Apps[key]
				g := f
				a.Cfg.Faults = &g
				s.Apps[key] = a
				return s
			},
			readBack: func(t *testing.T, what string, em *Emulator, answer []byte) {
				if !global {
					checkAppAnswer(t, what, em, key, answer)
					return
				}
				var got, gotGET Faults
				mustJSON(t, what, answer, &got)
				mustJSON(t, what, get(t, what, em, "faults"), &gotGET)
				if got != f || gotGET != f {
					t.Fatalf("%s: faults answered %+v, read back %+v, want %+v", what, got, gotGET, f)
				}
			}}

	case "DELETE " + ControlPrefix + "apps/{key}/faults":
		if !known {
			return unknown
		}
		return expectation{why: "removing an app's faults", statuses: []int{http.StatusOK},
			apply: func(s fuzzState) fuzzState {
				s = s.clone()
				a := s.Apps[key]
				a.Cfg.Faults = nil
				s.Apps[key] = a
				return s
			},
			readBack: func(t *testing.T, what string, em *Emulator, answer []byte) {
				checkAppAnswer(t, what, em, key, answer)
			}}

	case "POST " + ControlPrefix + "clock":
		var c ClockChange
		if e, bad := decodeModel(body, &c); bad {
			return e
		}
		if c.Now == nil && c.Advance == nil {
			return refuse(http.StatusBadRequest, "no clock change", "now", "advance")
		}
		// The documented range: years 1 to 9998 in UTC, for now and for
		// the clock after advance (the API writes instants in RFC 3339).
		inRange := func(t time.Time) bool { y := t.UTC().Year(); return y >= 1 && y <= 9998 }
		to := s.Now
		if c.Now != nil {
			if !inRange(*c.Now) {
				return refuse(http.StatusBadRequest, "now outside years 1 to 9998", "now", "years 1 to 9998")
			}
			to = *c.Now
		}
		if c.Advance != nil {
			to = to.Add(time.Duration(*c.Advance))
			if !inRange(to) {
				return refuse(http.StatusBadRequest, "the clock after advance outside years 1 to 9998", "advance", "years 1 to 9998")
			}
		}
		return expectation{why: "a clock change", statuses: []int{http.StatusOK}, clock: true,
			apply: func(s fuzzState) fuzzState {
				s = s.clone()
				if c.Now != nil {
					s.Frozen = !c.Run
				}
				s.Now = to.Round(0)
				return s
			},
			readBack: func(t *testing.T, what string, em *Emulator, answer []byte) {
				want := snapshotState(em)
				var got, gotGET ClockState
				mustJSON(t, what, answer, &got)
				mustJSON(t, what, get(t, what, em, "clock"), &gotGET)
				if !got.Now.Equal(want.Now) || got.Frozen != want.Frozen || !gotGET.Now.Equal(want.Now) || gotGET.Frozen != want.Frozen {
					t.Fatalf("%s: clock answered %+v, read back %+v, want now %s frozen %t", what, got, gotGET, want.Now, want.Frozen)
				}
			}}

	case "POST " + ControlPrefix + "reset":
		return expectation{why: "a reset", statuses: []int{http.StatusOK},
			apply: func(s fuzzState) fuzzState {
				s = s.clone()
				s.Pushes, s.Unknown = nil, Counters{}
				for k, a := range s.Apps {
					a.Users, a.Counters = map[string]User{}, Counters{}
					a.Accepted, a.NotEnabled, a.BatchSets = nil, nil, nil
					s.Apps[k] = a
				}
				return s
			}}

	case ControlPrefix:
		return refuse(http.StatusNotFound, "no such endpoint", "no control endpoint", req.Method)
	}
	return expectation{why: "a path outside the control API: " + req.Pattern, statuses: nil}
}

// decodeModel decodes body as the control API documents it: one strict JSON
// document. For a body it must refuse, it returns the expected answer.
func decodeModel(body string, v any) (expectation, bool) {
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		return refuse(http.StatusBadRequest, "an empty body", "empty body"), true
	}
	if err != nil {
		e := refuse(http.StatusBadRequest, "not the endpoint's JSON", err.Error())
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			parts := strings.Split(te.Field, ".")
			e.inError = append(e.inError, parts[len(parts)-1])
		}
		return e, true
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return refuse(http.StatusBadRequest, "data after the document", "after the JSON document"), true
	}
	return expectation{}, false
}

// quotaDefaults is the documented meaning of zero quota fields.
func quotaDefaults(q Quota) Quota {
	if q.Hourly == 0 {
		q.Hourly = 2
	}
	if q.Daily == 0 {
		q.Daily = 3
	}
	if q.HourWindow == "" {
		q.HourWindow = "rolling"
	}
	if q.DayWindow == "" {
		q.DayWindow = "calendar"
	}
	if q.Timezone == "" {
		q.Timezone = "Asia/Shanghai"
	}
	return q
}

func zoneName(tz string) string {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return "?"
	}
	return loc.String()
}

// faultsProblems names every rule f breaks: fractions in [0, 1] with a sum of
// at most 1, no negative duration.
func faultsProblems(f Faults, path string) []string {
	var probs []string
	if f.Latency < 0 {
		probs = append(probs, path+".latency")
	}
	if f.StallFor < 0 {
		probs = append(probs, path+".stall_for")
	}
	sum, inRange := 0.0, true
	for _, p := range []struct {
		name string
		v    float64
	}{{"error_500", f.Error500}, {"error_504", f.Error504}, {"stall_sent", f.StallSent}, {"stall_dropped", f.StallDropped}, {"reset", f.Reset}} {
		if p.v < 0 || p.v > 1 {
			probs = append(probs, path+"."+p.name)
			inRange = false
		}
		sum += p.v
	}
	if inRange && sum > 1+1e-9 {
		probs = append(probs, "must not exceed 1")
	}
	return probs
}

// quotaProblems names every rule a quota (with its defaults) breaks.
func quotaProblems(q Quota) []string {
	var probs []string
	if q.Hourly < 0 {
		probs = append(probs, "quota.hourly")
	}
	if q.Daily < 0 {
		probs = append(probs, "quota.daily")
	}
	if q.HourWindow != "rolling" && q.HourWindow != "clock" {
		probs = append(probs, "quota.hour_window")
	}
	if q.DayWindow != "calendar" && q.DayWindow != "rolling" {
		probs = append(probs, "quota.day_window")
	}
	// The quota guard's rule (calendar.LoadZone): the emulator counts the
	// days the guard counts, so it refuses the zones the guard refuses.
	if _, err := calendar.LoadZone(q.Timezone); err != nil {
		probs = append(probs, "quota.timezone")
	}
	return probs
}

// userProblems names what makes u a user the tag APIs could not have made.
func userProblems(path string, u User) []string {
	if u.ID == "" {
		return []string{path + ".id"}
	}
	if err := (&pushapi.SetUserTagsRequest{UserID: u.ID, Tags: u.Tags}).Validate(); err != nil {
		return []string{path}
	}
	return nil
}

// appProblems names every rule an app (quota with its defaults) breaks.
func appProblems(a AppConfig) []string {
	var probs []string
	if a.AppKey == "" {
		probs = append(probs, "app_key")
	}
	if a.Secret == "" {
		probs = append(probs, "app_secret")
	}
	probs = append(probs, quotaProblems(a.Quota)...)
	if a.Faults != nil {
		probs = append(probs, faultsProblems(*a.Faults, "faults")...)
	}
	for i, u := range a.Users {
		probs = append(probs, userProblems(fmt.Sprintf("users[%d]", i), u)...)
	}
	return probs
}

func sortedUsers(m map[string]User) []User {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// get answers a GET of the control API, which must be a 200.
func get(t *testing.T, what string, em *Emulator, path string) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	em.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://emulator"+ControlPrefix+path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: then GET %s answered %d: %s", what, path, rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

func mustJSON(t *testing.T, what string, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v: %q", what, err, raw)
	}
}

// checkAppAnswer checks an accepted change of app key: the answer is the app
// as GET apps shows it, and that shows the emulator's state.
func checkAppAnswer(t *testing.T, what string, em *Emulator, key string, answer []byte) {
	t.Helper()
	s := snapshotState(em)
	a := s.Apps[key]
	var got AppState
	mustJSON(t, what, answer, &got)
	var list struct{ Apps []AppState }
	mustJSON(t, what, get(t, what, em, "apps"), &list)
	i := slices.IndexFunc(list.Apps, func(x AppState) bool { return x.AppKey == key })
	if i < 0 {
		t.Fatalf("%s: GET apps does not list %q", what, key)
	}
	if diff := cmp.Diff(list.Apps[i], got, snapshotOpts); diff != "" {
		t.Fatalf("%s: the answer differs from GET apps (-GET +answer):\n%s", what, diff)
	}
	inForce := s.Faults
	if a.Cfg.Faults != nil {
		inForce = *a.Cfg.Faults
	}
	if got.AppKey != key || got.PushDisabled != a.Cfg.PushDisabled || got.Locked != a.Cfg.Locked || got.Restricted != a.Cfg.Restricted ||
		got.Quota.Quota != a.Cfg.Quota || !cmp.Equal(got.OwnFaults, a.Cfg.Faults) || got.Faults != inForce ||
		got.Users != len(a.Users) || got.Counters != a.Counters {
		t.Fatalf("%s: the API shows %+v; the app is %+v with %d users", what, got, a.Cfg, len(a.Users))
	}
}

// checkReadable checks that the state stays readable through the API, and
// an accepted change through the GETs of what it changed.
func checkReadable(t *testing.T, what string, em *Emulator, s fuzzState, accepted bool, exp expectation, answer []byte) {
	t.Helper()
	var list struct{ Apps []AppState }
	mustJSON(t, what, get(t, what, em, "apps"), &list)
	if len(list.Apps) != len(s.Apps) {
		t.Fatalf("%s: GET apps lists %d apps, the emulator has %d", what, len(list.Apps), len(s.Apps))
	}
	var fl Faults
	mustJSON(t, what, get(t, what, em, "faults"), &fl)
	if fl != s.Faults {
		t.Fatalf("%s: GET faults = %+v, the emulator has %+v", what, fl, s.Faults)
	}
	var clk ClockState
	mustJSON(t, what, get(t, what, em, "clock"), &clk)
	if !clk.Now.Equal(s.Now) || clk.Frozen != s.Frozen {
		t.Fatalf("%s: GET clock = %+v, the emulator has %s frozen %t", what, clk, s.Now, s.Frozen)
	}
	var ps struct{ Pushes []Push }
	mustJSON(t, what, get(t, what, em, "pushes"), &ps)
	if len(ps.Pushes) != len(s.Pushes) {
		t.Fatalf("%s: GET pushes lists %d, the emulator has %d", what, len(ps.Pushes), len(s.Pushes))
	}
	if accepted && exp.readBack != nil {
		exp.readBack(t, what, em, answer)
	}
}

// checkNoSecret fails when an answer holds an "app_secret" key or an app's
// secret that the request itself did not carry.
func checkNoSecret(t *testing.T, what string, raw []byte, sent string, s fuzzState) {
	t.Helper()
	if bytes.Contains(raw, []byte(`"app_secret"`)) {
		t.Fatalf("%s: the answer has an app_secret: %s", what, raw)
	}
	for _, a := range s.Apps {
		if sec := a.Cfg.Secret; len(sec) >= 8 && !strings.Contains(sent, sec) && bytes.Contains(raw, []byte(sec)) {
			t.Fatalf("%s: the answer holds app %q's secret: %s", what, a.Cfg.AppKey, raw)
		}
	}
	for _, sec := range fuzzSecrets {
		if !strings.Contains(sent, sec) && bytes.Contains(raw, []byte(sec)) {
			t.Fatalf("%s: the answer holds a secret: %s", what, raw)
		}
	}
}
