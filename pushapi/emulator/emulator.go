package emulator

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/pushapi"
)

// Emulator is the emulated push service. It is an http.Handler serving the
// Server API (/push.json, /user/tag/set.json, /user/tag/batch/set.json,
// /user/tags/get.json) and the inspection and control API under /_emulator/.
// Its methods are safe for concurrent use.
type Emulator struct {
	log zerolog.Logger
	mux *http.ServeMux

	mu        sync.Mutex
	clock     clock
	rng       *rand.Rand
	uidKey    uint64
	seq       uint64 // accepted pushes, for message ids
	reqSeq    uint64 // calls without X-Request-ID
	freshness time.Duration
	maxPushes int
	maxNonce  int // longest Nonce accepted (Config.MaxNonceLen); set once by New
	faults    Faults
	apps      map[string]*app
	pushes    []Push // oldest first; the last maxPushes are shown (trimmed at 2x)
	unknown   Counters
}

// app is the state of one App Key.
type app struct {
	cfg        AppConfig
	windows    quotaWindows
	accepted   ledger // accepted pushes: the quota
	notEnabled ledger // /push.json calls while the service was not enabled
	batchSets  ledger // /user/tag/batch/set.json calls (10 per second)
	users      map[string]*user
	counters   Counters
}

// Counters count a Server API's answers for one App Key.
type Counters struct {
	Accepted      int `json:"accepted"`       // 200 on /push.json
	TagCalls      int `json:"tag_calls"`      // 200 on a tag endpoint
	RateLimited   int `json:"rate_limited"`   // 429
	Unauthorized  int `json:"unauthorized"`   // 401
	BadRequest    int `json:"bad_request"`    // 400
	NotEnabled    int `json:"not_enabled"`    // 430
	NotAllowed    int `json:"not_allowed"`    // 405
	Fault500      int `json:"fault_500"`      // injected 500/1000
	Fault504      int `json:"fault_504"`      // injected 504/1050
	StallSent     int `json:"stall_sent"`     // injected stall, call processed
	StallDropped  int `json:"stall_dropped"`  // injected stall, call not processed
	ResetConn     int `json:"reset"`          // injected connection reset
	LatencyFaults int `json:"latency_faults"` // calls delayed by injected latency
}

// Push is one accepted /push.json call, as the inspection API shows it.
type Push struct {
	Seq        uint64          `json:"seq"` // 1, 2, ... across all apps, never reused
	ID         string          `json:"id"`
	MessageUID string          `json:"messageUID"`
	AppKey     string          `json:"app_key"`
	ReceivedAt time.Time       `json:"received_at"` // on the emulator's clock
	RequestID  string          `json:"request_id,omitempty"`
	Request    pushapi.Request `json:"request"`
	Recipients []string        `json:"recipients"`
	// Notifications is the effective notification per platform of the request.
	Notifications map[string]Notification `json:"notifications"`
	// Answer is "ok" when the client got the 200, "stall_sent" when the
	// connection was dropped instead (the client cannot know it was sent).
	Answer string `json:"answer"`
}

// Option configures an Emulator at construction.
type Option func(*Emulator)

// WithClock makes now the emulator's base clock (default time.Now). SetNow,
// Advance and the control API still move the emulator's time relative to it.
func WithClock(now func() time.Time) Option {
	return func(e *Emulator) { e.clock.base = now }
}

// WithLogger sets the logger (default: discard). Secrets are never logged.
func WithLogger(l zerolog.Logger) Option {
	return func(e *Emulator) { e.log = l }
}

// New returns an emulator serving cfg's apps. It fails with every bad field
// named when cfg is invalid.
func New(cfg Config, opts ...Option) (*Emulator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("emulator config: %w", err)
	}
	e := &Emulator{
		log:       zerolog.Nop(),
		clock:     clock{base: time.Now},
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5851f42d4c957f2d)),
		freshness: time.Duration(cfg.Freshness),
		maxPushes: cfg.MaxPushes,
		maxNonce:  cfg.MaxNonceLen,
		faults:    cfg.Faults,
		apps:      map[string]*app{},
	}
	if e.freshness == 0 {
		e.freshness = DefaultFreshness
	}
	if e.maxPushes == 0 {
		e.maxPushes = DefaultMaxPushes
	}
	if e.maxNonce == 0 {
		e.maxNonce = DefaultMaxNonceLen
	}
	e.uidKey = e.rng.Uint64()
	for _, o := range opts {
		o(e)
	}
	for _, a := range cfg.Apps {
		if err := e.SetApp(a); err != nil {
			return nil, err
		}
	}
	e.mux = http.NewServeMux()
	e.routeServerAPI()
	e.routeControl()
	return e, nil
}

