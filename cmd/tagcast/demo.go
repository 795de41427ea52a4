package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/examples"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/quota"
)

// demoAppKey is the demo's App Key on its private emulator; demoApp is its
// tagcast app name (the example campaigns name "main").
const (
	demoAppKey = "demo-app-key"
	demoApp    = "main"
)

// Exit codes of the demo beyond 0 and 1.
const demoExitInterrupted = 130 // Ctrl-C: stopped cleanly, like a shell's 128+SIGINT

// DefaultDemoDuration is the demo's default --duration.
const DefaultDemoDuration = 10 * time.Second

// demoSettleGrace is how long past --duration the demo waits for its
// campaigns to settle before it gives up (exit 1).
const demoSettleGrace = time.Minute

// demoUsers are registered through the admin API's tag endpoints.
var demoUsers = []struct {
	ids  []string
	tags []string
}{
	{[]string{"lily", "mei"}, []string{"女", "年轻", "北京"}}, // batch set
	{[]string{"fang"}, []string{"女", "年轻", "上海"}},
	{[]string{"hua"}, []string{"女", "年轻", "广州"}},
	{[]string{"wang"}, []string{"男", "年轻", "北京"}},
	{[]string{"123"}, []string{"男", "上海"}},
	{[]string{"456"}, []string{"女"}},
}

// demoReport is the demo's summary (`tagcast demo --output json` prints it).
type demoReport struct {
	SimulatedTime bool      `json:"simulated_time"`
	SimStart      time.Time `json:"sim_start"`
	SimEnd        time.Time `json:"sim_end"`
	Jumped        string    `json:"jumped"` // how far simulated time jumped in all
	WallSeconds   float64   `json:"wall_seconds"`

	Emulator   string `json:"emulator"`
	AdminURL   string `json:"admin_url"`
	AdminToken string `json:"admin_token"` // generated for this run only

	Campaigns   []demoCampaign `json:"campaigns"`
	Runs        int            `json:"runs"`
	Sent        int            `json:"sent"`
	Deferred    int            `json:"deferred"`     // sends that waited for a quota window
	Pushes      int            `json:"pushes"`       // accepted by the emulator
	RateLimited int            `json:"rate_limited"` // 429s the emulator answered
	Quota       *quota.Status  `json:"quota,omitempty"`

	Interrupted bool     `json:"interrupted"`
	Problems    []string `json:"problems"`
	OK          bool     `json:"ok"`
}

type demoCampaign struct {
	ID       int64     `json:"id"`
	Name     string    `json:"name"`
	Source   string    `json:"source"` // the examples/ file it was adapted from
	Schedule string    `json:"schedule"`
	Status   string    `json:"status"`
	Runs     []demoRun `json:"runs"`
}

type demoRun struct {
	ID           int64      `json:"id"`
	ScheduledFor time.Time  `json:"scheduled_for"`
	Status       string     `json:"status"`
	Sends        []demoSend `json:"sends"`
}

type demoSend struct {
	ID         int64      `json:"id"`
	Status     string     `json:"status"`
	MessageUID string     `json:"messageUID,omitempty"`
	SentAt     *time.Time `json:"sent_at,omitempty"`
	Waited     string     `json:"waited,omitempty"` // sent_at - scheduled_for, when deferred
	Recipients []string   `json:"recipients,omitempty"`
}

