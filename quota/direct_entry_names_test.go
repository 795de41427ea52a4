package quota_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// settableClock is a settable clock (the package's fakeClock is not visible
// from this external test package).
type settableClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *settableClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *settableClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// scriptedPusher answers each push with the next error (nil: sent).
type scriptedPusher struct {
	answers []error
	calls   int
}

func (p *scriptedPusher) Push(context.Context, *pushapi.Request) (*pushapi.PushResponse, error) {
	err := p.answers[p.calls]
	p.calls++
	if err != nil {
		return nil, err
	}
	return &pushapi.PushResponse{ID: "uid", MessageUID: "uid"}, nil
}

// A `push send` the service refused without sending (1009, the service not
// yet enabled) gives its slot back: release.lua puts "direct:<entry>" in
// the released set, which seed.lua skips for 26 h, and the store deletes
// the ledger row. On SQLite the quota_ledger id is a plain INTEGER PRIMARY
// KEY (no AUTOINCREMENT): the next row takes the deleted row's id again, so
// the next `push send`, which does reach the service, is recorded as the
// same "direct:<entry>". When the guard next rebuilds on a Redis that kept
// its data (a restart from its RDB snapshot, a Sentinel fail-over: the
// run_id changes, the released set stays), the seed skips that sent push
// as "given back", the day window counts one push too few, and the guard
// grants a fourth push in a day of three.
func TestReleasedDirectEntryIDReusedBySQLiteHidesASentPush(t *testing.T) {
	ctx := context.Background()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	clock := &settableClock{t: time.Date(2026, 6, 1, 9, 0, 0, 0, shanghai)}

	store, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "tagcast.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := testenv.Redis(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = client.Close() })
	g, err := quota.New(quota.Options{
		Client: client, Ledger: store, Prefix: "direct:quota:", Margin: quota.NoMargin, Now: clock.Now,
		Apps:   map[string]quota.Policy{"main": quota.DefaultPolicy()}, // 2 an hour, 3 a calendar day
		Logger: zerolog.New(zerolog.NewTestWriter(t)),
	})
	if err != nil {
		t.Fatal(err)
	}
	notEnabled := &pushapi.Error{Path: "/push.json", HTTPStatus: pushapi.StatusNotEnabled, Code: pushapi.CodeNotEnabled, Message: "service not enabled"}
	if !notEnabled.NotSent() {
		t.Fatal("setup: a 1009 must be a refusal without sending")
	}
	p := &scriptedPusher{answers: []error{notEnabled, nil, nil, nil, nil}}
	req := pushapi.Request{
		Platform:     []string{pushapi.PlatformIOS, pushapi.PlatformAndroid},
		FromUserID:   "system",
		Message:      &pushapi.Message{ObjectName: "AppNote", Content: "hi"},
		Audience:     pushapi.Audience{Tag: []string{"vip"}},
		Notification: &pushapi.Notification{Title: "Sale", Alert: "hello"},
	}
	send := func(at string) error {
		t.Helper()
		ts, err := time.ParseInLocation("15:04", at, shanghai)
		if err != nil {
			t.Fatal(err)
		}
		clock.Set(time.Date(2026, 6, 1, ts.Hour(), ts.Minute(), 0, 0, shanghai))
		r := req
		_, err = worker.SendNow(ctx, g, store, p, "main", &r)
		return err
	}

	// 09:00 refused (1009): not sent, slot and ledger row given back.
	if err := send("09:00"); !errors.As(err, new(*pushapi.Error)) {
		t.Fatalf("09:00: %v, want the 1009", err)
	}
	// 10:00, 10:30, 11:00: the day's three pushes, all sent.
	for _, at := range []string{"10:00", "10:30", "11:00"} {
		if err := send(at); err != nil {
			t.Fatalf("%s: %v", at, err)
		}
	}
	var rows int
	if err := store.DB().QueryRowContext(ctx, `SELECT count(*) FROM quota_ledger WHERE app = 'main'`).Scan(&rows); err != nil || rows != 3 {
		t.Fatalf("ledger: %d rows (%v), want the 3 sent pushes", rows, err)
	}

	// Redis restarts from its snapshot (its default persistence), as after
	// an upgrade or with a fail-over to an in-sync replica: a new run_id,
	// everything else as it was.
	if err := client.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)

	// 12:00: the calendar day holds three sent pushes; a fourth must wait.
	err = send("12:00")
	if !errors.Is(err, quota.ErrNoRoom) {
		t.Errorf("12:00 after the rebuild: %v (pushes made: %d); want no room: the day's 3 pushes were sent at 10:00, 10:30 and 11:00, "+
			"but the rebuild skipped one whose ledger id a refused push had used and given back", err, p.calls)
	}
}
