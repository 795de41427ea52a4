package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperModeEnv); mode != "" {
		os.Exit(helperMain(mode)) // a child of TestClaimAcrossProcesses
	}
	testenv.Main(m)
}

// storeFactory opens a fresh, migrated, empty store for one test.
type storeFactory func(t testing.TB) campaign.Store

// dialects are the two databases every conformance test runs on.
var dialects = []struct {
	name string
	url  func(t testing.TB) string
}{
	{"postgres", func(t testing.TB) string { return testenv.Postgres(t) }},
	{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db") }},
}

func openMigrated(t testing.TB, url string) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			RunConformance(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
		})
	}
}

// t0 is the injected clock's start; tests move time by adding to it.
var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// bundle is what a conformance test needs.
type bundle struct {
	ctx   context.Context
	store campaign.Store
}

func setup(t testing.TB, newStore storeFactory) bundle {
	t.Helper()
	return bundle{ctx: context.Background(), store: newStore(t)}
}

// newCampaign is a valid one-off campaign due at `at` for app with users
// user ids (0: a tag audience).
func newCampaign(app, name string, at time.Time, users int) campaign.Campaign {
	c := campaign.Campaign{
		App:  app,
		Name: name,
		Push: pushapi.Request{
			Platform:     []string{"ios", "android"},
			FromUserID:   "system",
			Audience:     pushapi.Audience{Tag: []string{"女"}},
			Message:      &pushapi.Message{ObjectName: "AppNote", Content: "hi"},
			Notification: &pushapi.Notification{Alert: "{{.Vars.product}} at {{.FireTime.Format \"15:04\"}}"},
		},
		Schedule:  campaign.Schedule{At: &at, Missed: campaign.MissedOnce, DeliverWithin: time.Hour},
		Vars:      map[string]any{"product": "coat"},
		Status:    campaign.CampaignActive,
		NextRunAt: &at,
	}
	if users > 0 {
		c.Push.Audience = pushapi.Audience{}
		for i := range users {
			c.Push.Audience.UserID = append(c.Push.Audience.UserID, fmt.Sprintf("user-%05d", i))
		}
	}
	return c
}

func (b bundle) create(t testing.TB, c campaign.Campaign) campaign.Campaign {
	t.Helper()
	out, err := b.store.Create(b.ctx, c, t0.Add(-time.Hour))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return out
}

var plan = campaign.SimplePlan(time.Minute)

// fire creates a due one-off campaign and claims it, returning its run and sends.
// farFuture is a due instant every run has reached.
var farFuture = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)

func (b bundle) fire(t testing.TB, users int) (campaign.Run, []campaign.Send) {
	t.Helper()
	return b.fireAt(t, newCampaign("main", "fired", t0, users), t0)
}

// startedRun is fire's run, started (running), with its sends, of which
// there must be want.
func (b bundle) startedRun(t testing.TB, users, want int) (campaign.Run, []campaign.Send) {
	t.Helper()
	run, sends := b.fire(t, users)
	if len(sends) != want {
		t.Fatalf("%d sends, want %d", len(sends), want)
	}
	run, err := b.store.StartRun(b.ctx, run.ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	return run, sends
}

func (b bundle) claim(t testing.TB, sendID int64, now time.Time) campaign.Send {
	t.Helper()
	sd, err := b.store.ClaimSend(b.ctx, sendID, now, time.Minute)
	if err != nil {
		t.Fatalf("claim send %d: %v", sendID, err)
	}
	return sd
}

func (b bundle) send(t testing.TB, sd campaign.Send, at time.Time, o campaign.Outcome) campaign.Send {
	t.Helper()
	o.At = at
	out, err := b.store.RecordOutcome(b.ctx, sd.Token(), o)
	if err != nil {
		t.Fatalf("record %s: %v", o.Status, err)
	}
	return out
}

func wantTransitionError(t testing.TB, err error, what string) {
	t.Helper()
	var te *campaign.TransitionError
	if !errors.As(err, &te) || !errors.Is(err, campaign.ErrIllegalTransition) {
		t.Fatalf("%s: err = %v, want a *campaign.TransitionError", what, err)
	}
}

// RunConformance is the store conformance suite: every Store
// implementation must pass it.
func RunConformance(t *testing.T, newStore storeFactory) {
	tests := map[string]func(t *testing.T, b bundle){
		"CreateGetList":             testCreateGetList,
		"ClaimDueFiresOnce":         testClaimDueFiresOnce,
		"ClaimDueRace":              testClaimDueRace,
		"ClaimSendRace":             testClaimSendRace,
		"ClaimFirstSend":            testClaimFirstSend,
		"ClaimFirstSendRace":        testClaimFirstSendRace,
		"OutcomesAndLedger":         testOutcomesAndLedger,
		"KeptQuotaIsLedgered":       testKeptQuotaIsLedgered,
		"CancelledRunsDoNotWait":    testCancelledRunsDoNotWait,
		"LateAnswerIsRecorded":      testLateAnswerIsRecorded,
		"LateGiveBack":              testLateGiveBack,
		"LateNotSent":               testLateNotSent,
		"RetryWaitAndRelease":       testRetryWaitAndRelease,
		"StaleLeases":               testStaleLeases,
		"PauseResumeCancel":         testPauseResumeCancel,
		"ExpireRun":                 testExpireRun,
		"EnqueueBookkeeping":        testEnqueueBookkeeping,
		"RenderFailureFailsRun":     testRenderFailureFailsRun,
		"PlanErrorSkipsCampaign":    testPlanErrorSkipsCampaign,
		"RefusedDoNotBlockTheRest":  testRefusedDoNotBlockTheRest,
		"ClaimRecordsTheClaimant":   testClaimRecordsTheClaimant,
		"LedgerInFlightAndDirect":   testLedgerInFlightAndDirect,
		"SubMicrosecondAtFiresOnce": testSubMicrosecondAtFiresOnce,
		"FinishRunDone":             testFinishRunDone,
		"RecordOutcomeAndFinish":    testRecordOutcomeAndFinish,
		"CancelRacesClaimAndRecord": testCancelRacesClaimAndRecord,
		"QuotaBlocks":               testQuotaBlocks,
		"RunsPaging":                testRunsPaging,
		"RunsPageBytes":             testRunsPageBytes,
		"ListPageBytes":             testListPageBytes,
		"IdempotentCreate":          testIdempotentCreate,
		"IdempotentCreateRace":      testIdempotentCreateRace,
		"RetryUnderKey":             testRetryUnderKey,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, setup(t, newStore))
		})
	}
}