func newDemoCmd(g *globals) *cobra.Command {
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "demo [--duration D]",
		Short: "see tagcast work end to end in one process, on embedded defaults and a local emulator",
		Long: `Runs everything in this process on the embedded defaults, nothing leaves the
machine: the push service emulator and the admin API on free loopback ports, an
in-process Redis, a SQLite file in a temporary directory, the scheduler, the
reconciler and the worker. It registers users and tags through the admin
API, creates the example campaigns (examples/, their times moved to now: one
now, one a few seconds ahead, one recurring every second for two fires),
and shows live progress: runs, sends, messageUIDs, the quota used and its
next opening.

The app has the service's default quota, 2 pushes an hour and 3 a day, so
the third push is deferred to the next hour and the fourth to the next day.
TIME IS SIMULATED: the clock every part reads starts at 10:00 Asia/Shanghai
today, runs at real speed, and jumps ahead when every remaining send waits
for a quota window, so you see the deferred sends go out without waiting
(a real deployment waits).

The scenario fits in --duration; once it has settled the admin API stays up
until --duration has passed. At the end the demo checks every send of the
store against what the emulator received: exit 0 when each was sent exactly
once and none before its run's instant, 1 when anything was lost, duplicated
or early (or did not settle within
--duration plus a minute), 130 after Ctrl-C while the scenario runs (a clean
stop; once it has settled, Ctrl-C ends the demo with the check's code).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.configPath != "" {
				// The demo is the embedded defaults by design; say so
				// rather than leave a config seemingly in effect.
				fmt.Fprintf(cmd.ErrOrStderr(), "note: the demo runs on embedded defaults; --config %s is not read\n", g.configPath)
			}
			if duration <= 0 {
				return usageError("--duration: must be positive, got %s", duration)
			}
			rep, err := runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), duration, g.output == "json")
			if rep != nil && g.output == "json" {
				if werr := writeJSON(cmd.OutOrStdout(), rep); werr != nil && err == nil {
					err = werr
				}
			}
			switch {
			case err != nil:
				return &exitError{code: 1, err: fmt.Errorf("demo: %w", err)}
			case rep.Interrupted:
				return &exitError{code: demoExitInterrupted, err: errors.New("demo: interrupted; stopped cleanly")}
			case !rep.OK:
				return &exitError{code: 1, err: fmt.Errorf("demo: %s", strings.Join(rep.Problems, "; "))}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&duration, "duration", DefaultDemoDuration, "how long the demo runs; its scenario is scaled to fit")
	// Shadows the global --config: the demo reads no config file.
	cmd.Flags().StringVar(&g.configPath, "config", "", "not read: the demo runs on embedded defaults")
	return cmd
}

// demo is one run of the demo.
type demo struct {
	out     io.Writer
	quiet   bool // --output json: only the report
	clock   *demoClock
	emu     *emulator.Emulator
	api     *admin.Client
	started time.Time // real
	rep     *demoReport

	// what was already shown, by send id and by key
	shownSend  map[int64]string
	shownQuota string
}

func (dm *demo) say(format string, a ...any) {
	if !dm.quiet {
		fmt.Fprintf(dm.out, format+"\n", a...)
	}
}

// demoZone is the zone the demo's times are shown in: the quota's default
// time zone, where the calendar day of the day window begins.
var demoZone = func() *time.Location {
	loc, err := time.LoadLocation(config.DefaultQuotaTimezone)
	if err != nil {
		return time.UTC // unreachable: main embeds time/tzdata
	}
	return loc
}()

// demoStart is where the demo's simulated time starts: 10:00 today in
// demoZone, so every run shows the same story (the day window resets at
// midnight there, 14 hours later).
func demoStart(now time.Time) time.Time {
	y, m, d := now.In(demoZone).Date()
	return time.Date(y, m, d, 10, 0, 0, 0, demoZone)
}

// sim formats a simulated instant for the terminal.
func sim(t time.Time) string { return t.In(demoZone).Format("01-02 15:04:05") }

// runDemo runs the demo; progress goes to out unless asJSON. The report is
// nil only when the demo could not start.
func runDemo(ctx context.Context, out, errOut io.Writer, duration time.Duration, asJSON bool) (*demoReport, error) {
	dm := &demo{out: out, quiet: asJSON, clock: newDemoClock(demoStart(time.Now())), started: time.Now(), shownSend: map[int64]string{}}
	log := zerolog.New(zerolog.ConsoleWriter{Out: errOut, NoColor: true, TimeFormat: time.TimeOnly}).Level(zerolog.WarnLevel).
		With().Timestamp().Logger()
	secret, err := randomHex(16)
	if err != nil {
		return nil, err
	}
	token, err := randomHex(16)
	if err != nil {
		return nil, err
	}
	t0 := dm.clock.Now()
	dm.rep = &demoReport{SimulatedTime: true, SimStart: t0, AdminToken: token, Problems: []string{}}

	// The emulator, on the demo's clock, with the service's default quota.
	q := config.DefaultApp().Quota
	emu, err := emulator.New(emulator.Config{Seed: 1, Apps: []emulator.AppConfig{{
		AppKey: demoAppKey, Secret: secret,
		Quota: emulator.Quota{Hourly: q.Hourly, Daily: q.Daily, HourWindow: q.HourWindow, DayWindow: q.DayWindow, Timezone: q.Timezone},
	}}}, emulator.WithClock(dm.clock.Now), emulator.WithLogger(log.With().Str("component", "emulator").Logger()))
	if err != nil {
		return nil, err
	}
	dm.emu = emu
	emuLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	emuSrv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	emuDone := make(chan struct{})
	go func() { defer close(emuDone); _ = emuSrv.Serve(emuLn) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = emuSrv.Shutdown(sctx)
		<-emuDone
	}()
	dm.rep.Emulator = "http://" + emuLn.Addr().String()

	dir, err := os.MkdirTemp("", "tagcast-demo-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()

	cfg := demoConfig(dm.rep.Emulator, secret, token, filepath.Join(dir, "tagcast.db"))
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &deps{cfg: cfg, log: log, clock: dm.clock}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	p, err := startProcess(ctx, d, roleSet{scheduler: true, worker: true, api: true}, roleOptions{
		listener: apiLn, reconcileInterval: 2 * time.Second, delayedTaskCheck: 250 * time.Millisecond,
		// Every fire of the scenario is claimed as soon as its campaign is
		// created: on a loaded machine a scheduler pass late by more than a
		// second would otherwise find the recurring campaign's first fire
		// past and skip it (`missed: skip`), and the demo would end a run short.
		lookahead: 10 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		_ = p.stop() // logged; the demo's verdict is its check of the store
		_ = d.close()
	}()
	dm.rep.AdminURL = p.adminURL
	if dm.api, err = admin.NewClient(p.adminURL, token, &http.Client{Timeout: 10 * time.Second}); err != nil {
		return nil, err
	}

	dm.say("tagcast demo: every part runs in this process on the embedded defaults; nothing leaves this machine.")
	dm.say("  push service  emulator at %s, App Key %s: quota %d/hour (%s), %d/day (%s, %s)",
		dm.rep.Emulator, demoAppKey, q.Hourly, q.HourWindow, q.Daily, q.DayWindow, q.Timezone)
	dm.say("  store         SQLite %s", filepath.Join(dir, "tagcast.db"))
	dm.say("  redis         embedded, in-process")
	dm.say("  roles         scheduler, reconciler, worker; admin API at %s", p.adminURL)
	dm.say("  TIME IS SIMULATED: it starts at 10:00 %s, runs at real speed and jumps ahead when every", demoZone)
	dm.say("  remaining send waits for a quota window, so deferred sends go out without waiting an hour.")

	err = dm.scenario(ctx, duration)
	dm.rep.SimEnd = dm.clock.Now()
	dm.rep.Jumped = (dm.rep.SimEnd.Sub(dm.rep.SimStart) - time.Since(dm.started)).Round(time.Second).String()
	if err != nil && !dm.rep.Interrupted {
		dm.rep.Problems = append(dm.rep.Problems, err.Error())
	}
	dm.verify(ctx)
	dm.rep.WallSeconds = time.Since(dm.started).Round(10 * time.Millisecond).Seconds()
	dm.summary(duration)
	if !dm.rep.Interrupted {
		if rest := duration - time.Since(dm.started); rest > 0 {
			dm.say("    The admin API stays up for %s more (--duration %s); Ctrl-C stops it now.", rest.Round(time.Second), duration)
			select {
			case <-ctx.Done():
			case <-time.After(rest):
			}
		}
	}
	dm.rep.WallSeconds = time.Since(dm.started).Round(10 * time.Millisecond).Seconds()
	return dm.rep, nil
}

// demoConfig is the demo's configuration: the embedded defaults (no Redis
// URL, a SQLite file), one app on the emulator with the default quota, and
// short intervals so the terminal shows progress promptly.
func demoConfig(emuURL, secret, token, dbPath string) *config.Config {
	cfg := config.Default()
	app := config.DefaultApp()
	app.Name, app.AppKey, app.Secret, app.Hosts = demoApp, demoAppKey, config.NewSecret(secret), []string{emuURL}
	app.Timeout = 5 * time.Second
	cfg.Apps = []config.App{app}
	cfg.Database.URL = "sqlite://" + dbPath
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.Admin.Tokens = []config.Secret{config.NewSecret(token)}
	cfg.Scheduler.Interval = 250 * time.Millisecond
	cfg.Worker.Concurrency = 4
	cfg.Worker.ShutdownTimeout = config.BeforeCall + app.Timeout // a call under way at a stop may finish
	cfg.Worker.InlineWait = 3 * time.Second
	cfg.Worker.SnoozeLead = 500 * time.Millisecond
	cfg.Worker.MaxSnooze = 2 * time.Second
	cfg.Log = config.Log{Level: "warn", Format: config.LogFormatConsole}
	return cfg
}

// scenario registers users, creates the campaigns and follows them until
// they have settled.
func (dm *demo) scenario(ctx context.Context, duration time.Duration) error {
	dm.say("\n==> Users and tags, through the admin API's tag endpoints")
	var ids []string
	for _, u := range demoUsers {
		var err error
		if len(u.ids) > 1 {
			_, err = dm.api.BatchSetUserTags(ctx, demoApp, u.ids, u.tags)
			dm.say("    batch set %-10s tags %s", strings.Join(u.ids, ","), strings.Join(u.tags, ","))
		} else {
			_, err = dm.api.SetUserTags(ctx, demoApp, u.ids[0], u.tags)
			dm.say("    set       %-10s tags %s", u.ids[0], strings.Join(u.tags, ","))
		}
		if err != nil {
			return dm.stopped(ctx, fmt.Errorf("registering %s: %w", strings.Join(u.ids, ","), err))
		}
		ids = append(ids, u.ids...)
	}
	tags, err := dm.api.GetUserTags(ctx, demoApp, ids)
	if err != nil {
		return dm.stopped(ctx, fmt.Errorf("reading the tags back: %w", err))
	}
	dm.say("    read back the tags of %d users", len(tags.Users))

	// The scenario is scaled to --duration: at 15 s and more the second
	// campaign fires about 3 s after the campaigns are created and the
	// recurring one 3 s later, twice; at least a second apart.
	step := max(min(duration/5, 3*time.Second), time.Second)
	// Each instant is taken as its campaign is created, a step ahead of the
	// clock then: on a loaded machine a creation can take longer than a
	// step, and a fire computed earlier would already have passed (the
	// recurring campaign skips missed fires).
	var at time.Time
	files := []struct {
		source, name string
		edit         func(doc map[string]any)
	}{
		{"marketing-broadcast.yaml", "winter-sale (now)", func(doc map[string]any) {
			doc["schedule"] = map[string]any{"now": true, "missed": "once", "deliver_within": "2h"}
		}},
		{"marketing-broadcast.yaml", "flash-sale (a few seconds ahead)", func(doc map[string]any) {
			at = campaign.CeilSecond(dm.clock.Now().Add(step))
			doc["schedule"] = map[string]any{"at": at.Format(time.RFC3339), "missed": "once", "deliver_within": "2h"}
			doc["vars"] = map[string]any{"product": "Silk scarf", "discount": "50%"}
		}},
		{"recurring-announcement.yaml", "maintenance-notice (recurring)", func(doc map[string]any) {
			// Every second for two fires; no deliver_within, so a fire
			// deferred by the quota is still sent when its window opens.
			start := campaign.CeilSecond(at.Add(step))
			if soonest := campaign.CeilSecond(dm.clock.Now().Add(step)); soonest.After(start) {
				start = soonest
			}
			doc["schedule"] = map[string]any{"cron": "* * * * * *", "timezone": "Asia/Shanghai", "missed": "skip",
				"start": start.Format(time.RFC3339), "end": start.Add(2 * time.Second).Format(time.RFC3339)}
		}},
	}
	dm.say("\n==> Campaigns, through the admin API (the files of examples/, their times moved to now)")
	for _, f := range files {
		body, err := demoCampaignFile(f.source, f.name, f.edit)
		if err != nil {
			return err
		}
		c, err := dm.api.CreateCampaign(ctx, body, "application/yaml")
		if err != nil {
			return dm.stopped(ctx, fmt.Errorf("creating %s: %w", f.name, err))
		}
		dc := demoCampaign{ID: c.ID, Name: c.Name, Source: "examples/" + f.source, Schedule: demoSchedule(c.Schedule)}
		dm.rep.Campaigns = append(dm.rep.Campaigns, dc)
		dm.say("    #%d %-33s %s  (from %s)", c.ID, c.Name, dc.Schedule, dc.Source)
	}

	dm.say("\n==> Live progress (simulated time)")
	deadline := dm.started.Add(duration + demoSettleGrace)
	idle := 0
	for {
		settled, waitingOnly, err := dm.poll(ctx)
		if err != nil {
			return dm.stopped(ctx, err)
		}
		if settled {
			return nil
		}
		if waitingOnly {
			idle++
		} else {
			idle = 0
		}
		// Two polls in a row where every remaining send waits for the
		// quota (and none is in flight): jump to the next opening.
		if idle >= 2 && dm.rep.Quota != nil {
			now := dm.clock.Now()
			if opens := dm.rep.Quota.NextOpening; opens.After(now) {
				by := opens.Sub(now) + 500*time.Millisecond
				dm.say(">>> %s  every remaining send waits for the quota: SIMULATED time jumps %s to %s",
					sim(now), by.Round(time.Second), sim(now.Add(by)))
				dm.clock.Jump(by)
				idle = 0
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the campaigns did not settle within %s", duration+demoSettleGrace)
		}
		select {
		case <-ctx.Done():
			return dm.stopped(ctx, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopped marks an interruption (Ctrl-C) instead of reporting err.
func (dm *demo) stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		dm.rep.Interrupted = true
		dm.say("\n==> Interrupted: stopping every part cleanly")
		return nil
	}
	return err
}

// poll reads every campaign and the quota through the admin API, prints
// what changed, and reports whether everything has settled, and whether
// every open send is waiting for the quota with none in flight.
func (dm *demo) poll(ctx context.Context) (settled, waitingOnly bool, err error) {
	// The quota first: a slot reserved before this read belongs to a send
	// that is in flight, or recorded, when the campaigns are read below.
	st, err := dm.api.AppQuota(ctx, demoApp)
	if err != nil {
		return false, false, fmt.Errorf("quota: %w", err)
	}
	dm.rep.Quota = &st
	now := dm.clock.Now()
	full := st.NextOpening.After(now.Add(time.Second))
	qline := fmt.Sprintf("hour %d/%d, day %d/%d", st.Hour.Used, st.Hour.Limit, st.Day.Used, st.Day.Limit)
	if full {
		qline += fmt.Sprintf("; next opening %s (%s window)", sim(st.NextOpening), constraintOf(st))
	}
	if qline != dm.shownQuota {
		dm.shownQuota = qline
		dm.say("    %s  quota   %s", sim(now), qline)
	}

	settled, waitingOnly = true, full
	open := 0
	for i := range dm.rep.Campaigns {
		dc := &dm.rep.Campaigns[i]
		// Every run (the demo's campaigns have a few), a page at a time,
		// oldest first as the report lists them.
		det, err := dm.api.GetCampaignAll(ctx, dc.ID, 0)
		if err != nil {
			return false, false, fmt.Errorf("campaign %d: %w", dc.ID, err)
		}
		slices.Reverse(det.Runs)
		dc.Status = string(det.Status)
		if det.NextRunAt != nil {
			settled, waitingOnly = false, false // more fires to come
		}
		dc.Runs = dc.Runs[:0]
		for _, r := range det.Runs {
			dr := demoRun{ID: r.ID, ScheduledFor: r.ScheduledFor, Status: string(r.Status)}
			if r.Status == campaign.RunPending || r.Status == campaign.RunRunning {
				settled = false
			}
			for _, s := range r.Sends {
				ds := demoSend{ID: s.ID, Status: string(s.Status), MessageUID: s.MessageUID, SentAt: s.SentAt}
				if s.SentAt != nil && s.SentAt.Sub(r.ScheduledFor) > 2*time.Second {
					ds.Waited = s.SentAt.Sub(r.ScheduledFor).Round(time.Second).String()
				}
				if s.MessageUID != "" {
					ds.Recipients = dm.recipients(s.MessageUID)
				}
				dr.Sends = append(dr.Sends, ds)
				dm.showSend(dc, r.Run, s, ds, now, full, st)
				switch s.Status {
				case campaign.SendPending, campaign.SendRetryWait:
					open++
					if now.Before(r.ScheduledFor) {
						waitingOnly = false
					}
				case campaign.SendInFlight:
					waitingOnly = false
				}
			}
			dc.Runs = append(dc.Runs, dr)
		}
	}
	return settled, waitingOnly && open > 0, nil
}

// showSend prints a send's news: sent (with its messageUID), deferred, or
// another end.
func (dm *demo) showSend(dc *demoCampaign, r campaign.Run, s campaign.Send, ds demoSend, now time.Time, full bool, st quota.Status) {
	key := string(s.Status)
	deferred := full && s.Status == campaign.SendPending && !now.Before(r.ScheduledFor)
	if deferred {
		key = "deferred by the " + constraintOf(st) + " window"
	}
	if dm.shownSend[s.ID] == key || s.Status == campaign.SendInFlight || (s.Status == campaign.SendPending && !deferred) {
		return
	}
	dm.shownSend[s.ID] = key
	who := fmt.Sprintf("#%d %-33s run %d", dc.ID, dc.Name, r.ID)
	switch {
	case deferred:
		dm.say("    %s  %s  DEFERRED: the %s window is full; waits for %s (%s from now)",
			sim(now), who, constraintOf(st), sim(st.NextOpening), st.NextOpening.Sub(now).Round(time.Second))
	case s.Status == campaign.SendSent:
		waited := ""
		if ds.Waited != "" {
			waited = ", " + ds.Waited + " after its scheduled time"
		}
		dm.say("    %s  %s  sent    messageUID %s to %d users%s", sim(*s.SentAt), who, s.MessageUID, len(ds.Recipients), waited)
	default:
		dm.say("    %s  %s  %s  %s", sim(now), who, s.Status, s.LastMessage)
	}
}

// constraintOf names the window that opens last.
func constraintOf(st quota.Status) string {
	switch {
	case !st.BlockedUntil.IsZero() && !st.BlockedUntil.Before(st.NextOpening):
		return "blocked"
	case st.Day.NextOpening.Equal(st.NextOpening) && st.Day.Remaining == 0:
		return "day"
	}
	return "hour"
}

// recipients are the users the emulator resolved for messageUID.
func (dm *demo) recipients(uid string) []string {
	for _, p := range dm.emu.PushesFor(demoAppKey) {
		if p.MessageUID == uid {
			return p.Recipients
		}
	}
	return nil
}

// verify checks the store against the emulator: every send sent exactly
// once, nothing received that the store does not know, no 429.
func (dm *demo) verify(ctx context.Context) {
	rep := dm.rep
	if _, _, err := dm.poll(context.WithoutCancel(ctx)); err != nil {
		rep.Problems = append(rep.Problems, "reading the final state: "+err.Error())
	}
	received := map[string]int{}
	arrived := map[string]time.Time{} // messageUID → when the emulator took it
	pushes := dm.emu.PushesFor(demoAppKey)
	for _, p := range pushes {
		received[p.MessageUID]++
		arrived[p.MessageUID] = p.ReceivedAt
	}
	rep.Pushes = len(pushes)
	rep.RateLimited = dm.emu.Counters(demoAppKey).RateLimited
	known := map[string]bool{}
	rep.Runs, rep.Sent, rep.Deferred = 0, 0, 0
	for _, c := range rep.Campaigns {
		for _, r := range c.Runs {
			rep.Runs++
			for _, s := range r.Sends {
				if s.Waited != "" {
					rep.Deferred++
				}
				switch {
				case s.Status != string(campaign.SendSent):
					if !rep.Interrupted {
						rep.Problems = append(rep.Problems, fmt.Sprintf("campaign %d run %d send %d ended %s", c.ID, r.ID, s.ID, s.Status))
					}
				case received[s.MessageUID] == 0:
					rep.Problems = append(rep.Problems, fmt.Sprintf("lost: campaign %d run %d send %d: the emulator never received messageUID %s", c.ID, r.ID, s.ID, s.MessageUID))
				case received[s.MessageUID] > 1:
					rep.Problems = append(rep.Problems, fmt.Sprintf("duplicated: messageUID %s received %d times", s.MessageUID, received[s.MessageUID]))
				case arrived[s.MessageUID].Before(r.ScheduledFor):
					rep.Problems = append(rep.Problems, fmt.Sprintf("early: campaign %d run %d send %d reached the emulator at %s, before its run's instant %s",
						c.ID, r.ID, s.ID, sim(arrived[s.MessageUID]), sim(r.ScheduledFor)))
				default:
					rep.Sent++
				}
				known[s.MessageUID] = true
			}
		}
	}
	for _, p := range pushes {
		if !known[p.MessageUID] {
			rep.Problems = append(rep.Problems, fmt.Sprintf("duplicated or unrecorded: the emulator received messageUID %s, which no send of the store has", p.MessageUID))
		}
	}
	if rep.RateLimited > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("the emulator answered 429 %d times: the quota guard let too much through", rep.RateLimited))
	}
	if want := 4; !rep.Interrupted && rep.Runs != want {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d runs, want %d (1 + 1 + 2 recurring fires)", rep.Runs, want))
	}
	rep.OK = len(rep.Problems) == 0 && !rep.Interrupted
}

// summary prints the end of the demo.
func (dm *demo) summary(duration time.Duration) {
	rep := dm.rep
	dm.say("\n==> Summary")
	dm.say("    %d campaigns, %d runs, %d sends sent (%d deferred to a later quota window)", len(rep.Campaigns), rep.Runs, rep.Sent, rep.Deferred)
	dm.say("    the emulator received %d pushes and answered 429 %d times", rep.Pushes, rep.RateLimited)
	if q := rep.Quota; q != nil {
		next := "room now"
		if q.NextOpening.After(q.At) {
			next = "next opening " + sim(q.NextOpening)
		}
		dm.say("    quota now: hour %d/%d, day %d/%d; %s", q.Hour.Used, q.Hour.Limit, q.Day.Used, q.Day.Limit, next)
	}
	dm.say("    simulated time %s -> %s (jumped %s); wall time %.1fs (--duration %s)",
		sim(rep.SimStart), sim(rep.SimEnd), rep.Jumped, rep.WallSeconds, duration)
	if !rep.Interrupted { // else the API is going down with the rest: nothing to try
		dm.say("    admin API     %s   token %s (generated for this run)", rep.AdminURL, rep.AdminToken)
		dm.say("    try           TAGCAST_ADMIN_SERVER=%s TAGCAST_ADMIN_TOKEN=%s go run ./cmd/tagcast campaign list", rep.AdminURL, rep.AdminToken)
		dm.say("                  from another terminal while the API is up (run the demo with --duration 5m for time to)")
		dm.say("    monitoring    %s/monitoring/ (same token)", rep.AdminURL)
	}
	switch {
	case rep.Interrupted:
		dm.say("    INTERRUPTED: stopped cleanly (exit %d)", demoExitInterrupted)
	case rep.OK:
		dm.say("    OK: every send went out exactly once, none before its run's instant, with its messageUID recorded; nothing lost, nothing duplicated")
	default:
		dm.say("    FAILED:")
		for _, p := range rep.Problems {
			dm.say("      - %s", p)
		}
	}
}

// demoCampaignFile is an example campaign file with a new name and its
// schedule (and vars) changed by edit.
func demoCampaignFile(source, name string, edit func(doc map[string]any)) ([]byte, error) {
	data, err := fs.ReadFile(examples.Files(), source)
	if err != nil {
		return nil, fmt.Errorf("examples/%s: %w", source, err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("examples/%s: %w", source, err)
	}
	doc["name"] = name
	edit(doc)
	return yaml.Marshal(doc)
}

// demoSchedule is a schedule in a few words, times simulated.
func demoSchedule(s campaign.Schedule) string {
	switch {
	case s.Now:
		return "now"
	case s.At != nil:
		return "at " + sim(*s.At)
	case s.Cron != "":
		d := fmt.Sprintf("cron %q", s.Cron)
		if s.Start != nil && s.End != nil {
			d += fmt.Sprintf(" from %s to %s", sim(*s.Start), s.End.In(demoZone).Format("15:04:05"))
		}
		return d
	}
	return "?"
}

// randomHex is n random bytes in hex (the demo's App Secret and token).
func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("demo: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}
