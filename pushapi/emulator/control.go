package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ControlPrefix is where the inspection and control API lives. It is not
// authenticated: bind the emulator to loopback.
const ControlPrefix = "/_emulator/"

// AppState is one app as the inspection API shows it. It never holds the
// App Secret.
type AppState struct {
	AppKey       string     `json:"app_key"`
	PushDisabled bool       `json:"push_disabled"`
	Locked       bool       `json:"locked"`
	Restricted   bool       `json:"restricted"`
	Quota        QuotaState `json:"quota"`
	OwnFaults    *Faults    `json:"own_faults"` // nil: the global faults apply
	Faults       Faults     `json:"faults"`     // the faults in force
	Counters     Counters   `json:"counters"`
	Users        int        `json:"users"`
}

// App returns the inspection view of one app.
func (e *Emulator) App(appKey string) (AppState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.apps[appKey]
	if !ok {
		return AppState{}, fmt.Errorf("app %q: %w", appKey, ErrUnknownApp)
	}
	return e.appState(st), nil
}

// appState builds the view; callers hold e.mu.
func (e *Emulator) appState(st *app) AppState {
	var own *Faults
	if st.cfg.Faults != nil {
		f := *st.cfg.Faults
		own = &f
	}
	return AppState{
		AppKey: st.cfg.AppKey, PushDisabled: st.cfg.PushDisabled, Locked: st.cfg.Locked, Restricted: st.cfg.Restricted,
		Quota: st.quotaState(e.clock.now()), OwnFaults: own, Faults: e.faultsFor(st),
		Counters: st.counters, Users: len(st.users),
	}
}

// ClockState is the emulator's clock as the control API shows it.
type ClockState struct {
	Now    time.Time `json:"now"`
	Frozen bool      `json:"frozen"`
}

// ClockChange is the body of POST /_emulator/clock. Now sets the time (frozen
// there unless Run is true), Advance moves it; both may be given (Now first).
// Now and the clock after Advance must be in years 1 to 9998 (UTC): the API
// writes instants in RFC 3339, whose years have four digits, and shows some a
// day or so either side of the clock. A change outside them is refused (400
// naming now or advance) and leaves the clock as it was.
type ClockChange struct {
	Now     *time.Time `json:"now,omitempty"`
	Advance *Duration  `json:"advance,omitempty"`
	Run     bool       `json:"run,omitempty"`
}

func (e *Emulator) clockState() ClockState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return ClockState{Now: e.clock.now(), Frozen: e.clock.frozen}
}

