package migrations_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/pressly/goose/v3/lock"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/migrations"
	"github.com/tagcast/tagcast/pushapi"
)

// On PostgreSQL, Down(KeepData) checks the step goose rolls back: the
// check runs under goose's advisory lock, once goose has taken it for the
// step. Was: it read the newest applied version and checked that step
// outside the lock, then let goose take the lock and roll back whatever
// step was newest by then; when another `tagcast migrate down` rolled back
// the checked step in between, Down rolled back the step below unchecked:
// here 00004, dropping the campaigns' idempotency keys, which Down(KeepData)
// promises to refuse (TestDownKeepsIdempotencyKeys: a create retried under
// its key then makes a second campaign, which fires too). Found by a
// review. Deterministic: a table lock holds the first Down inside a version
// read with goose's lock held, the second queues for goose's lock and gets
// it on release, and rolls back 00005 (what goose's Down of 00005 does)
// while the first waits for the lock.
func TestDownChecksTheStepItRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.Postgres(t)
	st := migratedStore(t, url)

	at := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	c := campaign.Campaign{
		App: "main", Name: "winter-sale",
		Push: pushapi.Request{Platform: []string{"ios"}, FromUserID: "system", Audience: pushapi.Audience{IsToAll: true},
			Message: &pushapi.Message{ObjectName: "RC:TxtMsg", Content: `{"content":"hi"}`}},
		Schedule:  campaign.Schedule{At: &at, Missed: campaign.MissedOnce},
		Status:    campaign.CampaignActive,
		NextRunAt: &at,
	}
	key := campaign.IdempotencyKey{Key: "create-winter-sale-1", RequestHash: "h1"}
	if _, _, err := st.CreateIdempotent(ctx, c, key, time.Now()); err != nil {
		t.Fatal(err)
	}
	// Down to 00005, which drops an index and nothing else.
	rollBackNewerThan(t, st.DB(), st.Dialect(), 7)
	if res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.DropData); err != nil || len(res) != 1 || res[0].Version != 7 {
		t.Fatalf("down from 7 = %v, %v", res, err)
	}
	if res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData); err != nil || len(res) != 1 || res[0].Version != 6 {
		t.Fatalf("down from 6 = %v, %v", res, err)
	}

	other, _, err := sqlstore.OpenDB(url) // the second `migrate down`, and the test's eyes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	conn := func() *sql.Conn {
		cn, err := other.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cn.Close() })
		return cn
	}
	tableLock, second := conn(), conn()
	var secondPID int
	if err := second.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&secondPID); err != nil {
		t.Fatal(err)
	}
	cond := func(q string, args ...any) bool {
		t.Helper()
		var ok bool
		if err := other.QueryRowContext(ctx, q, args...).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	waitFor := func(what, q string, args ...any) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond(q, args...) {
			if time.Now().After(deadline) {
				t.Fatalf("never: %s", what)
			}
			time.Sleep(5 * time.Millisecond) // polling a condition, not timing logic
		}
	}

	if _, err := tableLock.ExecContext(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if _, err := tableLock.ExecContext(ctx, `LOCK TABLE goose_db_version IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	// The first `migrate down`: roll back 00005 (an index), keeping data.
	type result struct {
		res []migrations.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData)
		done <- result{res, err}
	}()
	waitFor("the first down holds goose's lock, reading the version",
		`SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`)

	// The second queues for goose's lock.
	got := make(chan error, 1)
	go func() {
		_, err := second.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lock.DefaultLockID)
		got <- err
	}()
	waitFor("the second down waits for goose's lock",
		`SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid = $1)`, secondPID)
	if _, err := tableLock.ExecContext(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}

	// Either the first down still holds the lock over its check and its
	// step (it then finishes first), or it checked 00005 and now waits for
	// the lock to roll back whatever is newest (it asks who holds it).
	var first *result
	deadline := time.Now().Add(30 * time.Second)
	for first == nil {
		select {
		case r := <-done:
			first = &r
			continue
		default:
		}
		if cond(`SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
			AND query LIKE '%' || 'pg_catalog.pg' || '_locks' || '%')`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first down neither finished nor waited for goose's lock")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not timing logic
	}
	if first == nil {
		// The second `migrate down` rolls back 00005, as goose does.
		for _, q := range []string{`DROP INDEX CONCURRENTLY IF EXISTS runs_campaign`, `DELETE FROM goose_db_version WHERE version_id = 5`} {
			if _, err := second.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := second.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, lock.DefaultLockID); err != nil {
		t.Fatal(err)
	}
	if first == nil {
		select {
		case r := <-done:
			first = &r
		case <-time.After(60 * time.Second):
			t.Fatal("the first down did not return")
		}
	}

	var keys int
	keysErr := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM campaigns WHERE idempotency_key IS NOT NULL`).Scan(&keys)
	var loss *migrations.DataLossError
	for _, r := range first.res {
		if r.Version == 4 {
			t.Errorf("Down(KeepData) checked 00005 and rolled back %v (err %v): 00004 went unchecked; campaigns' idempotency keys now: %d (%v); "+
				"want it refused with a *DataLossError, or only 00005 rolled back", first.res, first.err, keys, keysErr)
		}
	}
	if keysErr != nil || keys != 1 {
		t.Errorf("after two `migrate down` at once: campaigns holding an idempotency key: %d, %v; want 1 kept (Down refuses to drop them unless told to); first down = %v, %v (DataLossError %v)",
			keys, keysErr, first.res, first.err, errors.As(first.err, &loss))
	}
}
