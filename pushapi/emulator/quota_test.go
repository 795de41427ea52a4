package emulator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/pushapi"
)

// step is one push at an instant and whether the emulator accepts it.
type step struct {
	at     time.Time
	accept bool
}

func at(loc *time.Location, s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
	if err != nil {
		panic(err)
	}
	return t
}

func TestQuotaWindows(t *testing.T) {
	t.Parallel()
	cst := func(s string) time.Time { return at(shanghai, s) }
	utc := func(s string) time.Time { return at(time.UTC, s) }
	tests := []struct {
		name  string
		quota Quota
		steps []step
	}{
		{
			name:  "default: rolling hour, calendar day in Asia/Shanghai",
			quota: Quota{},
			steps: []step{
				{cst("2026-03-10 10:20:00"), true},
				{cst("2026-03-10 10:30:00"), true},
				{cst("2026-03-10 10:40:00"), false},
				{cst("2026-03-10 11:19:59"), false}, // 10:20's slot still held
				{cst("2026-03-10 11:20:00"), true},  // released exactly an hour later; day now full
				{cst("2026-03-10 13:00:00"), false}, // hour has room, day does not
				{cst("2026-03-10 23:59:59"), false},
				{cst("2026-03-11 00:00:00"), true}, // a new calendar day
				{cst("2026-03-11 00:10:00"), true},
				{cst("2026-03-11 00:20:00"), false},
			},
		},
		{
			name:  "clock hour, calendar day",
			quota: Quota{HourWindow: HourWindowClock},
			steps: []step{
				{cst("2026-03-10 10:20:00"), true},
				{cst("2026-03-10 10:50:00"), true},
				{cst("2026-03-10 10:59:59"), false},
				{cst("2026-03-10 11:00:00"), true}, // a new clock hour; day full
				{cst("2026-03-10 12:00:00"), false},
				{cst("2026-03-11 00:00:00"), true},
			},
		},
		{
			name:  "rolling hour, rolling day",
			quota: Quota{DayWindow: DayWindowRolling},
			steps: []step{
				{cst("2026-03-10 10:20:00"), true},
				{cst("2026-03-10 10:30:00"), true},
				{cst("2026-03-10 11:30:00"), true}, // 10:20 expired from the hour
				{cst("2026-03-11 00:00:00"), false},
				{cst("2026-03-11 10:19:59"), false},
				{cst("2026-03-11 10:20:00"), true}, // 24 h after the first
				{cst("2026-03-11 10:25:00"), false},
				{cst("2026-03-11 10:30:00"), true},
			},
		},
		{
			name:  "clock hour, rolling day",
			quota: Quota{HourWindow: HourWindowClock, DayWindow: DayWindowRolling, Hourly: 1, Daily: 2},
			steps: []step{
				{cst("2026-03-10 10:59:00"), true},
				{cst("2026-03-10 10:59:30"), false},
				{cst("2026-03-10 11:00:00"), true},
				{cst("2026-03-11 10:58:59"), false},
				{cst("2026-03-11 10:59:00"), true},
			},
		},
		{
			name:  "calendar day in Asia/Shanghai turns at 16:00 UTC",
			quota: Quota{Hourly: 3},
			steps: []step{
				{utc("2026-03-10 14:00:00"), true},
				{utc("2026-03-10 15:10:00"), true},
				{utc("2026-03-10 15:50:00"), true},
				{utc("2026-03-10 15:59:59"), false},
				{utc("2026-03-10 16:00:00"), true}, // 00:00 in Shanghai
			},
		},
		{
			name:  "calendar day in UTC turns at midnight UTC",
			quota: Quota{Hourly: 3, Timezone: "UTC"},
			steps: []step{
				{utc("2026-03-10 14:00:00"), true},
				{utc("2026-03-10 15:10:00"), true},
				{utc("2026-03-10 15:50:00"), true},
				{utc("2026-03-10 16:00:00"), false},
				{utc("2026-03-10 23:59:59"), false},
				{utc("2026-03-11 00:00:00"), true},
			},
		},
		{
			name:  "clock hour in Asia/Kolkata (+05:30) turns at half past UTC",
			quota: Quota{HourWindow: HourWindowClock, Timezone: "Asia/Kolkata", Daily: 10},
			steps: []step{
				{utc("2026-03-10 10:35:00"), true}, // 16:05 IST
				{utc("2026-03-10 10:50:00"), true},
				{utc("2026-03-10 11:00:00"), false}, // 16:30 IST: same local hour
				{utc("2026-03-10 11:29:59"), false},
				{utc("2026-03-10 11:30:00"), true}, // 17:00 IST: a new local hour
				{utc("2026-03-10 11:40:00"), true},
				{utc("2026-03-10 11:50:00"), false},
			},
		},
		{
			name:  "calendar day across the spring DST change in New York (23 hours)",
			quota: Quota{Hourly: 5, Daily: 1, Timezone: "America/New_York"},
			steps: []step{
				{at(mustLoc("America/New_York"), "2026-03-08 00:30:00"), true},
				{at(mustLoc("America/New_York"), "2026-03-08 23:59:59"), false},
				{at(mustLoc("America/New_York"), "2026-03-09 00:00:00"), true},
			},
		},
		{
			name:  "raised quota",
			quota: Quota{Hourly: 4, Daily: 5},
			steps: []step{
				{cst("2026-03-10 10:00:00"), true},
				{cst("2026-03-10 10:01:00"), true},
				{cst("2026-03-10 10:02:00"), true},
				{cst("2026-03-10 10:03:00"), true},
				{cst("2026-03-10 10:04:00"), false},
				{cst("2026-03-10 11:00:00"), true},
				{cst("2026-03-10 11:01:00"), false}, // day full
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Quota: tt.quota}}})
			c := b.client(t, testKey, testSecret)
			var got, want []string
			accepted := 0
			for _, s := range tt.steps {
				b.em.SetNow(s.at)
				_, err := c.Push(context.Background(), tagPush())
				outcome := pushapi.Classify(err)
				if outcome == pushapi.OutcomeRateLimited {
					if e := apiError(t, err); e.HTTPStatus != 429 || e.Code != pushapi.CodeRateLimited {
						t.Errorf("%s: %d/%d, want 429/1008", s.at, e.HTTPStatus, e.Code)
					}
				}
				if outcome == pushapi.OutcomeSent {
					accepted++
				}
				got = append(got, fmt.Sprintf("%s %s", s.at.UTC().Format(time.DateTime), outcome))
				w := pushapi.OutcomeRateLimited
				if s.accept {
					w = pushapi.OutcomeSent
				}
				want = append(want, fmt.Sprintf("%s %s", s.at.UTC().Format(time.DateTime), w))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("outcomes (-want +got):\n%s", diff)
			}
			if ctr := b.em.Counters(testKey); ctr.Accepted != accepted || ctr.RateLimited != len(tt.steps)-accepted {
				t.Errorf("counters = %+v, want %d accepted", ctr, accepted)
			}
		})
	}
}

