package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/quota"
)

// TestQuotaUnblock: a block (here a 5xx's Retry-After of a day, as a
// misconfigured proxy might send) can only be waited out; `quota unblock
// --app` lifts it through the admin API (DELETE /v1/quota/{app}/block), in
// Redis and in the store, and prints the app's quota after.
func TestQuotaUnblock(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	ctx := context.Background()
	if _, err := a.guard.HoldFor(ctx, "main", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if r := a.tagcast(t, "quota", "status", "--app", "main"); r.code != 0 || !strings.Contains(r.stdout, "blocked by the service's answer") {
		t.Fatalf("quota status of a held app: %s", r)
	}

	r := a.tagcast(t, "quota", "unblock", "--app", "main", "-o", "json")
	if r.code != 0 {
		t.Fatalf("quota unblock: %s", r)
	}
	var st quota.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("quota unblock -o json: %v\n%s", err, r.stdout)
	}
	if !st.BlockedUntil.IsZero() || !st.NextOpening.Equal(st.At) {
		t.Errorf("after the unblock: blocked until %s, next opening %s at %s; want no block, room now", st.BlockedUntil, st.NextOpening, st.At)
	}
	if until, err := a.store.BlockedUntil(ctx, "main"); err != nil || !until.IsZero() {
		t.Errorf("the store still records a block until %s (%v): a rebuild would bring it back", until, err)
	}

	for _, args := range [][]string{{"quota", "unblock"}, {"quota", "unblock", "--app", "nope"}, {"quota", "unblock", "--app", ".."}} {
		if r := a.tagcast(t, args...); r.code != 2 || !strings.Contains(r.stderr, "--app") {
			t.Errorf("tagcast %s: %s; want a usage error naming --app", strings.Join(args, " "), r)
		}
	}
}
