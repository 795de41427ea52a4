package campaign_test

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/examples"
)

// Fuzz targets (issue 8, point 4): campaign files and cron / time-zone
// input must come back as errors, never a panic. `go test` runs every seed
// below and every input under testdata/fuzz/ (earlier finds) as regression
// tests; to fuzz, one target at a time:
//
//	go test -run '^$' -fuzz '^FuzzParseFile$' -fuzztime 60s -parallel 1 ./campaign/
//	go test -run '^$' -fuzz '^FuzzCronSchedule$' -fuzztime 60s -parallel 1 ./campaign/

// fuzzNow is the injected creation time of every fuzz input.
var fuzzNow = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

// fileSeeds are campaign files on the edges of the parser: every schedule
// kind, wrong types at each level, YAML features (anchors, tags, merge
// keys, multi-documents), templates and bad encodings.
var fileSeeds = []string{
	``, `---`, `null`, `[]`, `x`, `1`, `{}`, `{`, `: :`, "\ufeffname: x", "\xff\xfe",
	`{"name":"a","app":"main","schedule":{"now":true},"push":{"platform":["ios"],"audience":{"is_to_all":true},"notification":{"alert":"hi"}}}`,
	"name: a\napp: main\nschedule: {cron: '*/5 * * * *', timezone: America/New_York}\npush: {platform: [ios], audience: {tag: [x]}, notification: {alert: hi}}\n",
	"name: a\napp: main\nschedule: {cron: 'CRON_TZ=Europe/London 30 1 * * SUN', missed: skip, deliver_within: 1h}\npush: {platform: [android], audience: {is_to_all: true}, notification: {alert: '{{.FireTime}}'}}\n",
	"name: a\napp: main\nschedule: {cron: 'TZ=Nowhere/Zone 0 9 * * *', timezone: Asia/Shanghai}\npush: {}\n",
	"name: a\napp: main\nschedule: {cron: '0 0 30 2 *'}\npush: {platform: [ios], audience: {is_to_all: true}, notification: {alert: x}}\n",
	"name: a\napp: main\nschedule: {cron: '@every 0s'}\npush: {platform: [ios], audience: {is_to_all: true}, notification: {alert: x}}\n",
	"name: a\napp: main\nschedule: {cron: '0 9 * * *', start: 2030-01-01T00:00:00Z, end: 2029-01-01T00:00:00Z}\npush: {platform: [ios], audience: {is_to_all: true}, notification: {alert: x}}\n",
	"name: a\napp: main\nschedule: {at: 2026-12-01T09:00:00+08:00, cron: '* * * * *', now: true}\npush: {}\n",
	"name: a\napp: main\nschedule: {at: '2026-13-45T99:00:00Z', deliver_within: -1h}\npush: {}\n",
	"name: a\napp: main\nschedule: {at: 1}\npush: {platform: ios}\n",
	"name: [1, 2]\napp: {x: y}\nschedule: []\nvars: 3\npush: x\n",
	"name: a\napp: main\nschedule: {now: true}\nvars: {v: {{.Vars.v}}}\npush: {platform: [ios], audience: {is_to_all: true}, notification: {alert: '{{.Vars.missing}}{{'}}\n",
	"name: a\napp: main\nschedule: {now: true}\nvars: {a: &x [1, 2], b: *x, c: !!binary aGVsbG8=, d: 2026-01-01, e: .inf, f: ~}\npush: {platform: [ios], audience: {is_to_all: true}, notification: {alert: '{{.Vars.e}}'}}\n",
	"base: &b {platform: [ios]}\nname: a\napp: main\nschedule: {now: true}\npush: {<<: *b, audience: {userid: ['']}}\n",
	"name: a\n---\nname: b\n",
	"name: a\napp: main\nschedule: {now: true}\nvars: {1: one, true: yes, null: nothing}\npush: {platform: [ios], audience: {is_to_all: true}, notification: {alert: x}}\n",
	"a: &a [*a]\n",
	"name: a\napp: main\nschedule: {now: true}\npush: {platform: [ios], audience: {is_to_all: true}, notification: {alert: '{{range .Vars}}{{end}}{{printf \"%v\" .Campaign}}'}}\n",
}

// validPush is a push the service's rules accept, for seeds that must parse.
const validPush = "push: {platform: [ios, android], fromuserid: system, audience: %s, " +
	"message: {objectName: 'RC:TxtMsg', content: '{\"content\":\"hi\"}'}, notification: {alert: %s}}\n"