// ServeHTTP implements http.Handler.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

// clock is the emulator's time: the base clock until it is set; then frozen
// at at, or running from at since the base clock read since. A running clock
// is kept as that pair, not as an offset from the base clock: a
// time.Duration holds at most about 292 years, and an offset to an instant
// further away saturated (and Advance's sum wrapped) in silence.
type clock struct {
	base   func() time.Time
	set    bool // false: the base clock itself
	frozen bool
	at     time.Time
	since  time.Time // the base clock's reading when a running clock was at at
}

func (c *clock) now() time.Time {
	if c.frozen {
		return c.at
	}
	return c.nowAt(c.base())
}

// nowAt is the running clock's time when the base clock reads b.
func (c *clock) nowAt(b time.Time) time.Time {
	if !c.set {
		return b.Round(0)
	}
	return c.at.Add(b.Sub(c.since)).Round(0)
}

// freeze sets a frozen clock to t.
func (c *clock) freeze(t time.Time) {
	c.set, c.frozen, c.at = true, true, t.Round(0)
}

// run sets a running clock to t, from the base clock's reading b.
func (c *clock) run(t, b time.Time) {
	c.set, c.frozen, c.at, c.since = true, false, t.Round(0), b
}

// The instants the clock can be set to through the control API: years 1 to
// 9998. The inspection API writes instants in RFC 3339 (encoding/json),
// which has four-digit years; this range keeps every instant it shows (the
// quota windows' starts and ends and the next opening, in any time zone, a
// day or so either side of the clock) within them.
var (
	clockMin = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	clockMax = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) // exclusive
)

// clockRange is the rule, as error messages give it.
const clockRange = "must be in years 1 to 9998 (from 0001-01-01T00:00:00Z, before 9999-01-01T00:00:00Z), so that every instant the API shows stays writable in RFC 3339"

func clockInRange(t time.Time) bool { return !t.Before(clockMin) && t.Before(clockMax) }

// Now is the emulator's current time.
func (e *Emulator) Now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clock.now()
}

// SetNow freezes the emulator's clock at t until the next SetNow, Advance or
// RunFrom. The inspection API can show instants in years 1 to 9998 only
// (POST /_emulator/clock refuses others).
func (e *Emulator) SetNow(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clock.freeze(t)
}

// RunFrom sets the emulator's clock to t and lets it run with the base clock.
func (e *Emulator) RunFrom(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clock.run(t, e.clock.base())
}

// Advance moves the emulator's clock forward by d (backward if negative),
// frozen or running.
func (e *Emulator) Advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.clock.frozen {
		e.clock.at = e.clock.at.Add(d)
		return
	}
	b := e.clock.base()
	e.clock.run(e.clock.nowAt(b).Add(d), b)
}

