package quota

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tagcast/tagcast/internal/calendar"
)

// HourWindow is how an app's hourly limit is counted.
type HourWindow string

// Hour window modes.
const (
	// HourRolling counts the last 60 minutes: a send holds its slot for an
	// hour (the conservative default: the service does not publish its mode).
	HourRolling HourWindow = "rolling"
	// HourClock counts the current clock hour in the app's time zone.
	HourClock HourWindow = "clock"
)

// DayWindow is how an app's daily limit is counted.
type DayWindow string

// Day window modes.
const (
	// DayCalendar counts the current calendar day (local midnight to
	// midnight, DST-aware) in the app's time zone: the service's 自然日.
	DayCalendar DayWindow = "calendar"
	// DayRolling counts the last 24 hours.
	DayRolling DayWindow = "rolling"
)

// Defaults of a Policy: the service's published quota and the conservative
// window modes.
const (
	DefaultHourly   = 2
	DefaultDaily    = 3
	DefaultTimezone = "Asia/Shanghai"
)

// Policy is one app's quota: limits and how its windows are counted. Limits
// can be raised by contract, so they are per-app settings, never constants.
type Policy struct {
	Hourly     int
	Daily      int
	HourWindow HourWindow // "" means HourRolling
	DayWindow  DayWindow  // "" means DayCalendar
	Timezone   string     // IANA name; "" means DefaultTimezone
}

// DefaultPolicy is the service's standard quota: 2 an hour (rolling), 3 a
// calendar day in Asia/Shanghai.
func DefaultPolicy() Policy {
	return Policy{Hourly: DefaultHourly, Daily: DefaultDaily, HourWindow: HourRolling, DayWindow: DayCalendar, Timezone: DefaultTimezone}
}

// withDefaults fills the empty modes and time zone.
func (p Policy) withDefaults() Policy {
	if p.HourWindow == "" {
		p.HourWindow = HourRolling
	}
	if p.DayWindow == "" {
		p.DayWindow = DayCalendar
	}
	if p.Timezone == "" {
		p.Timezone = DefaultTimezone
	}
	return p
}

// PolicyError lists every problem of a Policy, each as "path: rule".
type PolicyError struct {
	Problems []string
}

func (e *PolicyError) Error() string { return "invalid quota: " + strings.Join(e.Problems, "; ") }

// Validate reports every problem at once; path prefixes the field names
// (e.g. "apps[0].quota").
func (p Policy) Validate(path string) error {
	_, err := p.resolve(path)
	return err
}

// resolved is a validated Policy with its time zone loaded.
type resolved struct {
	Policy
	loc *time.Location
}

func (p Policy) resolve(path string) (resolved, error) {
	p = p.withDefaults()
	if path != "" {
		path += "."
	}
	var problems []string
	if p.Hourly < 1 {
		problems = append(problems, fmt.Sprintf("%shourly: must be at least 1, got %d", path, p.Hourly))
	}
	if p.Daily < 1 {
		problems = append(problems, fmt.Sprintf("%sdaily: must be at least 1, got %d", path, p.Daily))
	}
	if p.HourWindow != HourRolling && p.HourWindow != HourClock {
		problems = append(problems, fmt.Sprintf("%shour_window: must be %q or %q, got %q", path, HourRolling, HourClock, p.HourWindow))
	}
	if p.DayWindow != DayCalendar && p.DayWindow != DayRolling {
		problems = append(problems, fmt.Sprintf("%sday_window: must be %q or %q, got %q", path, DayCalendar, DayRolling, p.DayWindow))
	}
	// A host-dependent zone is refused too: workers on differently set
	// hosts would count different hours and days.
	loc, err := calendar.LoadZone(p.Timezone)
	if err != nil {
		problems = append(problems, fmt.Sprintf("%stimezone: %v", path, err))
	}
	if len(problems) > 0 {
		return resolved{}, &PolicyError{Problems: problems}
	}
	return resolved{Policy: p, loc: loc}, nil
}

