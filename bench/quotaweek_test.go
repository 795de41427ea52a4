package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/internal/quotaprobe"
	"github.com/tagcast/tagcast/internal/simclock"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/queue"
	"github.com/tagcast/tagcast/quota"
)

// Quota week settings: the service's published quota, 4 worker processes
// with concurrency 50 each, a backlog far larger than a week's quota.
const (
	weekProcesses   = 4
	weekConcurrency = 50
	weekRuns        = 200
	weekLength      = 7 * 24 * time.Hour
)

// weekStart is 09:00 in Shanghai on a Monday.
var weekStart = time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)

// BenchmarkQuotaWeek: 4 worker processes (re-executions of the test
// binary, concurrency 50 each) share one App Key with the service's quota
// (2 an hour rolling, 3 a calendar day in Asia/Shanghai) on the guard and
// the emulator; 200 runs are queued at once; a simulated week passes. The
// clock is a file every process and the emulator read; the controller
// moves it to the guard's next opening once no send is in flight and every
// accepted push is recorded. Metrics: pushes, the most in any calendar day
// and in any rolling hour (limits 3 and 2), 429 answers (must be 0),
// duplicates (must be 0), and utilization: pushes over what the limits
// allowed in the week (every calendar day it touches: 3). Run with
// -benchtime=1x.
func BenchmarkQuotaWeek(b *testing.B) {
	for range b.N {
		quotaWeekOnce(b)
	}
}

