package campaign

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tagcast/tagcast/internal/calendar"
)

// cronParser accepts 5 fields, an optional leading seconds field,
// descriptors (@daily, @every 1h) and a CRON_TZ= or TZ= prefix.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a cron spec and resolves its time zone: a CRON_TZ=/TZ=
// prefix wins, then timezone, then UTC (timezone must name a zone even when
// a prefix wins). robfig/cron panics on some malformed
// specs; the panic is turned into an error.
func ParseCron(spec, timezone string) (sched cron.Schedule, loc *time.Location, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, loc, err = nil, nil, fmt.Errorf("invalid cron spec %q: %v", spec, r)
		}
	}()
	loc = time.UTC
	if timezone != "" {
		if loc, err = LoadZone(timezone); err != nil {
			return nil, nil, err
		}
	}
	if z, ok := cronTZ(spec); ok {
		// robfig slices past a missing space (and panics) and takes an
		// empty zone for UTC: both are refused by their rule first.
		if z == "" {
			return nil, nil, fmt.Errorf("invalid cron spec %q: CRON_TZ= (or TZ=) needs a zone name, e.g. CRON_TZ=Asia/Tokyo 0 9 * * *", spec)
		}
		if _, fields, _ := strings.Cut(strings.TrimSpace(spec), " "); strings.TrimSpace(fields) == "" {
			return nil, nil, fmt.Errorf("invalid cron spec %q: needs the cron fields after its zone, e.g. %s 0 9 * * *", spec, strings.TrimSpace(spec))
		}
		if loc, err = LoadZone(z); err != nil {
			return nil, nil, fmt.Errorf("%w in the spec", err)
		}
	}
	if sched, err = cronParser.Parse(spec); err != nil {
		if field := badCronField(spec); field != "" {
			return nil, nil, fmt.Errorf("invalid cron spec %q: %s field: %w", spec, field, err)
		}
		return nil, nil, fmt.Errorf("invalid cron spec %q: %w", spec, err)
	}
	if _, every := sched.(cron.ConstantDelaySchedule); every {
		// robfig makes any delay under a second one second and drops
		// fractions: "@every -1h" would fire every second.
		_, text, _ := strings.Cut(spec, "@every")
		d, err := time.ParseDuration(strings.TrimSpace(text))
		if err != nil || d < time.Second || d%time.Second != 0 {
			return nil, nil, fmt.Errorf("invalid cron spec %q: @every needs a whole number of seconds, at least 1s", spec)
		}
	}
	return sched, loc, nil
}

// cronFields names the fields of a 5-field spec, and of a 6-field one
// (seconds first).
var cronFields = map[int][]string{
	5: {"minute", "hour", "day-of-month", "month", "day-of-week"},
	6: {"second", "minute", "hour", "day-of-month", "month", "day-of-week"},
}

// badCronField names the first field of spec that robfig refuses on its
// own (every other field "*"), or "" when none does alone; robfig's errors
// ("end of range (61) above maximum (23): 61") do not say which field.
func badCronField(spec string) string {
	fields := strings.Fields(spec)
	if len(fields) > 0 && (strings.HasPrefix(fields[0], "CRON_TZ=") || strings.HasPrefix(fields[0], "TZ=")) {
		fields = fields[1:]
	}
	names, ok := cronFields[len(fields)]
	if !ok {
		return ""
	}
	for i := range fields {
		probe := make([]string, len(fields))
		for j := range probe {
			probe[j] = "*"
		}
		probe[i] = fields[i]
		if _, err := parseQuietly(strings.Join(probe, " ")); err != nil {
			return names[i]
		}
	}
	return ""
}

// parseQuietly is cronParser.Parse with a panic turned into an error.
func parseQuietly(spec string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return cronParser.Parse(spec)
}

// cronTZ returns the zone of a CRON_TZ= or TZ= prefix.
func cronTZ(spec string) (string, bool) {
	spec = strings.TrimSpace(spec)
	for _, p := range []string{"CRON_TZ=", "TZ="} {
		if strings.HasPrefix(spec, p) {
			z, _, _ := strings.Cut(spec[len(p):], " ")
			return z, true
		}
	}
	return "", false
}

// Location is the zone the schedule's local times (cron fields and
// templates' .FireTime) are in.
func (s Schedule) Location() (*time.Location, error) {
	if s.Cron != "" {
		_, loc, err := ParseCron(s.Cron, s.Timezone)
		return loc, err
	}
	if s.Timezone == "" {
		return time.UTC, nil
	}
	return LoadZone(s.Timezone)
}

// LoadZone loads an IANA time zone by name. "Local" is refused: it is each
// host's own TZ setting, so replicas on differently set hosts would fire the
// same campaign at different instants.
func LoadZone(name string) (*time.Location, error) { return calendar.LoadZone(name) }

// FirstFire is the first fire of a schedule created at now (its first
// next_run_at); ok is false when it never fires.
func (s Schedule) FirstFire(now time.Time) (t time.Time, ok bool, err error) {
	switch s.Kind() {
	case "now":
		return now.UTC(), true, nil
	case "at":
		return s.At.UTC(), true, nil
	}
	return s.NextAfter(now)
}