// window is one quota window evaluated at an instant, as the Lua script
// needs it and as Status reports it.
type window struct {
	limit int
	// countFrom is the lowest reservation time that counts in the window
	// (the margin already applied); exclusive for rolling windows.
	countFrom time.Time
	exclusive bool
	// hold is how long a reservation holds its slot in a rolling window
	// (length + margin); 0 for a fixed window.
	hold time.Duration
	// start and reset are the nominal bounds: [start, reset) for a fixed
	// window; (now-length, now] for a rolling one (reset is then zero).
	start, reset time.Time
}

// hourWindow is the app's hour window at now.
func (r resolved) hourWindow(now time.Time, margin time.Duration) window {
	if r.HourWindow == HourClock {
		start := clockHourStart(now, r.loc)
		return fixedWindow(r.Hourly, start, start.Add(time.Hour), margin)
	}
	return rollingWindow(r.Hourly, now, time.Hour, margin)
}

// dayWindow is the app's day window at now.
func (r resolved) dayWindow(now time.Time, margin time.Duration) window {
	if r.DayWindow == DayCalendar {
		start, next := calendarDay(now, r.loc)
		return fixedWindow(r.Daily, start, next, margin)
	}
	return rollingWindow(r.Daily, now, 24*time.Hour, margin)
}

// nextHourWindow is the fixed hour window after w (the zero window, reset
// zero, after a rolling one): the reservations within the margin before
// w's reset count in it too, so w's opening is its reset only if they
// leave it room.
func (r resolved) nextHourWindow(w window, margin time.Duration) window {
	if w.reset.IsZero() {
		return window{}
	}
	return r.hourWindow(w.reset, margin)
}

// nextDayWindow is nextHourWindow for the day window.
func (r resolved) nextDayWindow(w window, margin time.Duration) window {
	if w.reset.IsZero() {
		return window{}
	}
	return r.dayWindow(w.reset, margin)
}

// fixedWindow is [start, reset). A reservation up to margin before start
// still counts: its request may reach the service after the boundary.
func fixedWindow(limit int, start, reset time.Time, margin time.Duration) window {
	return window{limit: limit, countFrom: start.Add(-margin), start: start, reset: reset}
}

// rollingWindow holds each reservation's slot for length + margin.
func rollingWindow(limit int, now time.Time, length, margin time.Duration) window {
	hold := length + margin
	return window{limit: limit, countFrom: now.Add(-hold), exclusive: true, hold: hold, start: now.Add(-length)}
}

// zcountMin renders countFrom as a ZCOUNT/ZRANGEBYSCORE bound.
func (w window) zcountMin() string {
	ms := fmt.Sprint(w.countFrom.UnixMilli())
	if w.exclusive {
		return "(" + ms
	}
	return ms
}

// clockHourStart is the start of the clock hour containing now in loc
// (handles zones with half-hour offsets; across a DST change the local hour
// is the one the wall clock shows).
func clockHourStart(now time.Time, loc *time.Location) time.Time {
	lt := now.In(loc)
	into := time.Duration(lt.Minute())*time.Minute + time.Duration(lt.Second())*time.Second + time.Duration(lt.Nanosecond())
	return now.Add(-into)
}

// calendarDay is the local day containing now in loc: its first instant
// and the next day's (see calendar.Day).
func calendarDay(now time.Time, loc *time.Location) (start, next time.Time) {
	return calendar.Day(now, loc)
}

// NextBoundary is the next instant after now at which one of the policy's
// windows starts afresh: the next clock hour (or now + 1 hour for a rolling
// hour, when every send of the last hour has left it), or the next local
// midnight for a calendar day, whichever comes first. After a 429/1008 the
// service's own windows are unknown, so this is when retrying makes sense.
func (p Policy) NextBoundary(now time.Time) (time.Time, error) {
	r, err := p.resolve("")
	if err != nil {
		return time.Time{}, err
	}
	return r.nextBoundary(now), nil
}

func (r resolved) nextBoundary(now time.Time) time.Time {
	hour := now.Add(time.Hour)
	if r.HourWindow == HourClock {
		hour = clockHourStart(now, r.loc).Add(time.Hour)
	}
	day := now.Add(24 * time.Hour)
	if r.DayWindow == DayCalendar {
		_, day = calendarDay(now, r.loc)
	}
	if day.Before(hour) {
		return day
	}
	return hour
}

// ErrUnknownApp is returned for an app the Guard has no Policy for.
var ErrUnknownApp = errors.New("quota: unknown app")
