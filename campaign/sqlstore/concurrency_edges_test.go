package sqlstore_test

// Edges found by a concurrency and state-machine review of the store
// (PostgreSQL READ COMMITTED, SQLite BEGIN IMMEDIATE); each test failed on
// the code before its fix, and its comment says what the code did then.
// Races are driven by hand: a transaction held open on one connection, the
// store's call on another, and the commit once the call waits for the held
// row lock.

import (
	"errors"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/migrations"
)

// Was: Reidentify reads the old identity without locking the row
// (campaign/sqlstore/open.go:258, `SELECT id FROM store_identity`), so
// under READ COMMITTED two reidentifies at once both read the same old id;
// the second overwrites the first's new id and reports that it replaced
// the original. The first's id, already printed to its operator as the
// store's identity, is gone without a word.
func TestReidentifyReportsTheIdentityItReplaced(t *testing.T) {
	t.Parallel()
	st := openMigrated(t, testenv.Postgres(t))
	ctx := t.Context()
	db := st.DB()
	original, err := st.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Another reidentify, drawn and written but not yet committed.
	const concurrent = "0123456789abcdef0123456789abcdef"
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `UPDATE store_identity SET id = $1`, concurrent); err != nil {
		t.Fatal(err)
	}
	type result struct {
		oldID, newID string
		err          error
	}
	res := commitOnceBlocked(t, db, tx, func() result {
		o, n, err := sqlstore.Reidentify(ctx, db, migrations.Postgres)
		return result{o, n, err}
	})
	if res.err != nil {
		t.Fatal(res.err)
	}
	now, err := st.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if now != res.newID {
		t.Fatalf("identity %s, Reidentify said %s", now, res.newID)
	}
	if res.oldID != concurrent {
		t.Errorf("Reidentify reported %s -> %s, but the identity it overwrote was %s (committed by a reidentify while it ran; "+
			"%s was already replaced): its read of the old id took no lock", res.oldID, res.newID, concurrent, original)
	}
}

// Was: FinishRun turns a run created failed (its templates failed to
// render at the fire: an error and no sends) into done. settledStatus
// (campaign/sqlstore/store.go:658, `case sent == len(sends)`) counts
// "every send sent" as true for zero sends, and failed -> done passes the
// transition table, whose edge is drawn for a late answer only
// (docs/state-machine.md: "failed --> done: a late answer sent its last
// unknown send"): a transition TestStateMachineDocMatchesTable cannot see.
// The run keeps its error and becomes a success in every count. (No
// caller in this repository calls FinishRun on a run already failed; the
// store's contract, "settles a run whose sends are all settled", does.)
func TestFinishRunKeepsARenderFailedRunFailed(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
			c := newCampaign("main", "bad-template", t0, 0)
			c.Push.Notification.Alert = "{{.Vars.missing}}" // fails at the fire
			b.create(t, c)
			runs, err := b.store.ClaimDue(b.ctx, t0, t0, 10, plan)
			if err != nil || len(runs) != 1 || runs[0].Status != campaign.RunFailed {
				t.Fatalf("ClaimDue = %+v, %v; want one failed run", runs, err)
			}
			r, err := b.store.FinishRun(b.ctx, runs[0].ID, t0.Add(time.Minute))
			if err != nil && !errors.Is(err, campaign.ErrIllegalTransition) {
				t.Fatal(err)
			}
			got, sends, err := b.store.GetRun(b.ctx, runs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != campaign.RunFailed {
				t.Errorf("FinishRun of a run that failed to render (error %q, %d sends) returned %s and stored %s; want it failed",
					got.Error, len(sends), r.Status, got.Status)
			}
		})
	}
}

// createdEdges reads the `[*] --> status` edges of docs/state-machine.md
// (where a row is created), by section (campaign, run, send).
func createdEdges(t *testing.T) map[string]map[string]bool {
	t.Helper()
	edges, err := testenv.StateMachineEdges("../../docs/state-machine.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for _, e := range edges {
		if e.From != "[*]" {
			continue
		}
		if out[e.Entity] == nil {
			out[e.Entity] = map[string]bool{}
		}
		out[e.Entity][e.To] = true
	}
	return out
}