// NextAfter is the first fire strictly after t, in UTC; ok is false when the
// schedule has no fire after t (a one-off already past, a cron past its end
// or with no time within five years). It is the one fire-time calculator:
// file validation, the scheduler and SimplePlan all use it.
//
// robfig/cron only lists a cron's wall-clock times; each is mapped to the
// instant it fires at in the schedule's zone, with two daylight saving rules:
// a wall-clock time repeated when clocks fall back fires once, at its first
// occurrence; a time skipped when clocks spring forward fires at the jump
// (several skipped times become one fire). @every schedules are durations
// and unaffected; with a Start they fire at Start (its whole second), then
// every duration after. Fires are at or after Start and strictly before End.
func (s Schedule) NextAfter(t time.Time) (next time.Time, ok bool, err error) {
	switch s.Kind() {
	case "now":
		return time.Time{}, false, nil
	case "at":
		if s.At.After(t) {
			return s.At.UTC(), true, nil
		}
		return time.Time{}, false, nil
	}
	sched, loc, err := ParseCron(s.Cron, s.Timezone)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("schedule.cron: %w", err)
	}
	next, ok = s.nextCronFire(sched, loc, t)
	return next, ok, nil
}

// nextCronFire is NextAfter for a cron schedule, given its parsed spec and
// zone (LatestFire parses them once for all its calls).
func (s Schedule) nextCronFire(sched cron.Schedule, loc *time.Location, t time.Time) (next time.Time, ok bool) {
	beforeStart := s.Start != nil && t.Before(*s.Start)
	switch spec, isSpec := sched.(*cron.SpecSchedule); {
	case isSpec && beforeStart:
		next, ok = nextWallClock(*spec, loc, s.Start.Add(-time.Nanosecond))
	case isSpec:
		next, ok = nextWallClock(*spec, loc, t)
	case s.Start != nil:
		// @every counts from the start: its first fire is the start's
		// whole second (robfig's fires are whole seconds), then every d;
		// past it, the next point of that grid whenever asked (a campaign
		// created after its start, or a late claim).
		// (robfig's Delay is at least a second.)
		next, ok = CeilSecond(*s.Start), true
		if d := sched.(cron.ConstantDelaySchedule).Delay; !t.Before(next) {
			next = gridPoint(next, d, gridSteps(next, t, d)+1)
		}
	default:
		next = sched.Next(t.In(loc))
		ok = !next.IsZero()
	}
	if !ok || (s.End != nil && !next.Before(*s.End)) {
		return time.Time{}, false
	}
	return next.UTC(), true
}

// gridSteps is how many whole steps of d fit between origin and t (t not
// before origin): floor((t − origin) / d). It counts in seconds, as robfig's
// delays are whole seconds, so that an origin centuries back does not meet
// the ±292-year range of a time.Duration (t.Sub saturates there, and the
// grid came out centuries early and off its points).
func gridSteps(origin, t time.Time, d time.Duration) int64 {
	if d%time.Second != 0 {
		return int64(t.Sub(origin) / d) // not robfig's; near origins only
	}
	// The fraction of a second left over cannot reach the next multiple
	// of a whole-second step.
	secs := t.Unix() - origin.Unix()
	if t.Nanosecond() < origin.Nanosecond() {
		secs--
	}
	return secs / int64(d/time.Second)
}

// gridPoint is origin + k·d, without a Duration's range limit.
func gridPoint(origin time.Time, d time.Duration, k int64) time.Time {
	if d%time.Second != 0 {
		return origin.Add(time.Duration(k) * d)
	}
	return time.Unix(origin.Unix()+k*int64(d/time.Second), int64(origin.Nanosecond())).UTC()
}

// maxAmbiguousSteps bounds the wall-clock candidates nextWallClock skips
// because their only (first) occurrence lies before the instant asked about:
// at most one repeated hour of a per-second cron.
const maxAmbiguousSteps = 2 * 3600