// validFileSeeds parse (TestValidFileSeedsParse keeps them so): the fuzzer
// mutates from valid documents of every schedule kind, zones with DST and
// half-hour shifts, templates and vars, and every audience, not only from
// refusals.
var validFileSeeds = []string{
	"name: a\napp: main\nschedule: {now: true}\n" + fmt.Sprintf(validPush, "{is_to_all: true}", "hi"),
	"name: a\napp: main\nschedule: {at: 2026-12-01T09:00:00+08:00, deliver_within: 2h}\n" + fmt.Sprintf(validPush, "{tag: [vip, beijing]}", "hi"),
	"name: a\napp: main\nschedule: {cron: '30 2 * * *', timezone: America/New_York, missed: skip}\n" + fmt.Sprintf(validPush, "{tag_or: [a, b]}", "'{{.FireTime.Format \"Mon 15:04\"}}'"),
	"name: a\napp: main\nschedule: {cron: '0 30 1 * * SUN', timezone: Australia/Lord_Howe}\n" + fmt.Sprintf(validPush, "{userid: [u1, u2]}", "x"),
	"name: a\napp: main\nschedule: {cron: 'CRON_TZ=Asia/Kathmandu 0 0 * * *', deliver_within: 30m}\n" + fmt.Sprintf(validPush, "{packageName: com.example.app, tag: [x]}", "x"),
	"name: a\napp: main\nschedule: {cron: '@every 90m', start: 2026-12-01T00:00:00Z, end: 2027-01-01T00:00:00Z}\n" + fmt.Sprintf(validPush, "{is_to_all: true}", "x"),
	"name: a\napp: main\nschedule: {cron: '0 9 * * MON-FRI', timezone: Europe/London, start: 2026-12-01T00:00:00Z}\nvars: {name: Ann, n: 3, big: 1e3}\n" +
		fmt.Sprintf(validPush, "{is_to_all: true}", "'{{.Vars.name}} has {{.Vars.n}} of {{.Vars.big}}'"),
}

// TestValidFileSeedsParse: seeds meant to be valid are, so the fuzzer starts
// from documents ParseFile accepts (the push's rules grew, and hand-written
// seeds had silently stopped parsing).
func TestValidFileSeedsParse(t *testing.T) {
	t.Parallel()
	for i, s := range validFileSeeds {
		if _, err := campaign.ParseFile([]byte(s), campaign.ValidateOptions{Now: fuzzNow, Apps: []string{"main"}}); err != nil {
			t.Errorf("valid seed %d: %v\n%s", i, err, s)
		}
	}
}

