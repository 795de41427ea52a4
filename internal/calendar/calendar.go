// Package calendar has the calendar arithmetic that the quota guard and the
// push service's emulator must agree on.
package calendar

import "time"

// dayStart is the first instant of a local date in loc (d may overflow the
// month, as in time.Date). Usually its midnight; where daylight saving
// begins at midnight (America/Santiago, Asia/Beirut, ...) midnight does not
// exist and time.Date gives 23:00 of the day before: the day then begins
// when the clocks jump.
func dayStart(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	noon := time.Date(y, m, d, 12, 0, 0, 0, loc) // the normalised date, surely
	if t.Day() != noon.Day() {
		if _, end := t.ZoneBounds(); !end.IsZero() && end.After(t) {
			return end
		}
	}
	return t
}

// Day is the local day containing t in loc: its first instant and the next
// day's (23 or 25 hours later across a DST change).
func Day(t time.Time, loc *time.Location) (start, next time.Time) {
	lt := t.In(loc)
	return dayStart(lt.Year(), lt.Month(), lt.Day(), loc), dayStart(lt.Year(), lt.Month(), lt.Day()+1, loc)
}
