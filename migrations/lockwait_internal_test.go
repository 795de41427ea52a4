package migrations

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver

	"github.com/tagcast/tagcast/internal/testenv"
)

// TestPgLockerGivesUpNamingTheHolder guards pgLocker's other way to stop
// waiting: its timeout (5 minutes in use) passed while another session
// holds the lock. It returns a *LockWaitError naming the holder and
// saying it gave up, and a free lock is taken at once. Deterministic: the
// timeout is 0, so the first try that finds the lock held gives up.
func TestPgLockerGivesUpNamingTheHolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sql.Open("pgx", testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	conn := func() *sql.Conn {
		t.Helper()
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	l := &pgLocker{retry: time.Hour, timeout: 0}

	holder := conn()
	if err := l.SessionLock(ctx, holder); err != nil {
		t.Fatalf("a free lock: %v", err)
	}
	var pid int64
	if err := holder.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	err = l.SessionLock(ctx, conn())
	var lw *LockWaitError
	if !errors.As(err, &lw) || lw.Holder != pid || lw.LockID != pgLockID {
		t.Fatalf("SessionLock while session %d holds the lock = %v; want a *LockWaitError naming it", pid, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "another tagcast process's migration lock") || !strings.Contains(msg, "gave up") {
		t.Errorf("%q: want it to name the lock and say it gave up", msg)
	}
}
