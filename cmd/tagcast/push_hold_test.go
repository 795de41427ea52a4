package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/quota"
)

// README (this session's upgrade notes): "A 5xx (or 1000, 1050) answered
// with a Retry-After now holds every send of that App Key until then, as a
// 429 does". A worker's send does (worker.attempt calls Guard.Block), but
// `tagcast push send` (worker.SendNow) blocks only after a 429/1008: its own
// 503 with a Retry-After of an hour holds nothing, and the next push send
// calls straight into the announced outage (spending, when the 5xx may have
// reached the service, a kept quota slot each time).
func TestPushSendHoldsTheAppAfterA5xxRetryAfter(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"code":1000,"errorMessage":"down for maintenance"}`)
	})
	cfg := pushConfig(t, svc, "sqlite://"+filepath.Join(t.TempDir(), "tagcast.db"), "")
	vars := map[string]string{"MAIN_SECRET": svc.secret}

	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfg, "push", "send", "--app", "main", examplePushBody)
	if r.code != 1 {
		t.Fatalf("first push send (503, Retry-After 3600): %s", r)
	}
	r = runTagcast(t, cliEnv{vars: vars}, "--config", cfg, "push", "send", "--app", "main", examplePushBody)
	if n := len(svc.recorded()); n != 1 {
		t.Errorf("the service answered 503 with Retry-After: 3600, yet the next push send called it again "+
			"(%d calls); a 5xx's Retry-After holds every send of the App Key (README), as push send's 429 does:\n%s", n, r)
	}
}

// The block a 5xx's Retry-After now puts on an app (worker.attempt ->
// Guard.Block, kept in quota_blocks) is reported by `push send` as a
// rate-limit block: "the app is blocked after the service answered rate
// limited (429/1008)". An operator whose push service (or a proxy in front
// of it) announced an outage is sent looking for another client using up
// the App Key's quota. (`quota status` prints "blocked after a rate-limit
// answer" the same way, and api/openapi.yaml's blocked_until says "Set
// while a block after a 429/1008 is in force".)
func TestPushSendNamesAHoldsPossibleCauses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
	st, err := sqlstore.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rs := testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer func() { _ = rdb.Close() }()
	g, err := quota.New(quota.Options{Client: rdb, Ledger: st, Apps: map[string]quota.Policy{
		"main": {Hourly: 2, Daily: 3, HourWindow: quota.HourRolling, DayWindow: quota.DayCalendar, Timezone: "Asia/Shanghai"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// What worker.attempt does for a 503 answered with Retry-After: 3600.
	if err := g.Block(ctx, "main", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	svc := newFakeService(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"1","messageUID":"u1"}`)
	})
	cfg := pushConfig(t, svc, db, "")
	r := runTagcast(t, cliEnv{vars: map[string]string{"MAIN_SECRET": svc.secret}}, "--config", cfg, "push", "send", "--app", "main", examplePushBody)
	if r.code != 1 || !strings.Contains(r.stderr, "no quota left") {
		t.Fatalf("push send during the hold: %s; want it refused locally", r)
	}
	if !strings.Contains(r.stderr, "Retry-After") {
		t.Errorf("the app is held after a 5xx's Retry-After, but push send blames a rate-limit answer alone:\n%s", strings.TrimSpace(r.stderr))
	}
}