// nextWallClock walks the spec's wall-clock times (computed in UTC, where
// no clock ever jumps) and maps each to its instant in loc (calendar.Instant,
// which also places the quota guard's local days), returning the first
// instant strictly after t.
func nextWallClock(spec cron.SpecSchedule, loc *time.Location, t time.Time) (time.Time, bool) {
	spec.Location = time.UTC
	w := calendar.Wall(t, loc)
	for range maxAmbiguousSteps {
		w = spec.Next(w)
		if w.IsZero() {
			return time.Time{}, false
		}
		if at := calendar.Instant(w, loc); at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// FirePlan is what the scheduler decides for one due campaign inside
// Store.ClaimDue.
type FirePlan struct {
	// Fire creates a Run for ScheduledFor; false skips this fire.
	Fire         bool
	ScheduledFor time.Time
	// Next is the new next_run_at; nil marks the campaign done.
	Next *time.Time
}

// PlanFunc decides the fire of a due campaign at now. It keeps schedule
// policy out of the store.
type PlanFunc func(c Campaign, now time.Time) (FirePlan, error)

// errNoNextRun is returned by SimplePlan for a campaign without next_run_at.
var errNoNextRun = errors.New("campaign has no next_run_at")

// SimplePlan returns a PlanFunc that fires a due campaign's latest
// occurrence at or before the now it is given, when that is at most grace
// old; an older fire was missed and follows the campaign's policy: skip
// drops every missed fire (firing only an occurrence still within grace),
// once fires the latest missed occurrence once, unless the next occurrence
// is due within grace (that fire stands for it). Either way next_run_at
// moves past now, so missed fires never come in a burst. A caller claiming
// ahead must not pass its horizon as now (the scheduler plans with its own
// Plan). Tests use it.
func SimplePlan(grace time.Duration) PlanFunc {
	return func(c Campaign, now time.Time) (FirePlan, error) {
		if c.NextRunAt == nil {
			return FirePlan{}, errNoNextRun
		}
		latest, err := c.Schedule.LatestFire(c.NextRunAt.UTC(), now)
		if err != nil {
			return FirePlan{}, err
		}
		missed := now.Sub(latest) > grace
		plan := FirePlan{ScheduledFor: latest, Fire: !missed || c.Schedule.Missed == MissedOnce}
		next, ok, err := c.Schedule.NextAfter(latest)
		if err != nil {
			return FirePlan{}, err
		}
		if ok {
			plan.Next = &next
			if missed && next.Sub(now) <= grace {
				plan.Fire = false
			}
		}
		return plan, nil
	}
}

// maxCatchUpSteps bounds LatestFire's calculations. Its probe doubles from
// a second (34 doublings pass a Duration's 292 years) and its search halves
// what the probe left in whole seconds (as many again): reaching the bound
// is a bug, reported as an error rather than a hung claim.
const maxCatchUpSteps = 256

// LatestFire is the latest occurrence of s in [due, now], due being one (due
// itself when it is after now). It probes back from now in doubling steps
// for the most recent stretch holding a fire, then halves that stretch, so
// a long downtime of a dense cron costs a few dozen calculations, not one
// per missed occurrence; it gives what walking NextAfter fire by fire from
// due would. An @every schedule's occurrences are due, due+d, due+2d, ...
// (each fire counts from the one before), so its latest one is computed,
// not probed for: a probe would start a grid of its own.
func (s Schedule) LatestFire(due, now time.Time) (time.Time, error) {
	if s.Kind() != "cron" {
		return due, nil
	}
	sched, loc, err := ParseCron(s.Cron, s.Timezone)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule.cron: %w", err)
	}
	// Fires are strictly before the end: past it, look back from the end,
	// not from now (a dense cron would be walked fire by fire up to it).
	if s.End != nil && !s.End.After(now) {
		now = s.End.Add(-time.Nanosecond)
	}
	if !now.After(due) {
		return due, nil
	}
	if every, isEvery := sched.(cron.ConstantDelaySchedule); isEvery {
		return gridPoint(due, every.Delay, gridSteps(due, now, every.Delay)), nil
	}
	// firesBy reports the first fire after from when it is at or before now.
	firesBy := func(from time.Time) (time.Time, bool) {
		x, ok := s.nextCronFire(sched, loc, from)
		return x, ok && !x.After(now)
	}
	// Invariants: latest is a fire at or before now, and no fire is in
	// (quiet, now]; the latest fire is then in [latest, quiet]. The probe
	// narrows [due, now] to the stretch between its last two looks back.
	latest, quiet := due, now
	steps := 0
	for back := time.Second; ; back *= 2 {
		steps++
		from := now.Add(-back)
		if !from.After(latest) || back <= 0 {
			break
		}
		if x, ok := firesBy(from); ok {
			latest = x
			break
		}
		quiet = from
	}
	// Narrow [latest, quiet]: the first fire after a point in it either is
	// at or before now (and becomes latest, past the point) or is not (and
	// the point becomes quiet); a fire after latest would be in
	// (latest, quiet]. The first point is latest itself, one step as in a
	// walk, which settles a sparse cron's catch-up; then the middle, in
	// whole seconds as fires are (any point would do, these halve).
	for mid := latest; latest.Before(quiet); mid = latest.Add(quiet.Sub(latest) / 2).Truncate(time.Second) {
		if steps++; steps > maxCatchUpSteps {
			return time.Time{}, fmt.Errorf("no latest occurrence between %s and %s in %d steps", due.Format(time.RFC3339),
				now.Format(time.RFC3339), maxCatchUpSteps)
		}
		if mid.Before(latest) {
			mid = latest
		}
		if x, ok := firesBy(mid); ok {
			latest = x
		} else {
			quiet = mid
		}
	}
	return latest, nil
}

// CeilSecond rounds t up to a whole second (robfig's fires, and asynq's
// scheduled tasks, are whole seconds).
func CeilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}