// changeClock applies a POST /_emulator/clock body in one locked section:
// Now first (frozen there unless Run), then Advance. A change that would
// leave the clock outside years 1 to 9998 is refused, naming the field, and
// changes nothing.
func (e *Emulator) changeClock(c ClockChange) (ClockState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.clock.base()
	now, frozen := e.clock.at, e.clock.frozen
	if !frozen {
		now = e.clock.nowAt(b)
	}
	if c.Now != nil {
		if !clockInRange(*c.Now) {
			return ClockState{}, fmt.Errorf("now: %s; got %s (the clock is unchanged)", clockRange, c.Now.Format(time.RFC3339Nano))
		}
		now, frozen = c.Now.Round(0), !c.Run
	}
	if c.Advance != nil {
		d := time.Duration(*c.Advance)
		to := now.Add(d)
		if !clockInRange(to) {
			return ClockState{}, fmt.Errorf("advance: the clock %s; advancing %s from %s gives %s (the clock is unchanged)",
				clockRange, d, now.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
		}
		now = to
	}
	if frozen {
		e.clock.freeze(now)
	} else {
		e.clock.run(now, b)
	}
	return ClockState{Now: e.clock.now(), Frozen: e.clock.frozen}, nil
}

// ErrUnknownApp is returned for an App Key the emulator does not serve.
var ErrUnknownApp = errors.New("unknown app key")

// SetApp adds an app or replaces its configuration. a.Users are added to the
// app's users (replacing those with the same id); its other users, ledgers
// and counters are kept. The emulator keeps copies of a's Faults and Users:
// the caller may reuse them.
func (e *Emulator) SetApp(a AppConfig) error {
	return e.setApp(a, secretFromGo)
}

// setApp is SetApp; src says where a's secret came from, for the message
// when it is missing.
func (e *Emulator) setApp(a AppConfig, src secretSource) error {
	a.Users = slices.Clone(a.Users)
	if a.Faults != nil { // never alias the caller's value (UpdateApp copies too)
		f := *a.Faults
		a.Faults = &f
	}
	a.Quota = a.Quota.withDefaults()
	loc, err := validateApp(a, "app "+a.AppKey, src)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.apps[a.AppKey]
	if !ok {
		st = &app{users: map[string]*user{}}
		e.apps[a.AppKey] = st
	}
	st.cfg = a
	st.windows = quotaWindows{q: a.Quota, loc: loc}
	for _, u := range a.Users {
		st.users[u.ID] = &user{tags: slices.Clone(u.Tags), packageName: u.PackageName}
	}
	return nil
}

// AppPatch changes some settings of an app at run time; nil fields stay.
type AppPatch struct {
	PushDisabled *bool   `json:"push_disabled,omitempty"`
	Locked       *bool   `json:"locked,omitempty"`
	Restricted   *bool   `json:"restricted,omitempty"`
	Quota        *Quota  `json:"quota,omitempty"`  // replaces the whole quota (zero fields: defaults)
	Faults       *Faults `json:"faults,omitempty"` // the app's own faults
	ClearFaults  bool    `json:"clear_faults,omitempty"`
	Secret       *string `json:"app_secret,omitempty"`
}

// UpdateApp applies p to the app with App Key key. The patch is applied to
// the app's current configuration in one locked section, so concurrent
// patches of different fields never lose each other's changes; a patch that
// leaves the app invalid changes nothing.
func (e *Emulator) UpdateApp(key string, p AppPatch) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.apps[key]
	if !ok {
		return fmt.Errorf("app %q: %w", key, ErrUnknownApp)
	}
	cfg := st.cfg
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
		cfg.Quota = p.Quota.withDefaults()
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
	loc, err := validateApp(cfg, "app "+key, secretFromPatch)
	if err != nil {
		return err
	}
	st.cfg = cfg // users, ledgers and counters stay
	st.windows = quotaWindows{q: cfg.Quota, loc: loc}
	return nil
}

// SetFaults sets the global faults (app "") or one app's own faults; nil
// removes an app's own faults (the global ones apply again) or clears the
// global ones.
func (e *Emulator) SetFaults(appKey string, f *Faults) error {
	if f != nil {
		if err := f.Validate("faults"); err != nil {
			return err
		}
	}
	if appKey == "" {
		e.mu.Lock()
		defer e.mu.Unlock()
		if f == nil {
			e.faults = Faults{}
		} else {
			e.faults = *f
		}
		return nil
	}
	if f == nil {
		return e.UpdateApp(appKey, AppPatch{ClearFaults: true})
	}
	return e.UpdateApp(appKey, AppPatch{Faults: f})
}

// Faults returns the global faults (app "") or the faults in force for an app.
func (e *Emulator) Faults(appKey string) Faults {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.faultsFor(e.apps[appKey])
}

func (e *Emulator) faultsFor(st *app) Faults {
	if st != nil && st.cfg.Faults != nil {
		return *st.cfg.Faults
	}
	return e.faults
}

// checkUser refuses a seeded user the tag APIs could not have made: no id,
// or tags past their limits (at most 20, each 1 to 40 bytes). Such a user
// would match tag pushes that no user of the real service could.
func checkUser(path string, u User) error {
	if u.ID == "" {
		return fmt.Errorf("%s.id: required", path)
	}
	err := (&pushapi.SetUserTagsRequest{UserID: u.ID, Tags: u.Tags}).Validate()
	var ve *pushapi.ValidationError
	if errors.As(err, &ve) {
		var errs []error
		for _, p := range ve.Problems {
			field := strings.Replace(p.Path, "userId", "id", 1)
			errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, p.Rule))
		}
		return errors.Join(errs...)
	}
	return err
}

