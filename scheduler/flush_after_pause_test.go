package scheduler

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
)

// A campaign paused while the scheduler holds its fire (claimed ahead, not
// yet released) has that run deleted by the pause: nothing is left to
// enqueue. A graceful stop of the scheduler right after (a deploy, a
// rolling restart) must not report it as a failure the reconciler will
// repair: releaseHeld drops such a run silently (MarkRunsEnqueued ignores
// missing ids), but flushHeld enqueues a task for the deleted run, then
// fails to record it (MarkRunEnqueued: not found) and logs at error level
// "the reconciler will retry", which never happens: the run is gone. An
// operator sees an error, with a promise of repair, after every routine
// pause followed by a restart within the lookahead.
func TestFlushAfterPauseReportsNoFailure(t *testing.T) {
	t.Parallel()
	at := utc("2026-12-01T09:00:00Z")
	var logs bytes.Buffer
	b := setup(t, at.Add(-time.Hour), Config{Interval: time.Second, Logger: zerolog.New(&logs).Level(zerolog.InfoLevel)})
	c := create(t, b.store, newCampaign("daily", campaign.Schedule{Cron: "0 9 * * *", Missed: campaign.MissedSkip}), b.clock.Now())

	if res := b.tickAt(t, at.Add(-1500*time.Millisecond)); res.Held != 1 {
		t.Fatalf("1.5 s ahead: %+v; want the 09:00 run held", res)
	}
	b.clock.Set(at.Add(-time.Second))
	if _, err := b.store.Pause(b.ctx, c.ID, b.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if runs := runsOf(t, b.store, c.ID); len(runs) != 0 {
		t.Fatalf("setup: the pause left %d runs, want the held one deleted", len(runs))
	}

	b.sched.flushHeld() // Run's deferred flush on a graceful stop

	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, `"level":"error"`) {
			t.Errorf("graceful stop after a pause logged an error for a run the pause deleted: %s", line)
		}
	}
	// The stop's summary counted the deleted run as enqueued.
	if !strings.Contains(logs.String(), `"held":1,"held_enqueued":0,`) {
		t.Errorf("graceful stop after a pause: %s\nwant the summary to count 1 held run, 0 enqueued", logs.String())
	}
}
