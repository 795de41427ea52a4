package admin_test

import (
	"encoding/json"
	"testing"
	"time"
)

// DELETE /v1/quota/{app}/block answers the block it lifted with the app's
// quota after: "lifted" and "lifted_block_until" (the block's end, as the
// guard held it), then "lifted": false and no end once there is none.
func TestQuotaUnblockAnswersTheBlockItLifted(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	until, err := b.guard.HoldFor(b.ctx, "main", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.client.UnblockQuota(b.ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if got.Lifted == nil || !*got.Lifted || !got.LiftedBlockUntil.Equal(until) || got.App != "main" || !got.BlockedUntil.IsZero() || !got.NextOpening.Equal(t0) {
		t.Errorf("unblock of a held app = %+v; want lifted, until %s, and the quota after: not blocked, room now", got, until)
	}

	r := b.call(t, "DELETE", "/v1/quota/main/block", "Bearer "+tokenA, "", nil)
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.body), &raw); err != nil || r.status != 200 {
		t.Fatalf("second unblock: %s (%v)", r, err)
	}
	if raw["lifted"] != false || raw["app"] != "main" || raw["hour"] == nil {
		t.Errorf("second unblock = %s; want \"lifted\": false with the app's quota", r.body)
	}
	if _, ok := raw["lifted_block_until"]; ok {
		t.Errorf("second unblock = %s; want no lifted_block_until when nothing was lifted", r.body)
	}
}