func testCreateGetList(t *testing.T, b bundle) {
	var ids []int64
	for i, app := range []string{"main", "other", "main", "main"} {
		c := b.create(t, newCampaign(app, fmt.Sprintf("sale-%d", i), t0.Add(time.Duration(i)*time.Hour), 0))
		ids = append(ids, c.ID)
	}
	d, err := b.store.Get(b.ctx, ids[1], campaign.RunsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := newCampaign("other", "sale-1", t0.Add(time.Hour), 0)
	want.ID = ids[1]
	want.CreatedAt, want.UpdatedAt = t0.Add(-time.Hour), t0.Add(-time.Hour)
	noRuns := map[campaign.RunStatus]int{}
	for _, st := range campaign.Statuses[campaign.RunStatus]() {
		noRuns[st] = 0
	}
	if diff := cmp.Diff(campaign.Detail{Campaign: want, Runs: []campaign.RunDetail{}, RunCounts: noRuns}, d, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	if _, err := b.store.Get(b.ctx, 999999, campaign.RunsQuery{}); !errors.Is(err, campaign.ErrNotFound) {
		t.Errorf("Get(missing) err = %v, want ErrNotFound", err)
	}

	names := func(cs []campaign.Campaign) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	page1, next, err := b.store.List(b.ctx, campaign.ListFilter{App: "main", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	page2, next2, err := b.store.List(b.ctx, campaign.ListFilter{App: "main", Limit: 2, After: next})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"sale-0", "sale-2"}, {"sale-3"}}, [][]string{names(page1), names(page2)}); diff != "" {
		t.Errorf("keyset pages (-want +got):\n%s", diff)
	}
	if next == 0 || next2 != 0 {
		t.Errorf("cursors = %d, %d; want non-zero then 0", next, next2)
	}
	byName, _, err := b.store.List(b.ctx, campaign.ListFilter{Name: "ale-3"})
	if err != nil || len(byName) != 1 || byName[0].ID != ids[3] {
		t.Errorf("List(name) = %v, %v", names(byName), err)
	}
	if _, err := b.store.Pause(b.ctx, ids[2], t0); err != nil {
		t.Fatal(err)
	}
	paused, _, err := b.store.List(b.ctx, campaign.ListFilter{Status: campaign.CampaignPaused})
	if err != nil || len(paused) != 1 || paused[0].ID != ids[2] {
		t.Errorf("List(paused) = %v, %v", names(paused), err)
	}
}

func testClaimDueFiresOnce(t *testing.T, b bundle) {
	oneOff := b.create(t, newCampaign("main", "one-off", t0, 2500))
	cron := newCampaign("main", "every-5-min", t0, 0)
	cron.Schedule = campaign.Schedule{Cron: "*/5 * * * *", Missed: campaign.MissedSkip}
	cron = b.create(t, cron)
	later := b.create(t, newCampaign("main", "later", t0.Add(time.Hour), 0))

	if runs, err := b.store.ClaimDue(b.ctx, t0.Add(-time.Second), t0.Add(-time.Second), 10, plan); err != nil || len(runs) != 0 {
		t.Fatalf("ClaimDue before the fire = %v, %v; want nothing (never early)", runs, err)
	}
	now := t0.Add(200 * time.Millisecond)
	runs, err := b.store.ClaimDue(b.ctx, now, now, 10, plan)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]time.Time{}
	for _, r := range runs {
		got[r.CampaignID] = r.ScheduledFor
		if r.Status != campaign.RunPending || r.EnqueuedAt != nil {
			t.Errorf("run %d: status %s enqueued %v, want pending and not enqueued", r.ID, r.Status, r.EnqueuedAt)
		}
	}
	if diff := cmp.Diff(map[int64]time.Time{oneOff.ID: t0, cron.ID: t0}, got); diff != "" {
		t.Errorf("fired (-want +got):\n%s", diff)
	}
	if again, err := b.store.ClaimDue(b.ctx, now, now, 10, plan); err != nil || len(again) != 0 {
		t.Errorf("second ClaimDue = %v, %v; want nothing", again, err)
	}

	d, err := b.store.Get(b.ctx, oneOff.ID, campaign.RunsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != campaign.CampaignDone || d.NextRunAt != nil {
		t.Errorf("one-off after its fire: status %s next %v, want done and nil", d.Status, d.NextRunAt)
	}
	if len(d.Runs) != 1 {
		t.Fatalf("one-off has %d runs, want 1", len(d.Runs))
	}
	var sizes []int
	for i, sd := range d.Runs[0].Sends {
		sizes = append(sizes, len(sd.Body.Audience.UserID))
		if sd.Index != i || sd.Status != campaign.SendPending || sd.App != "main" {
			t.Errorf("send %d: index %d status %s app %s", sd.ID, sd.Index, sd.Status, sd.App)
		}
		if sd.Body.Notification.Alert != "coat at 09:00" {
			t.Errorf("send %d: alert %q, want the rendered template", sd.ID, sd.Body.Notification.Alert)
		}
	}
	if diff := cmp.Diff([]int{1000, 1000, 500}, sizes); diff != "" {
		t.Errorf("user-id chunks (-want +got):\n%s", diff)
	}
	if d.Runs[0].DeliverBy == nil || !d.Runs[0].DeliverBy.Equal(t0.Add(time.Hour)) {
		t.Errorf("deliver_by = %v, want scheduled_for + 1h", d.Runs[0].DeliverBy)
	}

	c, err := b.store.Get(b.ctx, cron.ID, campaign.RunsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != campaign.CampaignActive || c.NextRunAt == nil || !c.NextRunAt.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("cron after its fire: status %s next %v, want active at +5m", c.Status, c.NextRunAt)
	}
	if l, err := b.store.Get(b.ctx, later.ID, campaign.RunsQuery{}); err != nil || len(l.Runs) != 0 {
		t.Errorf("a campaign not yet due fired: %v %v", l.Runs, err)
	}
}

// testClaimDueRace: 8 goroutines claim the same due campaigns; each fire is
// claimed exactly once.
func testClaimDueRace(t *testing.T, b bundle) {
	const campaigns, workers = 40, 8
	want := map[int64]int{}
	for i := range campaigns {
		c := b.create(t, newCampaign("main", fmt.Sprintf("c%d", i), t0.Add(-time.Duration(i)*time.Second), 0))
		want[c.ID] = 1
	}
	var mu sync.Mutex
	got := map[int64]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-start
			for {
				runs, err := b.store.ClaimDue(b.ctx, t0, t0, 3, plan)
				if err != nil {
					t.Errorf("ClaimDue: %v", err)
					return
				}
				if len(runs) == 0 {
					return
				}
				mu.Lock()
				for _, r := range runs {
					got[r.CampaignID]++
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims per campaign (-want +got):\n%s", diff)
	}
}

// testClaimSendRace: 8 goroutines claim the same sends; each send is
// claimed exactly once.
func testClaimSendRace(t *testing.T, b bundle) {
	const workers = 8
	var ids []int64
	for range 3 {
		c := b.create(t, newCampaign("main", "big", t0, 4500)) // 5 sends each
		_ = c
	}
	runs, err := b.store.ClaimDue(b.ctx, t0, t0, 10, plan)
	if err != nil || len(runs) != 3 {
		t.Fatalf("ClaimDue = %d runs, %v", len(runs), err)
	}
	for _, r := range runs {
		_, sends, err := b.store.GetRun(b.ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, sd := range sends {
			ids = append(ids, sd.ID)
		}
	}
	var mu sync.Mutex
	got := map[int64]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			order := slices.Clone(ids)
			if w%2 == 1 {
				slices.Reverse(order)
			}
			for _, id := range order {
				sd, err := b.store.ClaimSend(b.ctx, id, t0, time.Minute)
				if errors.Is(err, campaign.ErrIllegalTransition) {
					continue
				}
				if err != nil {
					t.Errorf("ClaimSend %d: %v", id, err)
					return
				}
				if sd.Status != campaign.SendInFlight || sd.Attempts != 1 {
					t.Errorf("claimed send %d: status %s attempts %d", id, sd.Status, sd.Attempts)
				}
				mu.Lock()
				got[id]++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	want := map[int64]int{}
	for _, id := range ids {
		want[id] = 1
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims per send (-want +got):\n%s", diff)
	}
}

func testOutcomesAndLedger(t *testing.T, b bundle) {
	run, sends := b.fire(t, 3500) // 4 sends
	if len(sends) != 4 {
		t.Fatalf("%d sends, want 4", len(sends))
	}
	if _, err := b.store.StartRun(b.ctx, run.ID, t0); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Second)

	s0 := b.claim(t, sends[0].ID, now)
	s0 = b.send(t, s0, now, campaign.Outcome{Status: campaign.SendSent, PushID: "push-1", MessageUID: "BS45-U2HJ-HAAD-HFNQ"})
	if s0.Status != campaign.SendSent || s0.MessageUID != "BS45-U2HJ-HAAD-HFNQ" || s0.PushID != "push-1" || s0.LastCode != 200 ||
		s0.SentAt == nil || !s0.SentAt.Equal(now) || s0.LeaseUntil != nil {
		t.Errorf("sent send = %+v", s0)
	}
	_, err := b.store.RecordOutcome(b.ctx, s0.Token(), campaign.Outcome{Status: campaign.SendFailed, At: now})
	wantTransitionError(t, err, "second outcome on a settled send")

	b.send(t, b.claim(t, sends[1].ID, now.Add(2*time.Second)), now.Add(2*time.Second), campaign.Outcome{Status: campaign.SendUnknown, Message: "read timeout"})
	s2 := b.send(t, b.claim(t, sends[2].ID, now), now, campaign.Outcome{Status: campaign.SendFailed, Code: 1002, Message: "parameter error"})
	if s2.LastCode != 1002 || s2.LastMessage != "parameter error" {
		t.Errorf("failed send keeps code and message: %+v", s2)
	}
	if _, err := b.store.FinishRun(b.ctx, run.ID, now); err == nil {
		t.Fatal("FinishRun with a pending send succeeded")
	}
	b.send(t, b.claim(t, sends[3].ID, now.Add(3*time.Second)), now.Add(3*time.Second), campaign.Outcome{Status: campaign.SendSent, PushID: "push-4", MessageUID: "m4"})

	ledger, err := b.store.SentBetween(b.ctx, "main", now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wantLedger := []time.Time{now, now.Add(2 * time.Second), now.Add(3 * time.Second)}
	if diff := cmp.Diff(wantLedger, ledger); diff != "" {
		t.Errorf("ledger: sent and unknown count (-want +got):\n%s", diff)
	}
	if l, _ := b.store.SentBetween(b.ctx, "main", now.Add(time.Second), now.Add(3*time.Second)); len(l) != 1 {
		t.Errorf("ledger [from, to) window: %v, want only the unknown at +2s", l)
	}
	if l, err := b.store.SentBetween(b.ctx, "other", now, now.Add(time.Hour)); err != nil || len(l) != 0 {
		t.Errorf("ledger of another app: %v (err %v)", l, err)
	}

	r, err := b.store.FinishRun(b.ctx, run.ID, now.Add(time.Minute))
	if err != nil || r.Status != campaign.RunPartiallyFailed || r.FinishedAt == nil {
		t.Fatalf("FinishRun = %+v, %v; want partially_failed", r, err)
	}

	n, err := b.store.ResetForRetry(b.ctx, run.ID, campaign.RetryOptions{}, now.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("ResetForRetry(failed only) = %d, %v; want 1", n, err)
	}
	r, sends, err = b.store.GetRun(b.ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != campaign.RunPending || r.EnqueuedAt != nil || r.Retries != 1 || r.DeliverBy == nil || !r.DeliverBy.Equal(now.Add(2*time.Hour)) {
		t.Errorf("retried run = %+v", r)
	}
	statuses := func() []campaign.SendStatus {
		_, ss, _ := b.store.GetRun(b.ctx, run.ID)
		var out []campaign.SendStatus
		for _, sd := range ss {
			out = append(out, sd.Status)
		}
		return out
	}
	if diff := cmp.Diff([]campaign.SendStatus{"sent", "unknown", "pending", "sent"}, statuses()); diff != "" {
		t.Errorf("after retry of failed sends (-want +got):\n%s", diff)
	}
	if sends[2].Attempts != 0 {
		t.Errorf("retried send attempts = %d, want 0", sends[2].Attempts)
	}
	toEnqueue, err := b.store.RunsToEnqueue(b.ctx, farFuture, 0, 10)
	if err != nil || len(toEnqueue) != 1 || toEnqueue[0].ID != run.ID {
		t.Errorf("RunsToEnqueue = %v, %v; want the retried run", toEnqueue, err)
	}

	// Settle again, then re-send the unknown one on purpose.
	b.send(t, b.claim(t, sends[2].ID, now.Add(time.Hour)), now.Add(time.Hour), campaign.Outcome{Status: campaign.SendFailed, Code: 1002})
	if _, err := b.store.StartRun(b.ctx, run.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.FinishRun(b.ctx, run.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	n, err = b.store.ResetForRetry(b.ctx, run.ID, campaign.RetryOptions{Unknown: true}, now.Add(2*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("ResetForRetry(unknown too) = %d, %v; want 2", n, err)
	}
	if diff := cmp.Diff([]campaign.SendStatus{"sent", "pending", "pending", "sent"}, statuses()); diff != "" {
		t.Errorf("after retry with unknown (-want +got):\n%s", diff)
	}
	ledger, _ = b.store.SentBetween(b.ctx, "main", now, now.Add(time.Hour))
	if diff := cmp.Diff(wantLedger, ledger); diff != "" {
		t.Errorf("a retry must keep earlier attempts in the ledger (-want +got):\n%s", diff)
	}
	if _, err := b.store.ResetForRetry(b.ctx, run.ID, campaign.RetryOptions{}, now); err == nil {
		t.Error("retry of a pending run succeeded")
	}
}

func testRetryWaitAndRelease(t *testing.T, b bundle) {
	_, sends := b.fire(t, 0)
	id := sends[0].ID
	sd := b.claim(t, id, t0)
	sd = b.send(t, sd, t0, campaign.Outcome{Status: campaign.SendRetryWait, Code: 1050, Message: "timeout", NextAttempt: t0.Add(10 * time.Second)})
	if sd.Status != campaign.SendRetryWait || sd.NextAttemptAt == nil || sd.Attempts != 1 {
		t.Fatalf("retry_wait send = %+v", sd)
	}
	_, err := b.store.ClaimSend(b.ctx, id, t0.Add(9*time.Second), time.Minute)
	wantTransitionError(t, err, "claim before next_attempt_at")
	sd = b.claim(t, id, t0.Add(10*time.Second))
	if sd.Attempts != 2 || sd.Claim != 2 {
		t.Errorf("second claim: attempts %d claim %d, want 2 and 2", sd.Attempts, sd.Claim)
	}
	// A 429 gives the claim back without spending the attempt.
	sd = b.send(t, sd, t0.Add(11*time.Second), campaign.Outcome{Status: campaign.SendPending, Code: 1008, Message: "rate limited: next slot at 10:00"})
	if sd.Status != campaign.SendPending || sd.Attempts != 1 || sd.ClaimedAt != nil {
		t.Errorf("released send = %+v, want pending with 1 attempt", sd)
	}
	_, err = b.store.RecordOutcome(b.ctx, campaign.ClaimToken{SendID: id, Claim: 2}, campaign.Outcome{Status: campaign.SendSent, At: t0})
	wantTransitionError(t, err, "outcome on a released claim")
	_, err = b.store.RecordOutcome(b.ctx, sd.Token(), campaign.Outcome{Status: campaign.SendCancelled, At: t0})
	wantTransitionError(t, err, "in_flight -> cancelled is not in the table")
	if _, err := b.store.ClaimSend(b.ctx, 987654, t0, time.Minute); !errors.Is(err, campaign.ErrNotFound) {
		t.Errorf("claim of a missing send: %v, want ErrNotFound", err)
	}
}

func testStaleLeases(t *testing.T, b bundle) {
	_, sends := b.fire(t, 2500) // 3 sends
	crashed := b.claim(t, sends[0].ID, t0)
	slow := b.claim(t, sends[1].ID, t0.Add(time.Second))
	fresh, err := b.store.ClaimSend(b.ctx, sends[2].ID, t0.Add(50*time.Second), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if crashed.SentAt == nil || !crashed.SentAt.Equal(t0) {
		t.Errorf("claimed send's sent_at = %v, want the claim's instant %v (the attempt begins with it)", crashed.SentAt, t0)
	}
	if got, err := b.store.ResolveStaleSends(b.ctx, t0.Add(59*time.Second)); err != nil || len(got) != 0 {
		t.Errorf("sends resolved before their lease ended: %v (err %v)", got, err)
	}
	resolved, err := b.store.ResolveStaleSends(b.ctx, t0.Add(62*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]campaign.SendStatus{}
	for _, sd := range resolved {
		got[sd.ID] = sd.Status
	}
	want := map[int64]campaign.SendStatus{crashed.ID: campaign.SendUnknown, slow.ID: campaign.SendUnknown}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resolved stale sends (-want +got):\n%s", diff)
	}
	ledger, _ := b.store.SentBetween(b.ctx, "main", t0, t0.Add(time.Hour))
	if diff := cmp.Diff([]time.Time{t0, t0.Add(time.Second), t0.Add(50 * time.Second)}, ledger); diff != "" {
		t.Errorf("stale attempts count against the quota, as does the one in flight (-want +got):\n%s", diff)
	}
	// The crashed worker comes back: its claim is over for an answer that
	// may have sent (a 5xx). (The service's 200 for that same claim, and an
	// answer that says nothing went out, are still recorded:
	// LateAnswerIsRecorded, LateGiveBack, LateNotSent.)
	_, err = b.store.RecordOutcome(b.ctx, crashed.Token(), campaign.Outcome{Status: campaign.SendRetryWait, Code: 502, KeepsQuota: true,
		NextAttempt: t0.Add(90 * time.Second), At: t0.Add(62 * time.Second)})
	wantTransitionError(t, err, "outcome after the lease was resolved")
	// unknown is never claimed again without an operator's retry.
	_, err = b.store.ClaimSend(b.ctx, slow.ID, t0.Add(70*time.Second), time.Minute)
	wantTransitionError(t, err, "claim of an unknown send")
	if sd := b.send(t, fresh, t0.Add(70*time.Second), campaign.Outcome{Status: campaign.SendSent, MessageUID: "m"}); sd.Status != campaign.SendSent {
		t.Errorf("send within its lease: %s, want sent", sd.Status)
	}
}

func testPauseResumeCancel(t *testing.T, b bundle) {
	c := newCampaign("main", "cron", t0, 0)
	c.Schedule = campaign.Schedule{Cron: "0 * * * *", Missed: campaign.MissedOnce}
	c = b.create(t, c)
	if _, err := b.store.Pause(b.ctx, c.ID, t0); err != nil {
		t.Fatal(err)
	}
	_, err := b.store.Pause(b.ctx, c.ID, t0)
	wantTransitionError(t, err, "pause a paused campaign")
	if runs, err := b.store.ClaimDue(b.ctx, t0.Add(3*time.Hour+time.Minute), t0.Add(3*time.Hour+time.Minute), 10, plan); err != nil || len(runs) != 0 {
		t.Fatalf("a paused campaign fired: %v (err %v)", runs, err)
	}
	if _, err := b.store.Resume(b.ctx, c.ID, t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	runs, err := b.store.ClaimDue(b.ctx, t0.Add(3*time.Hour+30*time.Second), t0.Add(3*time.Hour+30*time.Second), 10, plan)
	if err != nil || len(runs) != 1 || !runs[0].ScheduledFor.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("after resume: %v, %v; want one catch-up fire at +3h", runs, err)
	}
	run := runs[0]
	_, sends, _ := b.store.GetRun(b.ctx, run.ID)
	inFlight := b.claim(t, sends[0].ID, t0.Add(3*time.Hour))

	if _, err := b.store.Cancel(b.ctx, c.ID, t0.Add(3*time.Hour+5*time.Second)); err != nil {
		t.Fatal(err)
	}
	d, err := b.store.Get(b.ctx, c.ID, campaign.RunsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != campaign.CampaignCancelled || d.NextRunAt != nil || d.Runs[0].Status != campaign.RunCancelled {
		t.Errorf("cancelled: campaign %s next %v run %s", d.Status, d.NextRunAt, d.Runs[0].Status)
	}
	// The send in flight finishes and is recorded; nothing else can start.
	b.send(t, inFlight, t0.Add(3*time.Hour+10*time.Second), campaign.Outcome{Status: campaign.SendSent, MessageUID: "m"})
	_, err = b.store.Resume(b.ctx, c.ID, t0)
	wantTransitionError(t, err, "resume a cancelled campaign")
	_, err = b.store.Cancel(b.ctx, c.ID, t0)
	wantTransitionError(t, err, "cancel twice")
	_, err = b.store.ResetForRetry(b.ctx, run.ID, campaign.RetryOptions{Unknown: true}, t0)
	wantTransitionError(t, err, "retry a cancelled campaign's run")
	if runs, err := b.store.ClaimDue(b.ctx, t0.Add(48*time.Hour), t0.Add(48*time.Hour), 10, plan); err != nil || len(runs) != 0 {
		t.Errorf("a cancelled campaign fired: %v (err %v)", runs, err)
	}

	// Cancel stops a done campaign's run that is still sending.
	_, sends2 := b.fire(t, 1500)
	oneOff := sends2[0].CampaignID
	if _, err := b.store.Cancel(b.ctx, oneOff, t0); err != nil {
		t.Fatalf("cancel a done campaign: %v", err)
	}
	_, err = b.store.ClaimSend(b.ctx, sends2[1].ID, t0, time.Minute)
	wantTransitionError(t, err, "claim a cancelled send")

	// A send in flight at the cancel whose attempt then ends retry_wait (a
	// 5xx) stays unsent: the claim of a send of a settled run is refused
	// however stale the claimer's view.
	_, sends3 := b.fire(t, 0)
	flying := b.claim(t, sends3[0].ID, t0)
	if _, err := b.store.Cancel(b.ctx, sends3[0].CampaignID, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.RecordOutcome(b.ctx, flying.Token(), campaign.Outcome{Status: campaign.SendRetryWait, Code: 1000,
		NextAttempt: t0.Add(time.Second), At: t0}); err != nil {
		t.Fatal(err)
	}
	_, err = b.store.ClaimSend(b.ctx, sends3[0].ID, t0.Add(time.Minute), time.Minute)
	wantTransitionError(t, err, "claim a due retry of a cancelled campaign's run")
	if err == nil || !strings.Contains(err.Error(), "is cancelled") {
		t.Errorf("claim refusal = %v, want it to say the run is cancelled", err)
	}
}

func testExpireRun(t *testing.T, b bundle) {
	run, sends := b.fire(t, 2500)
	b.send(t, b.claim(t, sends[0].ID, t0), t0, campaign.Outcome{Status: campaign.SendSent, MessageUID: "m"})
	inFlight := b.claim(t, sends[1].ID, t0)
	if _, err := b.store.StartRun(b.ctx, run.ID, t0); err != nil {
		t.Fatal(err)
	}
	r, err := b.store.ExpireRun(b.ctx, run.ID, t0.Add(2*time.Hour))
	if err != nil || r.Status != campaign.RunRunning {
		t.Fatalf("ExpireRun with a send in flight = %s, %v; want still running", r.Status, err)
	}
	b.send(t, inFlight, t0.Add(2*time.Hour), campaign.Outcome{Status: campaign.SendExpired, Message: "deliver_within passed"})
	r, err = b.store.FinishRun(b.ctx, run.ID, t0.Add(2*time.Hour))
	if err != nil || r.Status != campaign.RunPartiallyFailed {
		t.Fatalf("FinishRun = %s, %v; want partially_failed", r.Status, err)
	}

	run2, _ := b.fire(t, 0)
	r, err = b.store.ExpireRun(b.ctx, run2.ID, t0.Add(2*time.Hour))
	if err != nil || r.Status != campaign.RunExpired || r.FinishedAt == nil {
		t.Fatalf("ExpireRun of an unstarted run = %+v, %v; want expired", r, err)
	}
	_, err = b.store.ExpireRun(b.ctx, run2.ID, t0.Add(3*time.Hour))
	wantTransitionError(t, err, "expire an expired run")
	if n, err := b.store.ResetForRetry(b.ctx, run2.ID, campaign.RetryOptions{}, t0.Add(3*time.Hour)); err != nil || n != 1 {
		t.Errorf("retry of an expired run = %d, %v; want 1", n, err)
	}
}

func testEnqueueBookkeeping(t *testing.T, b bundle) {
	r1, _ := b.fire(t, 0)
	r2, _ := b.fire(t, 0)
	list, err := b.store.RunsToEnqueue(b.ctx, farFuture, 0, 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("RunsToEnqueue = %v, %v", list, err)
	}
	// Paged by id, and only runs due by the instant given (a run held
	// until its instant is not the reconciler's yet).
	if list, err := b.store.RunsToEnqueue(b.ctx, farFuture, r1.ID, 10); err != nil || len(list) != 1 || list[0].ID != r2.ID {
		t.Errorf("RunsToEnqueue after run %d = %v, %v; want run %d", r1.ID, list, err, r2.ID)
	}
	if list, err := b.store.RunsToEnqueue(b.ctx, farFuture, 0, 1); err != nil || len(list) != 1 || list[0].ID != r1.ID {
		t.Errorf("RunsToEnqueue limit 1 = %v, %v; want run %d", list, err, r1.ID)
	}
	if list, err := b.store.RunsToEnqueue(b.ctx, r1.ScheduledFor.Add(-time.Microsecond), 0, 10); err != nil || len(list) != 0 {
		t.Errorf("RunsToEnqueue due a microsecond before run %d's instant %s = %v, %v; want none", r1.ID, r1.ScheduledFor, list, err)
	}
	if list, err := b.store.RunsToEnqueue(b.ctx, r1.ScheduledFor, 0, 10); err != nil || len(list) == 0 || list[0].ID != r1.ID {
		t.Errorf("RunsToEnqueue due at run %d's instant = %v, %v; want it first", r1.ID, list, err)
	}
	if err := b.store.MarkRunEnqueued(b.ctx, r1.ID, t0); err != nil {
		t.Fatal(err)
	}
	if err := b.store.MarkRunEnqueued(b.ctx, 424242, t0); !errors.Is(err, campaign.ErrNotFound) {
		t.Errorf("MarkRunEnqueued(missing) = %v", err)
	}
	list, _ = b.store.RunsToEnqueue(b.ctx, farFuture, 0, 10)
	if len(list) != 1 || list[0].ID != r2.ID {
		t.Errorf("RunsToEnqueue after marking = %v", list)
	}
	// The batch form: every id marked in one call, unknown ids ignored.
	r3, _ := b.fire(t, 0)
	r4, _ := b.fire(t, 0)
	if err := b.store.MarkRunsEnqueued(b.ctx, nil, t0); err != nil {
		t.Errorf("MarkRunsEnqueued(none) = %v", err)
	}
	if err := b.store.MarkRunsEnqueued(b.ctx, []int64{r3.ID, 434343, r4.ID}, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{r3.ID, r4.ID} {
		if r, _, err := b.store.GetRun(b.ctx, id); err != nil || r.EnqueuedAt == nil || !r.EnqueuedAt.Equal(t0.Add(time.Second)) {
			t.Errorf("run %d after MarkRunsEnqueued: enqueued_at %v, %v", id, r.EnqueuedAt, err)
		}
	}
	list, _ = b.store.RunsToEnqueue(b.ctx, farFuture, 0, 10)
	if len(list) != 1 || list[0].ID != r2.ID {
		t.Errorf("RunsToEnqueue after the batch mark = %v, want only run %d", list, r2.ID)
	}
	if _, err := b.store.StartRun(b.ctx, r1.ID, t0); err != nil {
		t.Fatal(err)
	}
	if r, err := b.store.StartRun(b.ctx, r1.ID, t0); err != nil || r.Status != campaign.RunRunning {
		t.Errorf("StartRun twice = %s, %v; want a no-op", r.Status, err)
	}
	open, err := b.store.OpenRuns(b.ctx, 0, 10)
	if err != nil || len(open) != 4 {
		t.Errorf("OpenRuns = %v, %v", open, err)
	}
	if open, _ := b.store.OpenRuns(b.ctx, r1.ID, 10); len(open) != 3 || open[0].ID != r2.ID {
		t.Errorf("OpenRuns after cursor = %v", open)
	}
	if _, _, err := b.store.GetRun(b.ctx, 777777); !errors.Is(err, campaign.ErrNotFound) {
		t.Errorf("GetRun(missing) = %v", err)
	}
}

func testRenderFailureFailsRun(t *testing.T, b bundle) {
	c := newCampaign("main", "bad-template", t0, 0)
	c.Push.Notification.Alert = "{{.Vars.missing}}" // bypasses validation on purpose
	c = b.create(t, c)
	runs, err := b.store.ClaimDue(b.ctx, t0, t0, 10, plan)
	if err != nil || len(runs) != 1 {
		t.Fatalf("ClaimDue = %v, %v", runs, err)
	}
	r, sends, err := b.store.GetRun(b.ctx, runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != campaign.RunFailed || r.Error == "" || len(sends) != 0 {
		t.Errorf("run = %+v with %d sends; want failed with the render error", r, len(sends))
	}
	if list, err := b.store.RunsToEnqueue(b.ctx, farFuture, 0, 10); err != nil || len(list) != 0 {
		t.Errorf("a failed run is to be enqueued: %v (err %v)", list, err)
	}
}

func testPlanErrorSkipsCampaign(t *testing.T, b bundle) {
	bad := b.create(t, newCampaign("main", "bad", t0, 0))
	good := b.create(t, newCampaign("main", "good", t0, 0))
	failing := func(c campaign.Campaign, now time.Time) (campaign.FirePlan, error) {
		if c.ID == bad.ID {
			return campaign.FirePlan{}, errors.New("boom")
		}
		return plan(c, now)
	}
	runs, err := b.store.ClaimDue(b.ctx, t0, t0, 10, failing)
	if err == nil || len(runs) != 1 || runs[0].CampaignID != good.ID {
		t.Fatalf("ClaimDue = %v, %v; want the good campaign fired and the bad one reported", runs, err)
	}
	if want := fmt.Sprintf("campaign %d: plan: boom", bad.ID); err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	var pe *campaign.PlanError
	if !errors.As(err, &pe) || pe.CampaignID != bad.ID {
		t.Errorf("err = %#v, want a *campaign.PlanError of campaign %d", err, bad.ID)
	}
	if d, _ := b.store.Get(b.ctx, bad.ID, campaign.RunsQuery{}); d.Status != campaign.CampaignActive || len(d.Runs) != 0 {
		t.Errorf("the bad campaign changed: %s, %d runs", d.Status, len(d.Runs))
	}
}

// testRefusedDoNotBlockTheRest: campaigns the plan refuses stay due at the
// head of the due order; they must not take the limit's places, or as many
// of them as the limit would stop every other campaign from firing.
func testRefusedDoNotBlockTheRest(t *testing.T, b bundle) {
	const limit = 3
	bad := map[int64]bool{}
	for i := range 2*limit + 1 { // due first, more than two batches' worth
		c := b.create(t, newCampaign("main", fmt.Sprintf("bad-%d", i), t0.Add(-time.Hour+time.Duration(i)*time.Second), 0))
		bad[c.ID] = true
	}
	var good []int64
	for i := range limit + 1 { // due after them
		good = append(good, b.create(t, newCampaign("main", fmt.Sprintf("good-%d", i), t0.Add(time.Duration(i)*time.Second), 0)).ID)
	}
	planned := map[int64]int{}
	refusing := func(c campaign.Campaign, now time.Time) (campaign.FirePlan, error) {
		planned[c.ID]++
		if bad[c.ID] {
			return campaign.FirePlan{}, errors.New("boom")
		}
		return plan(c, now)
	}
	now := t0.Add(10 * time.Second) // every good one due, none missed
	runs, err := b.store.ClaimDue(b.ctx, now, now, limit, refusing)
	for id, n := range planned {
		if n != 1 {
			t.Errorf("campaign %d planned %d times in one ClaimDue, want once", id, n)
		}
	}
	var got []int64
	for _, r := range runs {
		got = append(got, r.CampaignID)
	}
	if !slices.Equal(got, good[:limit]) {
		t.Fatalf("ClaimDue fired campaigns %v, want the first %d good ones %v in due order (%.300v)", got, limit, good[:limit], err)
	}
	var pe *campaign.PlanError
	if !errors.As(err, &pe) || strings.Count(err.Error(), "plan: boom") != len(bad) {
		t.Errorf("err = %v; want the %d refused campaigns reported", err, len(bad))
	}
	runs, _ = b.store.ClaimDue(b.ctx, now, now, limit, refusing)
	if len(runs) != 1 || runs[0].CampaignID != good[limit] {
		t.Errorf("second ClaimDue = %v, want the last good campaign %d", runs, good[limit])
	}
	for id := range bad {
		if d, _ := b.store.Get(b.ctx, id, campaign.RunsQuery{}); d.Status != campaign.CampaignActive || len(d.Runs) != 0 {
			t.Errorf("refused campaign %d changed: %s, %d runs", id, d.Status, len(d.Runs))
		}
	}
}

// testClaimRecordsTheClaimant: a claim records which process made it, the
// send keeps the name of its last claimant, and a lease that lapses names
// the claimant in the send's message.
func testClaimRecordsTheClaimant(t *testing.T, b bundle) {
	named, ok := b.store.(interface{ SetClaimant(string) })
	if !ok {
		t.Fatalf("%T has no SetClaimant", b.store)
	}
	_, sends := b.fire(t, 0)
	named.SetClaimant("host-a:101")
	sd := b.claim(t, sends[0].ID, t0)
	if sd.ClaimedBy != "host-a:101" {
		t.Fatalf("claimed_by = %q, want host-a:101", sd.ClaimedBy)
	}
	released := b.send(t, sd, t0, campaign.Outcome{Status: campaign.SendPending, Message: "quota"})
	if released.ClaimedBy != "host-a:101" {
		t.Errorf("after release claimed_by = %q, want the last claimant kept", released.ClaimedBy)
	}
	named.SetClaimant("host-b:202")
	sd = b.claim(t, sends[0].ID, t0)
	got, err := b.store.ResolveStaleSends(b.ctx, t0.Add(2*time.Minute))
	if err != nil || len(got) != 1 || got[0].Status != campaign.SendUnknown || got[0].ClaimedBy != "host-b:202" ||
		!strings.Contains(got[0].LastMessage, "claimed by host-b:202") {
		t.Fatalf("ResolveStaleSends = %+v, %v; want the send unknown, naming host-b:202", got, err)
	}
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// testLedgerInFlightAndDirect: the quota ledger counts an attempt while it
// is on the wire (a rebuild then must not give its slot away), and direct
// pushes made outside any campaign, which leave it only when refused.
func testLedgerInFlightAndDirect(t *testing.T, b bundle) {
	_, sends := b.fire(t, 0)
	ledger := func() []time.Time {
		t.Helper()
		l, err := b.store.SentBetween(b.ctx, "main", t0, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := ledger(); len(l) != 0 {
		t.Fatalf("nothing claimed: ledger %v, want empty", l)
	}
	sd := b.claim(t, sends[0].ID, t0.Add(time.Second))
	if diff := cmp.Diff([]time.Time{t0.Add(time.Second)}, ledger()); diff != "" {
		t.Errorf("attempt in flight (-want +got):\n%s", diff)
	}
	if _, err := b.store.RecordOutcome(b.ctx, sd.Token(), campaign.Outcome{Status: campaign.SendSent, At: t0.Add(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Time{t0.Add(time.Second)}, ledger()); diff != "" {
		t.Errorf("after sent, counted once (-want +got):\n%s", diff)
	}

	sentID, err := b.store.BeginDirectAttempt(b.ctx, "main", t0.Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	refusedID, err := b.store.BeginDirectAttempt(b.ctx, "main", t0.Add(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{t0.Add(time.Second), t0.Add(3 * time.Second), t0.Add(4 * time.Second)}
	if diff := cmp.Diff(want, ledger()); diff != "" {
		t.Errorf("direct pushes in flight (-want +got):\n%s", diff)
	}
	if err := b.store.EndDirectAttempt(b.ctx, sentID, campaign.SendSent); err != nil {
		t.Fatal(err)
	}
	if err := b.store.EndDirectAttempt(b.ctx, refusedID, campaign.SendFailed); err != nil {
		t.Fatal(err)
	}
	want = []time.Time{t0.Add(time.Second), t0.Add(3 * time.Second)}
	if diff := cmp.Diff(want, ledger()); diff != "" {
		t.Errorf("after settling direct pushes (-want +got):\n%s", diff)
	}
	// The names a rebuild seeds them under: the send's claim, the direct
	// push's own entry (quota.Reservation.Claimed, Direct).
	al, ok := b.store.(quota.AttemptLedger)
	if !ok {
		t.Fatalf("%T is not a quota.AttemptLedger", b.store)
	}
	attempts, err := al.AttemptsBetween(b.ctx, "main", t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wantAttempts := []quota.Attempt{{At: t0.Add(time.Second), Send: sd.ID, Claim: sd.Claim}, {At: t0.Add(3 * time.Second), Entry: sentID}}
	if diff := cmp.Diff(wantAttempts, attempts); diff != "" {
		t.Errorf("AttemptsBetween (-want +got):\n%s", diff)
	}
	if l, err := b.store.SentBetween(b.ctx, "other", t0, t0.Add(time.Hour)); err != nil || len(l) != 0 {
		t.Errorf("another app's ledger: %v (err %v)", l, err)
	}
}

// testSubMicrosecondAtFiresOnce: an `at` instant finer than the store's
// microsecond precision (RFC 3339 allows nanoseconds) fires once and the
// campaign is done. Before the fix the schedule kept the nanoseconds, the
// next fire computed from the stored instant was the `at` itself, and the
// campaign stayed due for ever, re-claimed at every tick ahead of others.
func testSubMicrosecondAtFiresOnce(t *testing.T, b bundle) {
	at := t0.Add(-2*time.Minute + 123456789*time.Nanosecond)
	c := b.create(t, newCampaign("main", "nanos", at, 0))
	runs, err := b.store.ClaimDue(b.ctx, t0, t0, 100, plan)
	if err != nil || len(runs) != 1 {
		t.Fatalf("first ClaimDue = %v, %v; want one run", runs, err)
	}
	d, err := b.store.Get(b.ctx, c.ID, campaign.RunsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != campaign.CampaignDone || d.NextRunAt != nil {
		t.Errorf("after its one fire: status %s, next_run_at %v; want done and none", d.Status, d.NextRunAt)
	}
	again, err := b.store.ClaimDue(b.ctx, t0.Add(time.Second), t0.Add(time.Second), 100, plan)
	if err != nil || len(again) != 0 {
		t.Errorf("second ClaimDue = %v, %v; want nothing due", again, err)
	}
}

// testFinishRunDone: a running run whose sends were all sent ends done
// (FinishRun's one-statement path), once; a second FinishRun is a no-op,
// a pending run is never finished, and claiming a send of a pending run
// starts the run.
func testFinishRunDone(t *testing.T, b bundle) {
	run, sends := b.startedRun(t, 1500, 2)
	b.send(t, b.claim(t, sends[0].ID, t0), t0, campaign.Outcome{Status: campaign.SendSent, PushID: "p1", MessageUID: "u1"})
	if r, err := b.store.FinishRun(b.ctx, run.ID, t0); err == nil {
		t.Fatalf("FinishRun with one send pending = %s, want an error", r.Status)
	}
	b.send(t, b.claim(t, sends[1].ID, t0), t0, campaign.Outcome{Status: campaign.SendSent, PushID: "p2", MessageUID: "u2"})
	end := t0.Add(time.Minute)
	r, err := b.store.FinishRun(b.ctx, run.ID, end)
	if err != nil || r.Status != campaign.RunDone || r.FinishedAt == nil || !r.FinishedAt.Equal(end) {
		t.Fatalf("FinishRun = %s at %v, %v; want done at %s", r.Status, r.FinishedAt, err, end)
	}
	r, err = b.store.FinishRun(b.ctx, run.ID, end.Add(time.Hour))
	if err != nil || r.Status != campaign.RunDone || !r.FinishedAt.Equal(end) {
		t.Errorf("FinishRun again = %s at %v, %v; want unchanged", r.Status, r.FinishedAt, err)
	}

	// A pending run whose sends were all sent (a state claims no longer
	// leave, made here by hand) still goes through the checked path:
	// pending cannot become done.
	stuck, ssends := b.fire(t, 0)
	b.send(t, b.claim(t, ssends[0].ID, t0), t0, campaign.Outcome{Status: campaign.SendSent, PushID: "p3", MessageUID: "u3"})
	db, ok := b.store.(interface{ DB() *sql.DB })
	if !ok {
		t.Fatalf("%T has no DB()", b.store)
	}
	if _, err := db.DB().ExecContext(b.ctx, `UPDATE runs SET status = 'pending' WHERE id = `+fmt.Sprint(stuck.ID)); err != nil {
		t.Fatal(err)
	}
	if r, err := b.store.FinishRun(b.ctx, stuck.ID, end); !errors.Is(err, campaign.ErrIllegalTransition) {
		t.Errorf("FinishRun of a pending run = %s, %v; want an illegal transition", r.Status, err)
	}

	// Claiming a send starts its pending run, in the same statement.
	pending, psends := b.fire(t, 0)
	if pending.Status != campaign.RunPending {
		t.Fatalf("fired run is %s, want pending", pending.Status)
	}
	claimAt := t0.Add(2 * time.Second)
	b.claim(t, psends[0].ID, claimAt)
	r, _, err = b.store.GetRun(b.ctx, pending.ID)
	if err != nil || r.Status != campaign.RunRunning || !r.UpdatedAt.Equal(claimAt) {
		t.Errorf("run after its first claim = %s updated %s, %v; want running updated %s", r.Status, r.UpdatedAt, err, claimAt)
	}
}

// testRecordOutcomeAndFinish: the outcome that sends a run's last unsent
// send finishes the run done in the same step; any other outcome, or one
// with a sibling not sent, leaves the run running. The ledger gets its
// entry either way.
func testRecordOutcomeAndFinish(t *testing.T, b bundle) {
	record := func(sd campaign.Send, at time.Time, o campaign.Outcome) (campaign.Send, bool) {
		t.Helper()
		o.At = at
		out, finished, err := b.store.RecordOutcomeAndFinish(b.ctx, sd.Token(), o)
		if err != nil {
			t.Fatalf("record %s: %v", o.Status, err)
		}
		return out, finished
	}
	runStatus := func(id int64) campaign.Run {
		t.Helper()
		r, _, err := b.store.GetRun(b.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	run, sends := b.fire(t, 2500) // 3 sends
	at := t0.Add(time.Second)
	// A retry of the first send, then its success: neither is the last.
	if _, fin := record(b.claim(t, sends[0].ID, at), at, campaign.Outcome{Status: campaign.SendRetryWait, NextAttempt: at}); fin {
		t.Fatal("a retry_wait outcome finished the run")
	}
	if sd, fin := record(b.claim(t, sends[0].ID, at), at, campaign.Outcome{Status: campaign.SendSent, PushID: "p0", MessageUID: "u0"}); fin || sd.Status != campaign.SendSent {
		t.Fatalf("first send recorded %s, finished %v; want sent, run still running", sd.Status, fin)
	}
	if _, fin := record(b.claim(t, sends[1].ID, at), at, campaign.Outcome{Status: campaign.SendSent, PushID: "p1", MessageUID: "u1"}); fin {
		t.Fatal("the second of three sends finished the run")
	}
	if r := runStatus(run.ID); r.Status != campaign.RunRunning || r.FinishedAt != nil {
		t.Fatalf("run with a send left is %s (finished %v), want running", r.Status, r.FinishedAt)
	}
	end := at.Add(3 * time.Second)
	sd, fin := record(b.claim(t, sends[2].ID, at), end, campaign.Outcome{Status: campaign.SendSent, PushID: "p2", MessageUID: "u2"})
	if !fin || sd.MessageUID != "u2" {
		t.Fatalf("last send: finished %v, message_uid %q; want the run finished and u2 recorded", fin, sd.MessageUID)
	}
	if r := runStatus(run.ID); r.Status != campaign.RunDone || r.FinishedAt == nil || !r.FinishedAt.Equal(end) {
		t.Fatalf("run after its last send is %s finished %v, want done at %s", r.Status, r.FinishedAt, end)
	}
	ledger, err := b.store.SentBetween(b.ctx, "main", t0, end.Add(time.Hour))
	if err != nil || len(ledger) != 3 {
		t.Fatalf("ledger = %v, %v; want the 3 sent attempts", ledger, err)
	}

	// The last send failing does not finish the run: FinishRun settles it.
	run2, sends2 := b.fire(t, 0)
	if _, fin := record(b.claim(t, sends2[0].ID, at), at, campaign.Outcome{Status: campaign.SendFailed, Code: 1011, Message: "bad"}); fin {
		t.Fatal("a failed outcome finished the run")
	}
	if r := runStatus(run2.ID); r.Status != campaign.RunRunning {
		t.Fatalf("run after a failed last send is %s, want running until FinishRun", r.Status)
	}
	if r, err := b.store.FinishRun(b.ctx, run2.ID, end); err != nil || r.Status != campaign.RunFailed {
		t.Fatalf("FinishRun = %s, %v; want failed", r.Status, err)
	}

	// Cancelled while its only send is in flight: the push that went out
	// is recorded (and counted), the run stays cancelled.
	run4, sends4 := b.fire(t, 0)
	inFlight := b.claim(t, sends4[0].ID, at)
	if _, err := b.store.Cancel(b.ctx, run4.CampaignID, at); err != nil {
		t.Fatal(err)
	}
	sd4, fin, err := b.store.RecordOutcomeAndFinish(b.ctx, inFlight.Token(), campaign.Outcome{Status: campaign.SendSent, MessageUID: "u4", At: at})
	if err != nil || fin || sd4.Status != campaign.SendSent {
		t.Fatalf("record after cancel = %s, finished %v, %v; want sent, run not finished", sd4.Status, fin, err)
	}
	if r := runStatus(run4.ID); r.Status != campaign.RunCancelled {
		t.Fatalf("cancelled run after its in-flight send was sent is %s, want cancelled", r.Status)
	}

	// A lost claim records nothing and finishes nothing (a 1000: it may
	// have counted at the service, so the send stays unknown).
	_, sends3 := b.fire(t, 0)
	stale := b.claim(t, sends3[0].ID, at)
	if _, err := b.store.ResolveStaleSends(b.ctx, at.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, fin, err = b.store.RecordOutcomeAndFinish(b.ctx, stale.Token(), campaign.Outcome{Status: campaign.SendRetryWait, Code: 1000, KeepsQuota: true, NextAttempt: at.Add(time.Minute), At: at})
	wantTransitionError(t, err, "record on a lapsed claim")
	if fin {
		t.Error("a refused outcome reported the run finished")
	}
}

// testCancelRacesClaimAndRecord: Cancel (run, then sends) racing with
// claims that start runs and outcomes that finish them never deadlocks or
// fails: every step either happens or is refused as a transition, and each
// run ends cancelled or done, never done with a send unsent.
func testCancelRacesClaimAndRecord(t *testing.T, b bundle) {
	const rounds = 100
	sent := 0
	for i := range rounds {
		c := b.create(t, newCampaign("main", fmt.Sprintf("race-%d", i), t0, 1500)) // 2 sends
		runs, err := b.store.ClaimDue(b.ctx, t0, t0, 10, plan)
		if err != nil || len(runs) != 1 {
			t.Fatalf("ClaimDue = %v, %v", runs, err)
		}
		_, sends, err := b.store.GetRun(b.ctx, runs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		at := t0.Add(time.Second)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, sd := range sends {
			wg.Go(func() {
				<-start
				cl, err := b.store.ClaimSend(b.ctx, sd.ID, at, time.Minute)
				if errors.Is(err, campaign.ErrIllegalTransition) {
					return
				}
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				_, _, err = b.store.RecordOutcomeAndFinish(b.ctx, cl.Token(), campaign.Outcome{Status: campaign.SendSent, MessageUID: "u", At: at})
				if err != nil {
					t.Errorf("record: %v", err)
				}
			})
		}
		wg.Go(func() {
			<-start
			if _, err := b.store.Cancel(b.ctx, c.ID, at); err != nil && !errors.Is(err, campaign.ErrIllegalTransition) {
				t.Errorf("cancel: %v", err)
			}
		})
		close(start)
		wg.Wait()
		r, got, err := b.store.GetRun(b.ctx, runs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		switch r.Status {
		case campaign.RunDone:
			for _, sd := range got {
				if sd.Status != campaign.SendSent {
					t.Errorf("round %d: run done with send %d %s", i, sd.ID, sd.Status)
				}
			}
		case campaign.RunCancelled:
		default:
			t.Errorf("round %d: run ended %s, want done or cancelled", i, r.Status)
		}
		for _, sd := range got {
			if sd.Status == campaign.SendSent {
				sent++
			}
		}
	}
	ledger, err := b.store.SentBetween(b.ctx, "main", t0, t0.Add(time.Hour))
	if err != nil || len(ledger) != sent {
		t.Errorf("quota ledger holds %d attempts, %v; want the %d sends sent", len(ledger), err, sent)
	}
}

// The store keeps each app's latest 429 block for the quota guard's
// rebuild (quota.BlockStore): a shorter block never shortens a longer one.
func testQuotaBlocks(t *testing.T, b bundle) {
	var bs quota.BlockStore = b.store.(*sqlstore.Store)
	if until, err := bs.BlockedUntil(b.ctx, "main"); err != nil || !until.IsZero() {
		t.Fatalf("no block yet: %s, %v; want zero", until, err)
	}
	long, short := t0.Add(3*time.Hour+time.Microsecond), t0.Add(time.Hour)
	for _, until := range []time.Time{long, short} {
		recorded, err := bs.SaveBlock(b.ctx, "main", until, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !recorded.Equal(long) {
			t.Errorf("SaveBlock(main, %s) returned %s; want the block recorded afterwards, %s", until, recorded, long)
		}
	}
	if _, err := bs.SaveBlock(b.ctx, "other", short, t0); err != nil {
		t.Fatal(err)
	}
	for app, want := range map[string]time.Time{"main": long, "other": short, "none": {}} {
		if got, err := bs.BlockedUntil(b.ctx, app); err != nil || !got.Equal(want) {
			t.Errorf("BlockedUntil(%s) = %s, %v; want %s", app, got, err, want)
		}
	}
	// An operator's unblock (quota.BlockClearer) forgets one app's block
	// and returns it, to the microsecond; nothing the second time.
	// The app's sends waiting in retry_wait (a 5xx's Retry-After) may go
	// at once, the block recorded or not (a store write may have failed
	// while Redis holds it).
	_, sends := b.fire(t, 0)
	waiting := b.send(t, b.claim(t, sends[0].ID, t0), t0, campaign.Outcome{Status: campaign.SendRetryWait, Code: 503, NextAttempt: long})
	var bc quota.BlockClearer = b.store.(*sqlstore.Store)
	lift := t0.Add(time.Minute)
	for _, want := range []time.Time{long, {}} {
		if got, err := bc.ClearBlock(b.ctx, "main", lift); err != nil || !got.Equal(want) {
			t.Errorf("ClearBlock(main) = %s, %v; want %s", got, err, want)
		}
	}
	if _, err := b.store.ClaimSend(b.ctx, waiting.ID, lift, time.Minute); err != nil {
		t.Errorf("after ClearBlock at %s: the send that waited on the block (until %s) cannot be claimed: %v", lift, long, err)
	}
	// Once more, nothing recorded: a send that waits still goes.
	_, sends = b.fireAt(t, newCampaign("main", "second", t0, 0), t0)
	waiting = b.send(t, b.claim(t, sends[0].ID, t0), t0, campaign.Outcome{Status: campaign.SendRetryWait, Code: 503, NextAttempt: long})
	if got, err := bc.ClearBlock(b.ctx, "main", lift); err != nil || !got.IsZero() {
		t.Errorf("ClearBlock(main) with no block recorded = %s, %v; want zero", got, err)
	}
	if _, err := b.store.ClaimSend(b.ctx, waiting.ID, lift, time.Minute); err != nil {
		t.Errorf("after ClearBlock at %s with no block recorded: the waiting send cannot be claimed: %v", lift, err)
	}
	if got, err := bs.BlockedUntil(b.ctx, "main"); err != nil || !got.IsZero() {
		t.Errorf("after ClearBlock: BlockedUntil(main) = %s, %v; want none", got, err)
	}
	if got, err := bs.BlockedUntil(b.ctx, "other"); err != nil || !got.Equal(short) {
		t.Errorf("ClearBlock(main) touched other's block: %s, %v; want %s", got, err, short)
	}
}