// routeControl serves (bodies are one strict JSON document: an unknown field
// is an error):
//
//	GET    /_emulator/                      the list of these endpoints
//	GET    /_emulator/pushes[?app=KEY]      {"pushes":[...]} with recipients
//	GET    /_emulator/apps                  {"apps":[AppState...]}
//	POST   /_emulator/apps                  add or replace an app: AppConfig: app_key, app_secret,
//	                                        push_disabled, locked, restricted, quota, faults, users
//	                                        (app_secret_env / app_secret_file are resolved only from
//	                                        the command line's config file: the body gives app_secret)
//	GET    /_emulator/apps/{key}            AppState: quota state, counters, faults
//	PATCH  /_emulator/apps/{key}            AppPatch: push_disabled, locked, restricted, quota,
//	                                        faults, clear_faults, app_secret
//	GET    /_emulator/apps/{key}/users      {"users":[User...]}
//	POST   /_emulator/apps/{key}/users      add or replace users: [User: id, tags, package_name...]
//	GET    /_emulator/faults                the global faults
//	PUT    /_emulator/faults                set the global faults: Faults: latency, error_500,
//	                                        error_504, stall_sent, stall_dropped, reset, stall_for,
//	                                        tag_apis
//	PUT    /_emulator/apps/{key}/faults     set an app's own faults (Faults)
//	DELETE /_emulator/apps/{key}/faults     remove them (the global ones apply)
//	GET    /_emulator/clock                 ClockState: now, frozen
//	POST   /_emulator/clock                 ClockChange: now, advance, run (years 1 to 9998)
//	POST   /_emulator/reset                 forget pushes, counters, ledgers, users
func (e *Emulator) routeControl() {
	m := e.mux
	m.HandleFunc("GET "+ControlPrefix+"{$}", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"endpoints": []string{
			"GET pushes[?app=KEY]", "GET apps", "POST apps", "GET apps/{key}", "PATCH apps/{key}",
			"GET apps/{key}/users", "POST apps/{key}/users", "GET faults", "PUT faults",
			"PUT apps/{key}/faults", "DELETE apps/{key}/faults", "GET clock", "POST clock", "POST reset",
		}})
	})
	m.HandleFunc("GET "+ControlPrefix+"pushes", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"pushes": e.PushesFor(r.URL.Query().Get("app"))})
	})
	m.HandleFunc("GET "+ControlPrefix+"apps", func(w http.ResponseWriter, _ *http.Request) {
		e.mu.Lock()
		apps := make([]AppState, 0, len(e.apps))
		for _, k := range e.appKeysLocked() {
			apps = append(apps, e.appState(e.apps[k]))
		}
		e.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"apps": apps})
	})
	m.HandleFunc("POST "+ControlPrefix+"apps", func(w http.ResponseWriter, r *http.Request) {
		var a AppConfig
		if !decodeControl(w, r, &a) {
			return
		}
		if err := e.setApp(a, secretFromControl); err != nil {
			controlError(w, http.StatusBadRequest, err)
			return
		}
		e.writeApp(w, a.AppKey)
	})
	m.HandleFunc("GET "+ControlPrefix+"apps/{key}", func(w http.ResponseWriter, r *http.Request) {
		e.writeApp(w, r.PathValue("key"))
	})
	m.HandleFunc("PATCH "+ControlPrefix+"apps/{key}", func(w http.ResponseWriter, r *http.Request) {
		var p AppPatch
		if !decodeControl(w, r, &p) {
			return
		}
		if err := e.UpdateApp(r.PathValue("key"), p); err != nil {
			controlError(w, statusFor(err), err)
			return
		}
		e.writeApp(w, r.PathValue("key"))
	})
	m.HandleFunc("GET "+ControlPrefix+"apps/{key}/users", func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		if _, err := e.App(key); err != nil {
			controlError(w, http.StatusNotFound, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"users": e.Users(key)})
	})
	m.HandleFunc("POST "+ControlPrefix+"apps/{key}/users", func(w http.ResponseWriter, r *http.Request) {
		var users []User
		if !decodeControl(w, r, &users) {
			return
		}
		key := r.PathValue("key")
		if err := e.SetUsers(key, users...); err != nil {
			controlError(w, statusFor(err), err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"users": e.Users(key)})
	})
	m.HandleFunc("GET "+ControlPrefix+"faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, e.Faults(""))
	})
	m.HandleFunc("PUT "+ControlPrefix+"faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if !decodeControl(w, r, &f) {
			return
		}
		if err := e.SetFaults("", &f); err != nil {
			controlError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, e.Faults(""))
	})
	m.HandleFunc("PUT "+ControlPrefix+"apps/{key}/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if !decodeControl(w, r, &f) {
			return
		}
		if err := e.SetFaults(r.PathValue("key"), &f); err != nil {
			controlError(w, statusFor(err), err)
			return
		}
		e.writeApp(w, r.PathValue("key"))
	})
	m.HandleFunc("DELETE "+ControlPrefix+"apps/{key}/faults", func(w http.ResponseWriter, r *http.Request) {
		if err := e.SetFaults(r.PathValue("key"), nil); err != nil {
			controlError(w, statusFor(err), err)
			return
		}
		e.writeApp(w, r.PathValue("key"))
	})
	m.HandleFunc("GET "+ControlPrefix+"clock", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, e.clockState())
	})
	m.HandleFunc("POST "+ControlPrefix+"clock", func(w http.ResponseWriter, r *http.Request) {
		var c ClockChange
		if !decodeControl(w, r, &c) {
			return
		}
		if c.Now == nil && c.Advance == nil {
			controlError(w, http.StatusBadRequest, errors.New("body: set now (RFC 3339) and/or advance (a duration like \"90m\")"))
			return
		}
		st, err := e.changeClock(c)
		if err != nil {
			controlError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	m.HandleFunc("POST "+ControlPrefix+"reset", func(w http.ResponseWriter, _ *http.Request) {
		e.Reset()
		writeJSON(w, http.StatusOK, map[string]any{"reset": true})
	})
	m.HandleFunc(ControlPrefix, func(w http.ResponseWriter, r *http.Request) {
		controlError(w, http.StatusNotFound, fmt.Errorf("no control endpoint %s %s (GET %s lists them)", r.Method, r.URL.Path, ControlPrefix))
	})
}

func (e *Emulator) writeApp(w http.ResponseWriter, key string) {
	st, err := e.App(key)
	if err != nil {
		controlError(w, http.StatusNotFound, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func statusFor(err error) int {
	if errors.Is(err, ErrUnknownApp) {
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// decodeControl reads a control API JSON body strictly (unknown fields are
// errors, so a typo does not silently do nothing).
func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("empty body")
		}
		controlError(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return false
	}
	// One document: a second one ({"faults":...} {"clear_faults":true})
	// was ignored in silence.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		controlError(w, http.StatusBadRequest, errors.New("body: unexpected data after the JSON document"))
		return false
	}
	return true
}

func controlError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]any{"error": err.Error()})
}