func FuzzParseFile(f *testing.F) {
	for _, s := range validFileSeeds {
		f.Add([]byte(s))
	}
	for _, name := range examples.Names() {
		b, err := fs.ReadFile(examples.Files(), name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range fileSeeds {
		f.Add([]byte(s))
	}
	opts := campaign.ValidateOptions{Now: fuzzNow, Apps: []string{"main"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, o := range []campaign.ValidateOptions{opts} {
			c, err := campaign.ParseFile(data, o)
			if err != nil {
				if err.Error() == "" {
					t.Fatal("an error without a message")
				}
				var verr *campaign.ValidationError
				if errors.As(err, &verr) && len(verr.Problems) == 0 {
					t.Fatalf("a validation error without problems: %v", err)
				}
				continue
			}
			// A valid campaign is ready for the store: active, with a
			// first fire not before its creation.
			if c.Status != campaign.CampaignActive {
				t.Errorf("status %q, want active", c.Status)
			}
			if c.NextRunAt == nil {
				t.Fatalf("valid %s campaign without next_run_at", c.Schedule.Kind())
			}
			if c.NextRunAt.Before(fuzzNow) {
				t.Errorf("next_run_at %s is before now %s", c.NextRunAt, fuzzNow)
			}
			if c.Schedule.Kind() == "cron" && !c.NextRunAt.After(fuzzNow) {
				t.Errorf("cron %q: first fire %s is not after now %s", c.Schedule.Cron, c.NextRunAt, fuzzNow)
			}
			if err := campaign.Validate(&c, o); err != nil {
				t.Errorf("ParseFile accepted a campaign that Validate refuses: %v", err)
			}
		}
	})
}

// cronSeeds are specs and zones on the edges: fields out of range, every
// descriptor, seconds, steps and ranges, CRON_TZ/TZ prefixes that agree or
// conflict, zones with DST, half-hour offsets, no zone at all, and
// impossible dates.
var cronSeeds = []struct{ spec, tz string }{
	{"0 9 * * MON-FRI", "Asia/Shanghai"},
	{"30 2 * * *", "America/New_York"},        // skipped on spring-forward day
	{"30 1 * * *", "America/New_York"},        // repeated on fall-back day
	{"*/15 * * * * *", "Europe/London"},       // seconds field
	{"0 30 1 * * SUN", "Australia/Lord_Howe"}, // 30-minute DST shift
	{"0 0 * * *", "Asia/Kathmandu"},
	{"CRON_TZ=America/Sao_Paulo 0 0 * * *", ""},
	{"TZ=Europe/Berlin 0 2 * * *", "Asia/Tokyo"},
	{"CRON_TZ= 0 0 * * *", ""},
	{"CRON_TZ=", ""},
	{"@daily", "Pacific/Chatham"}, {"@hourly", ""}, {"@weekly", "UTC"}, {"@monthly", "Local"}, {"@yearly", ""},
	{"@annually", ""}, {"@midnight", "America/Havana"}, {"@every 1h30m", ""}, {"@every 0s", ""},
	{"@every -1s", ""}, {"@every 1ns", ""}, {"@every", ""}, {"@reboot", ""},
	{"0 0 30 2 *", ""}, {"0 0 31 4 *", "UTC"}, {"0 0 29 2 *", "Asia/Shanghai"},
	{"60 * * * *", ""}, {"* 24 * * *", ""}, {"* * 0 * *", ""}, {"* * * 13 *", ""}, {"* * * * 8", ""},
	{"*/0 * * * *", ""}, {"5-1 * * * *", ""}, {"1-5/0 * * * *", ""}, {"? ? ? ? ?", ""},
	{"* * * * * * *", ""}, {"*", ""}, {"", ""}, {" ", ""}, {"0 9 * * MON", "Not/AZone"}, {"0 9 * * MON", "../../etc/passwd"},
	{"0 0 1 1 *", "Etc/GMT+12"}, {"0 0 1 1 *", "Etc/GMT-14"}, {"59 23 31 12 *", "Pacific/Kiritimati"},
}

func FuzzCronSchedule(f *testing.F) {
	for i, s := range cronSeeds {
		f.Add(s.spec, s.tz, fuzzNow.Add(time.Duration(i)*97*24*time.Hour).Unix())
	}
	// DST change instants, give or take.
	f.Add("30 2 * * *", "America/New_York", time.Date(2026, 3, 8, 6, 59, 59, 0, time.UTC).Unix())
	f.Add("30 1 * * *", "America/New_York", time.Date(2026, 11, 1, 5, 29, 0, 0, time.UTC).Unix())
	f.Add("0 30 2 * * *", "Europe/London", time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC).Unix())
	f.Fuzz(func(t *testing.T, spec, tz string, nowUnix int64) {
		// Instants between 1970 and 2200: robfig/cron looks five years
		// ahead, and the store keeps timestamps.
		const lo, hi = 0, 7258118400 // 2200-01-01
		if nowUnix < lo || nowUnix > hi {
			nowUnix = lo + (nowUnix%hi+hi)%hi
		}
		now := time.Unix(nowUnix, 0).UTC()
		s := campaign.Schedule{Cron: spec, Timezone: tz, Missed: campaign.MissedOnce}
		if strings.TrimSpace(spec) == "" {
			s.Cron = ""
		}

		if _, _, err := campaign.ParseCron(spec, tz); err != nil && (err.Error() == "" || strings.Contains(err.Error(), "runtime error")) {
			// A recovered panic is no rule a user can act on.
			t.Fatalf("ParseCron(%q, %q): %q: an error that states no rule", spec, tz, err)
		}
		if _, err := s.Location(); err != nil && err.Error() == "" {
			t.Fatal("an error without a message")
		}

		// The one fire-time calculator (validation and the scheduler use it).
		checkFires(t, "campaign", now, s.NextAfter, func() (time.Time, bool, error) { return s.FirstFire(now) }, s.Kind())

		// File validation sees the same input through a campaign file (with
		// a push the service accepts, so the schedule is what decides): it
		// never accepts a spec ParseCron refuses, nor answers with a
		// recovered panic's text.
		_, fileErr := campaign.ParseFile([]byte("name: f\napp: main\nschedule:\n  cron: "+quoteYAML(spec)+"\n  timezone: "+quoteYAML(tz)+
			"\n"+fmt.Sprintf(validPush, "{is_to_all: true}", "x")), campaign.ValidateOptions{Now: now, Apps: []string{"main"}})
		if _, _, cronErr := campaign.ParseCron(spec, tz); fileErr == nil && cronErr != nil && strings.TrimSpace(spec) != "" {
			t.Fatalf("ParseFile accepted cron %q in zone %q, which ParseCron refuses: %v", spec, tz, cronErr)
		}
		if fileErr != nil && strings.Contains(fileErr.Error(), "runtime error") {
			t.Fatalf("ParseFile, cron %q in zone %q: %v: an error that states no rule", spec, tz, fileErr)
		}
	})
}

// checkFires asserts that the first fire is after now (for a cron
// schedule) and that each of the next fires is strictly after the one
// before: never a fire earlier than the previous.
func checkFires(t *testing.T, who string, now time.Time, next func(time.Time) (time.Time, bool, error), first func() (time.Time, bool, error), kind string) {
	t.Helper()
	f, ok, err := first()
	if err != nil {
		if err.Error() == "" {
			t.Fatalf("%s: first fire: an error without a message", who)
		}
		return
	}
	if !ok {
		return
	}
	if kind == "cron" && !f.After(now) {
		t.Fatalf("%s: first fire %s is not after now %s", who, f, now)
	}
	prev := f
	for range 5 {
		n, ok, err := next(prev)
		if err != nil {
			t.Fatalf("%s: next after %s: %v (the first fire had no error)", who, prev, err)
		}
		if !ok {
			return
		}
		if !n.After(prev) {
			t.Fatalf("%s: fire %s is not after the previous %s", who, n, prev)
		}
		prev = n
	}
}

// quoteYAML writes s as a double-quoted YAML scalar.
func quoteYAML(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r == 0xfffd:
			b.WriteString(`\x`)
			const hex = "0123456789abcdef"
			b.WriteByte(hex[(r>>4)&0xf])
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