// Was: ClaimDue creates a run directly as failed when its templates
// fail at the fire (campaign/sqlstore/claim.go:151), but the Run diagram
// draws only `[*] --> pending` (docs/state-machine.md:56), although the
// document says `[*]` marks where a row is created and draws the
// campaign's `[*] --> done` alike. No test sees `[*]` edges.
func TestStateMachineDrawsEveryRunCreation(t *testing.T) {
	t.Parallel()
	st := openMigrated(t, "sqlite://"+t.TempDir()+"/tagcast.db")
	b := bundle{ctx: t.Context(), store: st}
	good := newCampaign("main", "good", t0, 0)
	bad := newCampaign("main", "bad-template", t0, 0)
	bad.Push.Notification.Alert = "{{.Vars.missing}}"
	b.create(t, good)
	b.create(t, bad)
	runs, err := st.ClaimDue(b.ctx, t0, t0, 10, plan)
	if err != nil || len(runs) != 2 {
		t.Fatalf("ClaimDue = %+v, %v", runs, err)
	}
	drawn := createdEdges(t)
	for _, r := range runs {
		if !drawn["run"][string(r.Status)] {
			t.Errorf("ClaimDue created a run %s (error %q); docs/state-machine.md draws runs created only as %v",
				r.Status, r.Error, drawn["run"])
		}
	}
}

// Was: Store.Create keeps any valid status its caller gives
// (campaign/sqlstore/store.go:77-86 defaults only an empty one and turns
// only an active one without next_run_at into done), so a campaign can be
// created paused or cancelled: `[*] --> paused` and `[*] --> cancelled`
// are not drawn, and one created paused without a next fire resumes into
// an active campaign with no next_run_at, which ClaimDue never selects and
// nothing ever marks done. ParseFile always gives active, so only direct
// users of the store reach it.
func TestCreateKeepsOnlyDrawnStatuses(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
			c := newCampaign("main", "created-paused", t0, 0)
			c.Status, c.NextRunAt = campaign.CampaignPaused, nil
			created, err := b.store.Create(b.ctx, c, t0)
			if err != nil {
				return // refused: fine
			}
			drawn := createdEdges(t)
			if !drawn["campaign"][string(created.Status)] {
				t.Errorf("Create stored a campaign %s; docs/state-machine.md draws campaigns created only as %v", created.Status, drawn["campaign"])
			}
			resumed, err := b.store.Resume(b.ctx, created.ID, t0)
			if err != nil {
				return
			}
			if resumed.Status == campaign.CampaignActive && resumed.NextRunAt == nil {
				t.Errorf("campaign %d resumed active with no next_run_at: ClaimDue never fires it and nothing marks it done", created.ID)
			}
		})
	}
}

// Was: RecordOutcome accepts `cancelled` as the outcome of a claim in
// any run: it checks o.Status only against the transition table
// (campaign/sqlstore/sends.go:215), whose in_flight -> cancelled edge is
// drawn for a send given back in a run Cancel cancelled (orCancelled),
// never for an outcome. A send of a running, uncancelled run ends
// cancelled, a status only Cancel gives, and the run settles failed or
// partially_failed with a send nobody cancelled. The Store's documented
// outcomes are sent, retry_wait, failed, unknown, pending and expired.
func TestRecordOutcomeRefusesCancelled(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
			run, sends := b.startedRun(t, 0, 1)
			held := b.claim(t, sends[0].ID, t0)
			sd, err := b.store.RecordOutcome(b.ctx, held.Token(), campaign.Outcome{Status: campaign.SendCancelled, At: t0})
			if err == nil {
				r, _, _ := b.store.GetRun(b.ctx, run.ID)
				t.Errorf("RecordOutcome(cancelled) of a claim in run %d (%s, campaign not cancelled) was recorded: send %s; want it refused",
					run.ID, r.Status, sd.Status)
			}
		})
	}
}
