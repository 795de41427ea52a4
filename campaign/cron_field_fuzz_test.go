package campaign

import (
	"slices"
	"strings"
	"testing"
)

// FuzzBadCronField checks badCronField and ParseCron on any spec: no
// panic; badCronField returns "" or the name of a field of a 5- or 6-field
// spec; when it names a field, the whole spec is refused too (a field that
// robfig refuses alone cannot be accepted with other fields) and
// ParseCron's error names that field.
//
//	go test -run '^$' -fuzz '^FuzzBadCronField$' -fuzztime 60s ./campaign/
func FuzzBadCronField(f *testing.F) {
	for _, s := range []string{
		"", " ", "*", "* * * * *", "0 * * * * *", "*/5 * * * *", "0 9 * * MON-FRI", "0 0 1,15 * *",
		"61 * * * *", "* 24 * * *", "* * 32 * *", "* * * 13 *", "* * * * 8", "60 * * * * *",
		"* 61 * * *", "* * * JANU *", "* * * * FUNDAY", "5-1 * * * *", "*/0 * * * *", "*/-1 * * * *",
		"1-2-3 * * * *", "1/2/3 * * * *", ",, * * * *", "- * * * *", "/ * * * *", "? ? ? ? ?",
		"* * ? * ?", "L * * * *", "# * * * *", "*/99999999999999999999 * * * *", "0-99999999999999999999 * * * *",
		"CRON_TZ=UTC 61 * * * *", "TZ=Europe/London * 24 * * *", "CRON_TZ= * * * * *", "TZ=",
		"CRON_TZ=UTC", "@daily", "@every 1h", "@every 0s", "@every", "@ * * * *", "@hourly * * * *",
		"* * * * * * *", "* * * *", "\t*\t*\t*\t*\t*", "*\u00a0* * * *", "*\u3000* * * * *",
		"0 0 30 2 *", "0 0 31 4 *", "1-60/2 * * * *", "0-59/60 * * * *", "*/1-5 * * * *",
		"^1 * * * *", "\x00 * * * *", "\xff * * * *",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		field := badCronField(spec)
		_, _, perr := ParseCron(spec, "")
		if field == "" {
			return
		}
		fields := strings.Fields(spec)
		if len(fields) > 0 && (strings.HasPrefix(fields[0], "CRON_TZ=") || strings.HasPrefix(fields[0], "TZ=")) {
			fields = fields[1:]
		}
		names, ok := cronFields[len(fields)]
		if !ok || !slices.Contains(names, field) {
			t.Fatalf("badCronField(%q) = %q, not a field of a %d-field spec", spec, field, len(fields))
		}
		if _, err := parseQuietly(spec); err == nil {
			t.Fatalf("badCronField(%q) = %q, but the whole spec parses", spec, field)
		}
		if perr == nil {
			// The spec's zone prefix is the only thing the probe drops;
			// a refused field must still refuse the spec.
			t.Fatalf("badCronField(%q) = %q, but ParseCron accepts the spec", spec, field)
		}
		if _, ok := cronTZ(spec); !ok && !strings.Contains(perr.Error(), field+" field") {
			t.Fatalf("ParseCron(%q) error does not name the %s field: %v", spec, field, perr)
		}
	})
}