// SetUsers adds or replaces users of an app (with their tags and package
// names), as if their tags had been set through the tag APIs.
func (e *Emulator) SetUsers(appKey string, users ...User) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.apps[appKey]
	if !ok {
		return fmt.Errorf("app %q: %w", appKey, ErrUnknownApp)
	}
	for i, u := range users {
		if err := checkUser(fmt.Sprintf("users[%d]", i), u); err != nil {
			return err
		}
	}
	for _, u := range users {
		st.users[u.ID] = &user{tags: slices.Clone(u.Tags), packageName: u.PackageName}
	}
	return nil
}

// Users returns an app's users sorted by id.
func (e *Emulator) Users(appKey string) []User {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.apps[appKey]
	if !ok {
		return nil
	}
	out := make([]User, 0, len(st.users))
	for id, u := range st.users {
		tags := slices.Clone(u.tags)
		if tags == nil {
			tags = []string{}
		}
		out = append(out, User{ID: id, Tags: tags, PackageName: u.packageName})
	}
	slices.SortFunc(out, func(a, b User) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// Pushes returns the recorded pushes of every app, oldest first (at most
// Config.MaxPushes are kept).
func (e *Emulator) Pushes() []Push {
	return e.PushesFor("")
}

// PushesFor returns the recorded pushes of one app ("" for every app):
// copies, which the caller may change.
func (e *Emulator) PushesFor(appKey string) []Push {
	e.mu.Lock()
	defer e.mu.Unlock()
	kept := e.pushes[max(0, len(e.pushes)-e.maxPushes):]
	out := make([]Push, 0, len(kept))
	for _, p := range kept {
		if appKey == "" || p.AppKey == appKey {
			out = append(out, p.clone())
		}
	}
	return out
}

// Counters returns an app's counters; "" (or an unknown key) gives the
// counters of calls with a missing or unknown App Key.
func (e *Emulator) Counters(appKey string) Counters {
	e.mu.Lock()
	defer e.mu.Unlock()
	if st, ok := e.apps[appKey]; ok {
		return st.counters
	}
	return e.unknown
}

// QuotaState is an app's quota at an instant.
type QuotaState struct {
	Quota
	Now           time.Time `json:"now"`
	UsedHour      int       `json:"used_hour"`
	UsedDay       int       `json:"used_day"`
	RemainingHour int       `json:"remaining_hour"`
	RemainingDay  int       `json:"remaining_day"`
	HourStart     time.Time `json:"hour_start"`
	HourEnd       time.Time `json:"hour_end"`
	DayStart      time.Time `json:"day_start"`
	DayEnd        time.Time `json:"day_end"`
	// NextOpening is when a push can be accepted again (== Now when it can now).
	NextOpening time.Time `json:"next_opening"`
}

// QuotaState returns an app's quota state at the emulator's current time.
func (e *Emulator) QuotaState(appKey string) (QuotaState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.apps[appKey]
	if !ok {
		return QuotaState{}, fmt.Errorf("app %q: %w", appKey, ErrUnknownApp)
	}
	return st.quotaState(e.clock.now()), nil
}

func (st *app) quotaState(now time.Time) QuotaState {
	h, d := st.windows.hour(&st.accepted, now), st.windows.day(&st.accepted, now)
	loc := st.windows.loc // instants are shown in the app's time zone
	return QuotaState{
		Quota: st.cfg.Quota, Now: now.In(loc),
		UsedHour: h.Used, UsedDay: d.Used,
		RemainingHour: max(0, h.Limit-h.Used), RemainingDay: max(0, d.Limit-d.Used),
		HourStart: h.Start.In(loc), HourEnd: h.End.In(loc), DayStart: d.Start.In(loc), DayEnd: d.End.In(loc),
		NextOpening: st.windows.nextOpening(&st.accepted, now).In(loc),
	}
}

// Reset forgets every recorded push, counter, quota ledger and user; the apps'
// configuration, the faults and the clock stay. Message ids stay unique.
func (e *Emulator) Reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pushes = nil
	e.unknown = Counters{}
	for _, st := range e.apps {
		st.accepted, st.notEnabled, st.batchSets = ledger{}, ledger{}, ledger{}
		st.counters = Counters{}
		st.users = map[string]*user{}
	}
}

// AppKeys returns the App Keys served, sorted.
func (e *Emulator) AppKeys() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.appKeysLocked()
}

// appKeysLocked is AppKeys for callers holding e.mu.
func (e *Emulator) appKeysLocked() []string {
	keys := make([]string, 0, len(e.apps))
	for k := range e.apps {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
