package emulator

import (
	"slices"
	"time"

	"github.com/tagcast/tagcast/internal/calendar"
)

// ledger holds the instants of the calls counted against one quota, in
// ascending order, so counting a window is two binary searches.
type ledger struct {
	at []time.Time
}

// add records a call at t (usually the latest instant, so an append).
func (l *ledger) add(t time.Time) {
	i, _ := slices.BinarySearchFunc(l.at, t, func(e, t time.Time) int {
		if e.After(t) {
			return 1
		}
		return -1 // equal instants go after the existing ones
	})
	l.at = slices.Insert(l.at, i, t)
}

// firstAfter is the index of the first instant strictly after t.
func (l *ledger) firstAfter(t time.Time) int {
	i, _ := slices.BinarySearchFunc(l.at, t, func(e, t time.Time) int {
		if e.After(t) {
			return 1
		}
		return -1
	})
	return i
}

// between returns the instants s with from < s <= to (shared backing array).
func (l *ledger) between(from, to time.Time) []time.Time {
	return l.at[l.firstAfter(from):l.firstAfter(to)]
}

// prune forgets instants at or before t.
func (l *ledger) prune(t time.Time) {
	if i := l.firstAfter(t); i > 0 {
		l.at = slices.Delete(l.at, 0, i)
	}
}

// keep is how long a ledger must remember a call: the longest window (a
// calendar day is at most 25 hours long across a DST change) with margin.
const keep = 48 * time.Hour

// window is one quota window at an instant: the counted calls, its limit and
// when a slot opens again if it is full.
type window struct {
	Start, End time.Time // the window's bounds: calls in (Start, End] count for rolling, [Start, End) for clock/calendar
	Used       int
	Limit      int
	OpensAt    time.Time // == now when there is room
}

// quotaWindows evaluates an app's two windows at now.
type quotaWindows struct {
	q   Quota
	loc *time.Location
}

// hour returns the hour window at now.
func (w quotaWindows) hour(l *ledger, now time.Time) window {
	if w.q.HourWindow == HourWindowClock {
		lt := now.In(w.loc)
		start := lt.Add(-time.Duration(lt.Minute())*time.Minute - time.Duration(lt.Second())*time.Second - time.Duration(lt.Nanosecond()))
		return fixed(l, now, start, start.Add(time.Hour), w.q.Hourly)
	}
	return rolling(l, now, time.Hour, w.q.Hourly)
}

// day returns the day window at now.
func (w quotaWindows) day(l *ledger, now time.Time) window {
	if w.q.DayWindow == DayWindowCalendar {
		start, end := calendar.Day(now, w.loc) // midnight, or the jump where DST skips it
		return fixed(l, now, start, end, w.q.Daily)
	}
	return rolling(l, now, 24*time.Hour, w.q.Daily)
}

// fixed is a window [start, end) that resets at end; only calls up to now count.
func fixed(l *ledger, now, start, end time.Time, limit int) window {
	used := len(l.between(start.Add(-1), now))
	opens := now
	if used >= limit {
		opens = end
	}
	return window{Start: start, End: end, Used: used, Limit: limit, OpensAt: opens}
}

// rolling is the window (now-length, now]: a call at t holds its slot until
// t+length exclusive.
func rolling(l *ledger, now time.Time, length time.Duration, limit int) window {
	in := l.between(now.Add(-length), now)
	used := len(in)
	opens := now
	if used >= limit {
		// After in[used-limit] expires, used-limit+... calls remain: limit-1.
		opens = in[used-limit].Add(length)
	}
	return window{Start: now.Add(-length), End: now, Used: used, Limit: limit, OpensAt: opens}
}

// room reports whether both windows have room at now.
func (w quotaWindows) room(l *ledger, now time.Time) bool {
	return w.hour(l, now).Used < w.q.Hourly && w.day(l, now).Used < w.q.Daily
}

// nextOpening is the earliest instant at or after now when both windows have
// room, assuming no further calls.
func (w quotaWindows) nextOpening(l *ledger, now time.Time) time.Time {
	t := now
	for range 8 { // each step moves past one full window; a few suffice
		h, d := w.hour(l, t), w.day(l, t)
		if h.Used < h.Limit && d.Used < d.Limit {
			return t
		}
		next := t
		if h.OpensAt.After(next) {
			next = h.OpensAt
		}
		if d.OpensAt.After(next) {
			next = d.OpensAt
		}
		t = next
	}
	return t
}