func quotaWeekOnce(b *testing.B) {
	ctx := context.Background()
	policy := quota.DefaultPolicy()
	clockPath := filepath.Join(b.TempDir(), "clock")
	clock, err := simclock.Create(clockPath, weekStart)
	if err != nil {
		b.Fatal(err)
	}
	defer clock.Close()
	s := newStack(b, testenv.Postgres(b), policy, clock.Now)

	// 200 one-off campaigns due at the start, fired into runs and queued.
	s.createAt(b, weekRuns, func(int) time.Time { return weekStart })
	var ids []int64
	for len(ids) < weekRuns {
		runs, err := s.store.ClaimDue(ctx, weekStart, weekStart, 500, campaign.SimplePlan(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		if len(runs) == 0 {
			b.Fatalf("fired %d runs, want %d", len(ids), weekRuns)
		}
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
	}
	client := asynq.NewClientFromRedisClient(s.rdb)
	for _, id := range ids {
		if _, err := queue.Enqueue(ctx, client, queue.RunSendPayload{RunID: id}, time.Time{}, queue.Options{}); err != nil {
			b.Fatal(err)
		}
	}

	env := helperEnvOf{pgURL: s.dbURL, redisAddr: s.redis.Addr, emuURL: s.emuURL, clockPath: clockPath,
		hourly: policy.Hourly, daily: policy.Daily, concurrency: weekConcurrency}
	var helpers []helper
	start := time.Now()
	for range weekProcesses {
		helpers = append(helpers, startHelper(b, roleQuotaWorker, env))
	}

	end := weekStart.Add(weekLength)
	realDeadline := time.Now().Add(4 * time.Minute)
	jumps := 0
	for clock.Now().Before(end) {
		if time.Now().After(realDeadline) {
			st, _ := s.guard.Status(ctx, appName)
			b.Fatalf("stuck at simulated %v after %d jumps: quota %+v, emulator %+v", clock.Now(), jumps, st, s.emu.Counters(appKey))
		}
		time.Sleep(5 * time.Millisecond)
		now := clock.Now()
		st, err := s.guard.Status(ctx, appName)
		if err != nil {
			b.Fatal(err)
		}
		if !st.NextOpening.After(now) {
			continue // room: the workers take it
		}
		// Every slot reserved must be claimed before the sends in flight
		// are counted: a claim between the two reads would be missed.
		if n, err := quotaprobe.Unclaimed(ctx, st, s.store, quota.DefaultMargin); err != nil {
			b.Fatal(err)
		} else if n != 0 {
			continue // a worker reserved a slot and is about to claim its send
		}
		inFlight := s.count(b, `SELECT count(*) FROM sends WHERE status = 'in_flight'`)
		recorded := s.count(b, `SELECT count(*) FROM sends WHERE status IN ('sent', 'unknown')`)
		if inFlight > 0 || recorded != s.emu.Counters(appKey).Accepted {
			continue
		}
		if st.NextOpening.After(end) {
			break
		}
		if same, err := quotaprobe.Unchanged(ctx, s.guard, appName, st); err != nil {
			b.Fatal(err)
		} else if !same {
			continue // a slot was reserved during the check
		}
		if err := clock.Set(st.NextOpening); err != nil {
			b.Fatal(err)
		}
		jumps++
		for clock.Now().Before(st.NextOpening) {
			time.Sleep(time.Millisecond)
		}
	}
	for _, h := range helpers {
		h.stop(b)
	}
	elapsed := time.Since(start)

	c := s.emu.Counters(appKey)
	pushes := s.emu.PushesFor(appKey)
	loc, err := time.LoadLocation(policy.Timezone)
	if err != nil {
		b.Fatal(err)
	}
	times := make([]time.Time, len(pushes))
	seen := map[string]int{}
	dups := 0
	for i, p := range pushes {
		times[i] = p.ReceivedAt
		if seen[p.Request.Notification.Alert]++; seen[p.Request.Notification.Alert] > 1 {
			dups++
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	perDay := map[string]int{}
	maxDay := 0
	for _, t := range times {
		d := t.In(loc).Format(time.DateOnly)
		perDay[d]++
		maxDay = max(maxDay, perDay[d])
	}
	maxHour := 0
	for i := range times {
		j := i
		for j < len(times) && times[j].Sub(times[i]) < time.Hour {
			j++
		}
		maxHour = max(maxHour, j-i)
	}
	// Every calendar day the week touches allows the daily limit (each has
	// at least two hours in the week, so the hourly limit never caps it).
	allowed := 0
	for d := weekStart.In(loc); d.Before(end); {
		allowed += policy.Daily
		y, m, dd := d.Date()
		d = time.Date(y, m, dd+1, 0, 0, 0, 0, loc)
	}
	var sent int
	if sent = s.count(b, `SELECT count(*) FROM sends WHERE status = 'sent'`); sent != len(pushes) {
		b.Errorf("store: %d sent; emulator: %d pushes", sent, len(pushes))
	}
	if c.RateLimited != 0 || dups != 0 || maxDay > policy.Daily || maxHour > policy.Hourly {
		b.Errorf("quota broken: %d answers 429, %d duplicates, %d in a day (limit %d), %d in an hour (limit %d)",
			c.RateLimited, dups, maxDay, policy.Daily, maxHour, policy.Hourly)
	}
	days := make([]string, 0, len(perDay))
	for d := range perDay {
		days = append(days, d)
	}
	slices.Sort(days)
	var daily []string
	for _, d := range days {
		daily = append(daily, fmt.Sprintf("%s:%d", d[5:], perDay[d]))
	}
	b.ReportMetric(float64(len(pushes)), "pushes")
	b.ReportMetric(float64(allowed), "allowed")
	b.ReportMetric(100*float64(len(pushes))/float64(allowed), "utilization_%")
	b.ReportMetric(float64(maxDay), "max_per_day")
	b.ReportMetric(float64(maxHour), "max_per_hour")
	b.ReportMetric(float64(c.RateLimited), "answers_429")
	b.ReportMetric(float64(dups), "duplicates")
	b.ReportMetric(float64(jumps), "clock_jumps")
	b.ReportMetric(elapsed.Seconds(), "real_s")
	b.Logf("%d pushes of %d allowed over a simulated week (%d clock jumps, %s real); per Shanghai day %v; most in a rolling hour %d; 429s %d; duplicates %d",
		len(pushes), allowed, jumps, elapsed.Round(time.Millisecond), daily, maxHour, c.RateLimited, dups)
}
