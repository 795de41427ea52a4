package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/internal/testenv"
)

// On PostgreSQL, a Cancel that commits while a send is being given back
// to wait (a 429's release, a retry) must still leave that send
// cancelled. The statement giving it back read the run's status in its own
// snapshot: a Cancel that had cancelled the run but not yet committed was
// invisible to it, and Cancel in turn skipped the send, in flight in its
// snapshot. The send stayed pending in a cancelled run, where no claim
// ever takes it. Here a transaction does Cancel's run and send updates and
// holds them uncommitted while the send is given back; it commits once the
// give-back has either finished or is waiting for the run's row lock.
// (SQLite has one writer at a time: no interleaving to test.)
func TestCancelCommittingDuringAGiveBack(t *testing.T) {
	t.Parallel()
	giveBacks := map[string]func(b bundle, held campaign.Send, now time.Time) (campaign.SendStatus, error){
		"release": func(b bundle, held campaign.Send, now time.Time) (campaign.SendStatus, error) {
			sd, err := b.store.RecordOutcome(b.ctx, held.Token(), campaign.Outcome{Status: campaign.SendPending, Code: 1008, Message: "rate limited", At: now})
			return sd.Status, err
		},
		"retry": func(b bundle, held campaign.Send, now time.Time) (campaign.SendStatus, error) {
			sd, err := b.store.RecordOutcome(b.ctx, held.Token(), campaign.Outcome{Status: campaign.SendRetryWait, Code: 1000, NextAttempt: now.Add(time.Minute), At: now})
			return sd.Status, err
		},
	}
	for name, giveBack := range giveBacks {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := openMigrated(t, testenv.Postgres(t))
			b := bundle{ctx: context.Background(), store: st}
			run, sends := b.startedRun(t, 10, 1)
			now := t0.Add(time.Second)
			held := b.claim(t, sends[0].ID, now)

			tx, err := st.DB().BeginTx(b.ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback() }()
			if _, err := tx.ExecContext(b.ctx, `UPDATE runs SET status = 'cancelled', finished_at = $1, updated_at = $1 WHERE id = $2`, now, run.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(b.ctx, `UPDATE sends SET status = 'cancelled', updated_at = $1 WHERE run_id = $2 AND status IN ('pending', 'retry_wait')`, now, run.ID); err != nil {
				t.Fatal(err)
			}

			type result struct {
				status campaign.SendStatus
				err    error
			}
			res := commitOnceBlocked(t, st.DB(), tx, func() result {
				s, err := giveBack(b, held, now)
				return result{s, err}
			})
			if res.err != nil {
				t.Fatal(res.err)
			}
			_, got, err := b.store.GetRun(b.ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Status != campaign.SendCancelled || res.status != campaign.SendCancelled {
				t.Errorf("send given back while Cancel committed: stored %s, returned %s; want cancelled (no worker takes a send of a cancelled run)", got[0].Status, res.status)
			}
		})
	}
}

// commitOnceBlocked runs call beside tx, commits tx once call waits for one
// of its locks (or call returned first), and returns call's result.
func commitOnceBlocked[T any](t *testing.T, db *sql.DB, tx *sql.Tx, call func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- call() }()
	var res T
	finished := false
	for !finished && !waitingForALock(t, db) {
		select {
		case res = <-done:
			finished = true
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if !finished {
		res = <-done
	}
	return res
}

// waitingForALock reports whether a backend of db's database waits for a
// row or table lock.
func waitingForALock(t *testing.T, db *sql.DB) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}
