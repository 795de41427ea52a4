package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/scheduler"
)

// createPaused creates the campaign of file text, pauses it, and
// returns its id and its stored next run.
func createPaused(t *testing.T, a *adminServer, text string) (int64, time.Time) {
	t.Helper()
	r := a.tagcast(t, "campaign", "create", writeFile(t, "c.yaml", text))
	m := regexp.MustCompile(`^campaign (\d+) created`).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("create: %s", r)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	if r := a.tagcast(t, "campaign", "pause", m[1]); r.code != 0 {
		t.Fatalf("pause: %s", r)
	}
	c, err := a.store.GetCampaign(context.Background(), id)
	if err != nil || c.NextRunAt == nil {
		t.Fatalf("GetCampaign(%d) = %+v, %v", id, c, err)
	}
	return id, *c.NextRunAt
}

func (a *adminServer) setClock(at time.Time) {
	a.clock.mu.Lock()
	a.clock.t = at
	a.clock.mu.Unlock()
}

// TestResumeJustPastTheNextRunIsNotMissed guards resume's missed-run note
// (found by a review: it said "dropped" as soon as the next run was past by
// any amount). The scheduler counts a fire
// missed only when it is claimed more than MissedAfter (1 min) late
// (scheduler.Plan; scheduler.Operations.Resume's doc: "A fire that fell less
// than MissedAfter ago is simply late and fires"). Resumed 10 s after its
// next run, a `missed: skip` campaign fires that run, while the CLI said it
// was dropped.
func TestResumeJustPastTheNextRunIsNotMissed(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	text := strings.Replace(campaignFile("hourly-skip"),
		`schedule: {at: "`+adminT0.Add(time.Hour).Format(time.RFC3339)+`"}`, `schedule: {cron: "0 * * * *", missed: skip}`, 1)
	id, next := createPaused(t, a, text)
	now := next.Add(10 * time.Second)
	a.setClock(now)
	r := a.tagcast(t, "campaign", "resume", strconv.FormatInt(id, 10))
	if r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	runs, err := a.store.ClaimDue(context.Background(), now, now, 10, scheduler.Plan(now, scheduler.DefaultMissedAfter, nil))
	if err != nil {
		t.Fatal(err)
	}
	fired := len(runs) == 1 && runs[0].ScheduledFor.Equal(next)
	if !fired {
		t.Fatalf("scheduler claim 10 s after the next run %s: runs %+v; want that run to fire", next, runs)
	}
	if strings.Contains(r.stdout, "dropped") {
		t.Errorf("resume 10 s after the next run %s: %q\nbut the scheduler fires that run (it is within MissedAfter %s): the note must not say it is dropped",
			next, r.stdout, scheduler.DefaultMissedAfter)
	}
}

// TestResumeOneShotMissedSkipNeverFires guards the note for a one-shot `at`
// campaign with `missed: skip` paused past its instant: it promised "the
// campaign fires at its next future time", and it has none: the scheduler
// drops the fire and the campaign never sends. The note says so now.
func TestResumeOneShotMissedSkipNeverFires(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	at := adminT0.Add(time.Hour).Format(time.RFC3339)
	text := strings.Replace(campaignFile("oneshot-skip"), `schedule: {at: "`+at+`"}`, `schedule: {at: "`+at+`", missed: skip}`, 1)
	id, next := createPaused(t, a, text)
	now := next.Add(3 * time.Hour)
	a.setClock(now)
	r := a.tagcast(t, "campaign", "resume", strconv.FormatInt(id, 10))
	if r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	runs, err := a.store.ClaimDue(context.Background(), now, now, 10, scheduler.Plan(now, scheduler.DefaultMissedAfter, nil))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := a.store.GetCampaign(context.Background(), id)
	if len(runs) != 0 || c.NextRunAt != nil {
		t.Fatalf("claim: runs %+v, campaign %s next %v; want nothing fired and no next run", runs, c.Status, c.NextRunAt)
	}
	if strings.Contains(r.stdout, "fires at its next future time") || !strings.Contains(r.stdout, "this one-shot campaign then never fires") {
		t.Errorf("resume of a one-shot skip campaign past its instant: %q\nbut it has no future time: after the claim it is %s with no next run, nothing sent",
			r.stdout, c.Status)
	}
}