func TestQuotaStateNextOpening(t *testing.T) {
	t.Parallel()
	cst := func(s string) time.Time { return at(shanghai, s) }
	tests := []struct {
		name      string
		quota     Quota
		sends     []time.Time
		now       time.Time
		wantUsedH int
		wantUsedD int
		wantNext  time.Time
	}{
		{"room now", Quota{}, []time.Time{cst("2026-03-10 10:00:00")}, cst("2026-03-10 10:30:00"), 1, 1, cst("2026-03-10 10:30:00")},
		{"rolling hour full", Quota{}, []time.Time{cst("2026-03-10 10:00:00"), cst("2026-03-10 10:10:00")}, cst("2026-03-10 10:30:00"),
			2, 2, cst("2026-03-10 11:00:00")},
		{"clock hour full", Quota{HourWindow: HourWindowClock}, []time.Time{cst("2026-03-10 10:00:00"), cst("2026-03-10 10:10:00")}, cst("2026-03-10 10:30:00"),
			2, 2, cst("2026-03-10 11:00:00")},
		{"calendar day full", Quota{}, []time.Time{cst("2026-03-10 08:00:00"), cst("2026-03-10 09:00:00"), cst("2026-03-10 10:00:00")}, cst("2026-03-10 10:30:00"),
			1, 3, cst("2026-03-11 00:00:00")},
		{"rolling day full", Quota{DayWindow: DayWindowRolling}, []time.Time{cst("2026-03-10 08:00:00"), cst("2026-03-10 09:00:00"), cst("2026-03-10 10:00:00")},
			cst("2026-03-10 20:00:00"), 0, 3, cst("2026-03-11 08:00:00")},
		{"day reopens into a full hour", Quota{Hourly: 2, Daily: 2, DayWindow: DayWindowRolling}, []time.Time{cst("2026-03-10 08:00:00"), cst("2026-03-10 08:30:00")},
			cst("2026-03-10 08:40:00"), 2, 2, cst("2026-03-11 08:00:00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Quota: tt.quota}}})
			c := b.client(t, testKey, testSecret)
			for _, s := range tt.sends {
				b.em.SetNow(s)
				if _, err := c.Push(context.Background(), tagPush()); err != nil {
					t.Fatalf("send at %s: %v", s, err)
				}
			}
			b.em.SetNow(tt.now)
			qs, err := b.em.QuotaState(testKey)
			if err != nil {
				t.Fatal(err)
			}
			if qs.UsedHour != tt.wantUsedH || qs.UsedDay != tt.wantUsedD || !qs.NextOpening.Equal(tt.wantNext) {
				t.Fatalf("used %d/%d next %s, want %d/%d next %s", qs.UsedHour, qs.UsedDay, qs.NextOpening, tt.wantUsedH, tt.wantUsedD, tt.wantNext)
			}
			if qs.RemainingHour != max(0, qs.Hourly-qs.UsedHour) || qs.RemainingDay != max(0, qs.Daily-qs.UsedDay) {
				t.Errorf("remaining inconsistent: %+v", qs)
			}
		})
	}
}

func TestLedgerOutOfOrder(t *testing.T) {
	t.Parallel()
	var l ledger
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, m := range []int{30, 10, 20, 10, 50} {
		l.add(base.Add(time.Duration(m) * time.Minute))
	}
	var got []int
	for _, t := range l.at {
		got = append(got, int(t.Sub(base)/time.Minute))
	}
	if diff := cmp.Diff([]int{10, 10, 20, 30, 50}, got); diff != "" {
		t.Fatalf("order (-want +got):\n%s", diff)
	}
	if n := len(l.between(base.Add(10*time.Minute), base.Add(30*time.Minute))); n != 2 {
		t.Errorf("between (10m, 30m] = %d, want 2", n)
	}
	l.prune(base.Add(20 * time.Minute))
	if len(l.at) != 2 {
		t.Errorf("after prune: %v", l.at)
	}
}
