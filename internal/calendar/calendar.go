// Package calendar has the calendar arithmetic that the quota guard, the
// push service's emulator and the campaign schedules must agree on: which
// instant a local wall-clock time happens at, and which instants a local
// day holds. It never reads the clock.
package calendar

import (
	"errors"
	"path"
	"strconv"
	"strings"
	"time"
)

// Wall is t's local date and time in loc, written as a UTC time: a reading
// of the wall clock, on which no clock ever jumps.
func Wall(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// Instant is the instant at which the wall-clock time w (written as a UTC
// time, as Wall gives it) happens in loc: its only occurrence; the first of
// the two when clocks fall back over it; the end of the gap when clocks
// spring forward over it.
//
// (time.Date leaves the choice between two occurrences unspecified, and
// picks the second in zones east of UTC: Asia/Amman's 00:30 on 2021-10-29
// is 00:30 +02, an hour after 00:30 +03.)
func Instant(w time.Time, loc *time.Location) time.Time {
	t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	got := Wall(t, loc)
	if !got.Equal(w) {
		// w does not exist: time.Date normalised it to one side of the gap.
		start, end := t.ZoneBounds()
		if got.After(w) {
			return start // t is after the gap, which ends where its zone starts
		}
		return end
	}
	// Clocks falling back just before t's zone started repeat the wall
	// clock: prefer the earlier occurrence.
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return t
	}
	_, prevOff := start.Add(-time.Nanosecond).Zone()
	_, off := t.Zone()
	if prevOff > off {
		earlier := t.Add(-time.Duration(prevOff-off) * time.Second)
		if earlier.Before(start) && Wall(earlier, loc).Equal(w) {
			return earlier
		}
	}
	return t
}

// dayStart is the first instant of a local date in loc (d may overflow the
// month, as in time.Date): the instant of its midnight as Instant maps it.
// Usually plain midnight. Where clocks fall back to midnight (from 01:00 in
// Asia/Amman until 2022, from 02:00 in Antarctica/Vostok on 2023-12-18)
// midnight happens twice and the day begins at the first, so the day is
// longer by the hour(s) repeated. Where daylight saving begins at midnight
// (America/Santiago, Asia/Beirut, ...) midnight does not exist and the day
// begins when the clocks jump; where a whole date is skipped
// (Pacific/Apia's 2011-12-30) its start is the next date's.
func dayStart(y int, m time.Month, d int, loc *time.Location) time.Time {
	return Instant(time.Date(y, m, d, 0, 0, 0, 0, time.UTC), loc)
}

// Day is the local day containing t in loc: its first instant and the next
// day's, 23 or 25 hours apart across a daylight saving change (see
// dayStart). Days tile time: each one's next is the following day's start.
//
// That holds wherever the local date never goes backwards. In a few zones
// clocks once fell back across midnight into the day before, so a date
// came again after the next one had begun and no single interval is its
// day: America/St_Johns, America/Goose_Bay (until 2010) and
// America/Moncton (1993-2006) went from 00:01 back to 23:01 every autumn;
// Antarctica/Casey from 02:00 +11 to 23:00 +08 on 2010-03-05 (its 2023
// change, 03:00 to 00:00, repeats midnight and is handled); earlier ones
// are America/Phoenix in 1944, Pacific/Guam in 1969 and Alaska's move
// across the date line in 1867. There the day of a date is taken from its
// first midnight to the next date's first midnight, and Day(t) does not hold
// a t in the repeated stretch of the earlier date (local 23:01-23:59 after
// the change): it returns that date's day, which ended at the later date's
// first midnight.
func Day(t time.Time, loc *time.Location) (start, next time.Time) {
	lt := t.In(loc)
	return dayStart(lt.Year(), lt.Month(), lt.Day(), loc), dayStart(lt.Year(), lt.Month(), lt.Day()+1, loc)
}

// LoadZone loads the IANA time zone name, refusing the names that mean the
// host's own setting ("Local", and "localtime" and "posixrules", files of a
// system zoneinfo that link to the host's zone or a default): two processes
// on differently set hosts would count different hours and days, and a host
// without system zoneinfo (Go's embedded data) cannot load them at all.
// Its errors are the messages a user reads: a *HostZoneError, or "unknown
// time zone".
func LoadZone(name string) (*time.Location, error) {
	// However spelled: time.LoadLocation reads "./localtime" as the file
	// "localtime" too, and "posix/localtime" links to it where it exists.
	if base := path.Base(path.Clean(name)); name == "Local" || base == "localtime" || base == "posixrules" {
		return nil, &HostZoneError{Name: name}
	}
	// The right/ and posix/ trees are variants some hosts' zoneinfo has and
	// Go's embedded copy has not (a configuration that loads on one host
	// fails on another), and right/ zones count leap seconds, which Go
	// ignores: every clock change of theirs lands about 27 s late.
	if dir, _, ok := strings.Cut(path.Clean(name), "/"); ok && (dir == "right" || dir == "posix") {
		return nil, errors.New("time zone " + strconv.Quote(name) + " is a variant of some hosts' zoneinfo (right/ counts leap seconds): name the IANA zone itself, such as " +
			strconv.Quote(strings.TrimPrefix(path.Clean(name), dir+"/")))
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, errors.New("unknown time zone " + strconv.Quote(name))
	}
	return loc, nil
}

// HostZoneError is LoadZone's refusal of a host-dependent zone name.
type HostZoneError struct{ Name string }

func (e *HostZoneError) Error() string {
	return "time zone " + strconv.Quote(e.Name) + " is each host's own setting: name an IANA zone such as Asia/Shanghai or UTC"
}
