package main

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
)

// failingRetryOps is the API's operations with a store error on one run's
// retry (a lock timeout, a dropped connection).
type failingRetryOps struct {
	admin.StoreOperations
	failRun int64
}

func (o failingRetryOps) Retry(ctx context.Context, runID int64, opts campaign.RetryOptions) (int, error) {
	if runID == o.failRun {
		return 0, fmt.Errorf("retry run %d: %w", runID, errors.New("read tcp 10.0.0.5:5432: i/o timeout"))
	}
	return o.StoreOperations.Retry(ctx, runID, opts)
}

// A campaign retry that re-opens one run and fails on another (a store
// error, not "nothing to retry") answers 200 with a warning and
// "incomplete", and the CLI says what it re-opened and exits 1. It exited
// 0 (found by a review): a script, or an operator reading only the summary
// line "1 send in 1 run will be sent again", took the retry as done while a
// run with a failed send was not retried and stayed failed.
func TestRetryPartlyFailedExitsOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := sqliteStore(t)
	at := `{at: "` + adminT0.Add(time.Hour).Format(time.RFC3339) + `"}`
	file := strings.Replace(campaignFile("hourly"), at, `{cron: "0 * * * *"}`, 1)
	c, err := campaign.ParseFile([]byte(file), campaign.ValidateOptions{Now: adminT0, Apps: []string{"main"}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = st.Create(ctx, c, adminT0); err != nil {
		t.Fatal(err)
	}
	var runIDs []int64
	for _, at := range []time.Time{adminT0.Add(time.Hour), adminT0.Add(2 * time.Hour)} {
		runs, err := st.ClaimDue(ctx, at, at, 10, campaign.SimplePlan(time.Minute))
		if err != nil || len(runs) != 1 {
			t.Fatalf("ClaimDue at %s = %v, %v", at, runs, err)
		}
		settleRun(t, st, runs[0].ID, campaign.SendFailed)
		runIDs = append(runIDs, runs[0].ID)
	}
	now := func() time.Time { return adminT0.Add(3 * time.Hour) }
	srv, err := admin.New(admin.Options{
		Tokens: []string{adminToken}, Apps: []string{"main"}, Store: st,
		Operations: failingRetryOps{StoreOperations: admin.StoreOperations{Store: st, Now: now}, failRun: runIDs[1]},
		Now:        now, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	r := cliFor(t, hs.URL)("campaign", "retry", fmt.Sprint(c.ID))
	run, _, err := st.GetRun(ctx, runIDs[1])
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != campaign.RunFailed {
		t.Fatalf("precondition: run %d is %s, want failed (not retried)", runIDs[1], run.Status)
	}
	if r.code != 1 || !strings.Contains(r.stdout, "1 send in 1 run will be sent again") ||
		!strings.Contains(r.stderr, fmt.Sprintf("run %d: not retried", runIDs[1])) || !strings.Contains(r.stderr, "some runs were not retried") {
		t.Errorf("campaign retry with run %d not retried (store error; still failed): %s; want exit 1, what was re-opened, the warning and the error", runIDs[1], r)
	}
	settleRun(t, st, runIDs[0], campaign.SendFailed) // the re-opened run fails again
	r = cliFor(t, hs.URL)("campaign", "retry", fmt.Sprint(c.ID), "-o", "json")
	if r.code != 1 || !strings.Contains(r.stdout, `"incomplete": true`) {
		t.Errorf("campaign retry -o json, run %d still failing: %s; want exit 1 and incomplete in the JSON", runIDs[1], r)
	}
}
