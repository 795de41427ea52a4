package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/migrations"
	"github.com/tagcast/tagcast/quota"
)

// claimSet claims a send: in flight, one more attempt begun (sent_at) and
// one more claim, leased. Its arguments are claimSetArgs.
const claimSet = `UPDATE sends SET status = 'in_flight', attempts = attempts + 1, claim = claim + 1,
	claimed_at = ?, sent_at = ?, lease_until = ?, next_attempt_at = NULL, updated_at = ?, claimed_by = ?`

func (s *Store) claimSetArgs(now time.Time, lease time.Duration) []any {
	return []any{s.ts(now), s.ts(now), s.ts(now.Add(lease)), s.ts(now), s.claimant}
}

// ClaimSend moves a send to in_flight by compare-and-set, its attempt begun
// at now, and its run from pending to running.
func (s *Store) ClaimSend(ctx context.Context, sendID int64, now time.Time, lease time.Duration) (campaign.Send, error) {
	if lease <= 0 {
		return campaign.Send{}, fmt.Errorf("send %d: claim: lease must be positive, got %s", sendID, lease)
	}
	claimable := `status IN (` + inList(campaign.AllowedFrom(campaign.SendInFlight)) + `) AND (status <> 'retry_wait' OR next_attempt_at <= ?)`
	// A run past its deliver_by is neither started nor claimed (as in
	// ClaimFirstSend): a stale announcement is not sent, even by a worker
	// that checked deliver_by before a pause.
	startRun := `UPDATE runs SET status = 'running', updated_at = ? WHERE status = 'pending'
		AND (deliver_by IS NULL OR deliver_by > ?)
		AND id = (SELECT run_id FROM sends WHERE id = ? AND ` + claimable + `)`
	claim := claimSet + ` {from} WHERE sends.id = ? AND ` + claimable + `
		AND EXISTS (SELECT 1 FROM runs WHERE runs.id = sends.run_id AND runs.status IN ('pending', 'running')
			AND (runs.deliver_by IS NULL OR runs.deliver_by > ?))
		RETURNING ` + sendCols
	startArgs := []any{s.ts(now), s.ts(now), sendID, s.ts(now)}
	claimArgs := append(s.claimSetArgs(now, lease), sendID, s.ts(now), s.ts(now))
	var sends []campaign.Send
	var err error
	if s.dialect == migrations.Postgres {
		// One statement. The join with the run's start makes PostgreSQL
		// write a pending run's row before it locks the send's, the order
		// Cancel, ExpireRun and ResetForRetry take them in (run, then
		// sends); the other order deadlocks against Cancel. A pending run
		// cancelled meanwhile is seen again after its lock (the start does
		// nothing) and its send was cancelled with it, which the
		// compare-and-set on the send's status refuses. A running run takes
		// no run lock here: a claim that wins the send's row before Cancel
		// reaches it is in flight, and in-flight sends finish, as always.
		var rows *sql.Rows
		rows, err = s.db.QueryContext(ctx, s.q(`WITH started AS (`+startRun+` RETURNING id),
			n AS (SELECT count(*) FROM started) `+strings.Replace(claim, "{from}", "FROM n", 1)), append(startArgs, claimArgs...)...)
		if err == nil {
			sends, err = collect(rows, scanSend)
		}
	} else {
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, s.q(startRun), startArgs...); err != nil {
				return err
			}
			rows, err := tx.QueryContext(ctx, s.q(strings.Replace(claim, "{from}", "", 1)), claimArgs...)
			if err != nil {
				return err
			}
			sends, err = collect(rows, scanSend)
			return err
		})
	}
	if err != nil {
		return campaign.Send{}, fmt.Errorf("send %d: claim: %w", sendID, err)
	}
	if len(sends) == 1 {
		return sends[0], nil
	}
	cur, err := s.getSend(ctx, s.db, sendID, false)
	if err != nil {
		return cur, err
	}
	te := &campaign.TransitionError{Entity: "send", ID: sendID, From: string(cur.Status), To: string(campaign.SendInFlight)}
	run, rerr := s.getRun(ctx, s.db, cur.RunID, false)
	switch {
	case rerr == nil && run.Status != campaign.RunPending && run.Status != campaign.RunRunning:
		// A send left in retry_wait by an attempt that ended after its
		// campaign was cancelled (or its run settled) is never sent again.
		te.Reason = fmt.Sprintf("run %d is %s", run.ID, run.Status)
	case rerr == nil && run.DeliverBy != nil && !now.Before(*run.DeliverBy):
		te.Reason = fmt.Sprintf("run %d is past its deliver_by %s", run.ID, run.DeliverBy.Format(time.RFC3339Nano))
	case cur.Status == campaign.SendInFlight:
		te.Reason = "claimed by another worker"
	case cur.Status == campaign.SendRetryWait && cur.NextAttemptAt != nil:
		te.Reason = "next attempt not before " + cur.NextAttemptAt.Format(time.RFC3339Nano)
	}
	return cur, fmt.Errorf("campaign %d run %d: %w", cur.CampaignID, cur.RunID, te)
}

// ClaimFirstSend claims a run's first send while the run is pending and
// due; see campaign.Store.
func (s *Store) ClaimFirstSend(ctx context.Context, runID int64, app string, now time.Time, lease time.Duration) (campaign.Send, *time.Time, bool, error) {
	if lease <= 0 {
		return campaign.Send{}, nil, false, fmt.Errorf("run %d: claim its first send: lease must be positive, got %s", runID, lease)
	}
	// The run's row is written first (run, then sends: the order every
	// writer takes them in), and only when its first send is claimable, so
	// a run is not started without its claim. On PostgreSQL the send's
	// state is read in the statement's snapshot: a writer that changed the
	// send after it, holding the run's row, is waited for and the run's row
	// read again, not the send's. Every writer that changes a pending run's
	// sends (Cancel, ExpireRun, ResetForRetry, another claim) also changes
	// that run's status, which this statement then refuses. (A writer that
	// only locked the run could leave it started without its claim; the
	// worker reads such a run and goes on from the store.) The run's
	// deliver_by comes back with the claim: the caller, which has not read
	// the run, looks at it again just before its call.
	startRun := `UPDATE runs SET status = 'running', updated_at = ?
		WHERE id = ? AND app = ? AND status = 'pending' AND scheduled_for <= ? AND (deliver_by IS NULL OR deliver_by > ?)
		AND EXISTS (SELECT 1 FROM sends WHERE run_id = ? AND idx = 0 AND status = 'pending')`
	startArgs := []any{s.ts(now), runID, app, s.ts(now), s.ts(now), runID}
	claim := claimSet + ` {from} WHERE sends.run_id = ? AND sends.idx = 0 AND sends.status = 'pending' RETURNING ` + sendCols
	claimArgs := append(s.claimSetArgs(now, lease), runID)
	type first struct {
		sd        campaign.Send
		deliverBy *time.Time
	}
	var claimed []first
	var err error
	if s.dialect == migrations.Postgres {
		var rows *sql.Rows
		// The claim joins the run's start: no start, no claim.
		rows, err = s.db.QueryContext(ctx, s.q(`WITH started AS (`+startRun+` RETURNING id AS started_run, deliver_by AS run_deliver_by) `+
			strings.Replace(claim, "{from}", "FROM started", 1)+`, started.run_deliver_by`), append(startArgs, claimArgs...)...)
		if err == nil {
			claimed, err = collect(rows, func(row interface{ Scan(...any) error }) (first, error) {
				var f first
				err := row.Scan(append(sendDest(&f.sd), scanTime{&f.deliverBy})...)
				return f, err
			})
		}
	} else {
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			var f first
			err := tx.QueryRowContext(ctx, s.q(startRun+` RETURNING deliver_by`), startArgs...).Scan(scanTime{&f.deliverBy})
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			rows, err := tx.QueryContext(ctx, s.q(strings.Replace(claim, "{from}", "", 1)), claimArgs...)
			if err != nil {
				return err
			}
			sends, err := collect(rows, scanSend)
			if err == nil && len(sends) != 1 {
				err = fmt.Errorf("%d first sends claimed", len(sends)) // rolls the run's start back
			}
			if err == nil {
				f.sd = sends[0]
				claimed = []first{f}
			}
			return err
		})
	}
	if err != nil {
		return campaign.Send{}, nil, false, fmt.Errorf("run %d: claim its first send: %w", runID, err)
	}
	if len(claimed) != 1 {
		return campaign.Send{}, nil, false, nil
	}
	return claimed[0].sd, claimed[0].deliverBy, true, nil
}

// orCancelled is the status expression of a send going back to waiting
// (its one argument): cancelled instead when its run is cancelled. On
// PostgreSQL the run's row is read under a share lock: a Cancel that has
// cancelled the run but not committed is waited for and its status read
// (a plain read would see the run still open in the statement's snapshot,
// while Cancel skips the send as in flight in its own, and the send would
// wait for ever in a cancelled run). The run is locked before the send's
// row is written, the order every writer takes them in.
const orCancelled = `CASE WHEN (SELECT r.status FROM runs r WHERE r.id = sends.run_id{share}) = 'cancelled' THEN 'cancelled' ELSE ? END`

// lostClaim explains why a claim token no longer holds: the send moved on
// (resolved, settled or claimed again) since the claim.
func lostClaim(cur campaign.Send, tok campaign.ClaimToken, to string) *campaign.TransitionError {
	reason := fmt.Sprintf("claim %d is over (current claim %d)", tok.Claim, cur.Claim)
	if cur.Claim == tok.Claim {
		reason = fmt.Sprintf("claim %d's lease lapsed and the send was settled %s", tok.Claim, cur.Status)
	}
	return &campaign.TransitionError{Entity: "send", ID: cur.ID, From: string(cur.Status), To: to, Reason: reason}
}

// RecordOutcome ends a claim with its outcome.
func (s *Store) RecordOutcome(ctx context.Context, tok campaign.ClaimToken, o campaign.Outcome) (campaign.Send, error) {
	sd, _, err := s.record(ctx, tok, o, false)
	return sd, err
}

// RecordOutcomeAndFinish ends a claim with its outcome and, when that was
// the last send of the run to be sent, finishes the run done.
func (s *Store) RecordOutcomeAndFinish(ctx context.Context, tok campaign.ClaimToken, o campaign.Outcome) (campaign.Send, bool, error) {
	return s.record(ctx, tok, o, true)
}

// record is RecordOutcome; with finish, a sent outcome also moves the
// running run to done when every other send of it is sent.
func (s *Store) record(ctx context.Context, tok campaign.ClaimToken, o campaign.Outcome, finish bool) (campaign.Send, bool, error) {
	o.Message, o.PushID, o.MessageUID = storableText(o.Message), storableText(o.PushID), storableText(o.MessageUID)
	o.Code, o.Message = storableCode(o.Code, o.Message)
	if !campaign.CanTransition(campaign.SendInFlight, o.Status) || o.Status == campaign.SendCancelled {
		// in_flight -> cancelled is the store's own: a give-back (pending)
		// in a run Cancel cancelled. No call's outcome is "cancelled".
		return campaign.Send{}, false, &campaign.TransitionError{Entity: "send", ID: tok.SendID, From: string(campaign.SendInFlight), To: string(o.Status)}
	}
	if o.Status == campaign.SendRetryWait && o.NextAttempt.IsZero() {
		return campaign.Send{}, false, fmt.Errorf("send %d: record retry_wait: NextAttempt is required", tok.SendID)
	}
	if o.At.IsZero() {
		return campaign.Send{}, false, fmt.Errorf("send %d: record %s: At is required", tok.SendID, o.Status)
	}
	code := o.Code
	if o.Status == campaign.SendSent && code == 0 {
		code = 200
	}
	set := `status = ?, last_code = ?, last_message = ?, updated_at = ?, lease_until = NULL`
	if o.Status == campaign.SendPending || o.Status == campaign.SendRetryWait {
		// Waiting for a worker in a cancelled run would be waiting forever.
		set = `status = ` + orCancelled + `, last_code = ?, last_message = ?, updated_at = ?, lease_until = NULL`
	}
	args := []any{o.Status, code, o.Message, s.ts(o.At)}
	switch o.Status {
	case campaign.SendSent:
		set += `, push_id = ?, message_uid = ?`
		args = append(args, o.PushID, o.MessageUID)
	case campaign.SendRetryWait:
		set += `, next_attempt_at = ?`
		args = append(args, s.ts(o.NextAttempt))
	case campaign.SendPending: // released: the attempt is not spent
		set += `, attempts = attempts - 1, sent_at = NULL, claimed_at = NULL`
	}
	// One compare-and-set: the claim must still hold.
	where := ` WHERE id = ? AND status = 'in_flight' AND claim = ?`
	args = append(args, tok.SendID, tok.Claim)
	ledgered := o.Status == campaign.SendSent || o.Status == campaign.SendUnknown
	ledgerAs := o.Status
	if o.KeepsQuota && (o.Status == campaign.SendRetryWait || o.Status == campaign.SendFailed) {
		ledgered, ledgerAs = true, campaign.SendUnknown // it may count at the service
	}
	update := `UPDATE sends SET ` + set + where + ` RETURNING ` + sendCols

	var out []campaign.Send
	var finished bool
	var err error
	finish = finish && o.Status == campaign.SendSent
	// doneIfAllSent finishes a running run with no other send left unsent.
	const doneIfAllSent = `UPDATE runs SET status = 'done', finished_at = ?, updated_at = ?
		WHERE runs.id = ? AND runs.status = 'running' AND NOT EXISTS (SELECT 1 FROM sends x WHERE x.run_id = runs.id AND x.id <> ? AND x.status <> 'sent')`
	switch {
	case finish && s.dialect == migrations.Postgres:
		// The outcome, its ledger entry and the run's end in one statement.
		// The run's row is locked first (the join with lr) only to keep the
		// lock order of every other writer (run, then sends). It does not
		// serialise finishers: the statement's snapshot predates the wait,
		// so two workers settling a run's last two sends at once both see
		// the other's as in flight and both leave the run to FinishRun.
		// Never early: done needs every other send sent, and a run no
		// longer running (cancelled, expired) is left as it is.
		args = append(args, o.Status, s.ts(o.At), s.ts(o.At))
		var rows *sql.Rows
		rows, err = s.db.QueryContext(ctx, s.q(`WITH lr AS (SELECT id AS locked_run FROM runs WHERE id = (SELECT run_id FROM sends WHERE id = ?) FOR NO KEY UPDATE),
			u AS (`+strings.Replace(update, " WHERE ", " FROM lr WHERE ", 1)+`),
			l AS (INSERT INTO quota_ledger (send_id, claim, app, sent_at, outcome) SELECT id, claim, app, sent_at, ? FROM u
				ON CONFLICT (send_id, claim) DO NOTHING),
			r AS (UPDATE runs SET status = 'done', finished_at = ?, updated_at = ? FROM u
				WHERE runs.id = u.run_id AND runs.status = 'running'
				AND NOT EXISTS (SELECT 1 FROM sends x WHERE x.run_id = u.run_id AND x.id <> u.id AND x.status <> 'sent') RETURNING runs.id)
			SELECT `+sendCols+`, EXISTS (SELECT 1 FROM r) FROM u`), append([]any{tok.SendID}, args...)...)
		if err == nil {
			out, err = collect(rows, func(row interface{ Scan(...any) error }) (campaign.Send, error) {
				var sd campaign.Send
				err := row.Scan(append(sendDest(&sd), &finished)...)
				return sd, err
			})
		}
	case ledgered && s.dialect == migrations.Postgres:
		// The outcome and its quota-ledger entry in one statement.
		args = append(args, ledgerAs)
		var rows *sql.Rows
		rows, err = s.db.QueryContext(ctx, s.q(`WITH u AS (`+update+`),
			l AS (INSERT INTO quota_ledger (send_id, claim, app, sent_at, outcome) SELECT id, claim, app, sent_at, ? FROM u
				ON CONFLICT (send_id, claim) DO NOTHING)
			SELECT `+sendCols+` FROM u`), args...)
		if err == nil {
			out, err = collect(rows, scanSend)
		}
	case ledgered:
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, s.q(update), args...)
			if err != nil {
				return err
			}
			if out, err = collect(rows, scanSend); err != nil || len(out) == 0 {
				return err
			}
			if err := s.ledger(ctx, tx, out[0], ledgerAs); err != nil || !finish {
				return err
			}
			res, err := tx.ExecContext(ctx, s.q(doneIfAllSent), s.ts(o.At), s.ts(o.At), out[0].RunID, out[0].ID)
			if err != nil {
				return fmt.Errorf("run %d: finish: %w", out[0].RunID, err)
			}
			n, err := res.RowsAffected()
			finished = n == 1
			return err
		})
	default:
		var rows *sql.Rows
		rows, err = s.db.QueryContext(ctx, s.q(update), args...)
		if err == nil {
			out, err = collect(rows, scanSend)
		}
	}
	if err != nil {
		return campaign.Send{}, false, fmt.Errorf("send %d: record %s: %w", tok.SendID, o.Status, err)
	}
	if len(out) == 1 {
		return out[0], finished, nil
	}
	// The compare-and-set missed: say why.
	cur, err := s.getSend(ctx, s.db, tok.SendID, false)
	if err != nil {
		return cur, false, err
	}
	if o.Status == campaign.SendSent && cur.Status == campaign.SendUnknown && cur.Claim == tok.Claim {
		return s.recordLateSent(ctx, tok, cur.RunID, o)
	}
	// Only a claim that sent nothing (no slot kept: KeepsQuota false;
	// never called, answered a plain 429, a refusal, an unavailable host's
	// 503, or a call never written) comes back; anything that may have
	// sent keeps its slot, is recorded unknown and stays so.
	if o.Status != campaign.SendUnknown && !o.KeepsQuota && cur.Status == campaign.SendUnknown && cur.Claim == tok.Claim {
		sd, err := s.recordLateNotSent(ctx, tok, cur.RunID, o)
		return sd, false, err
	}
	return cur, false, fmt.Errorf("campaign %d run %d: %w", cur.CampaignID, cur.RunID, lostClaim(cur, tok, string(o.Status)))
}

// recordLateSent records the service's 200 for a send whose lease lapsed
// during the call, so that it was resolved unknown meanwhile: the answer
// belongs to this very claim (no later claim exists; unknown is never
// claimed again without an operator's retry, which would take a new claim
// token), so the send is sent and its messageUID known. A run already
// settled because of it is settled again (failed or partially_failed to
// partially_failed or done; a cancelled run stays cancelled). The ledger
// already counts the attempt, as unknown.
func (s *Store) recordLateSent(ctx context.Context, tok campaign.ClaimToken, runID int64, o campaign.Outcome) (campaign.Send, bool, error) {
	var out campaign.Send
	var finished bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		run, err := s.getRun(ctx, tx, runID, true) // the run's lock first, as every writer takes it
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.q(`UPDATE sends SET status = 'sent', push_id = ?, message_uid = ?, last_code = 200,
			last_message = ?, updated_at = ? WHERE id = ? AND status = 'unknown' AND claim = ? RETURNING `+sendCols),
			o.PushID, o.MessageUID, "answered after its lease lapsed: recorded late", s.ts(o.At), tok.SendID, tok.Claim)
		if err != nil {
			return err
		}
		sent, err := collect(rows, scanSend)
		if err != nil {
			return err
		}
		if len(sent) != 1 {
			now, err := s.getSend(ctx, tx, tok.SendID, false)
			if err != nil {
				return err
			}
			return fmt.Errorf("campaign %d run %d: %w", now.CampaignID, now.RunID, lostClaim(now, tok, string(o.Status)))
		}
		out = sent[0]
		if run.Status != campaign.RunFailed && run.Status != campaign.RunPartiallyFailed {
			return nil // open (its worker settles it) or cancelled
		}
		settled, err := s.settle(ctx, tx, run, o.At)
		finished = err == nil && settled.Status == campaign.RunDone
		return err
	})
	if err != nil {
		return campaign.Send{}, false, fmt.Errorf("send %d: record a late %s: %w", tok.SendID, o.Status, err)
	}
	return out, finished, nil
}

// recordLateNotSent records the outcome of a claim that sent nothing,
// heard after its lease lapsed, so that the reconciler settled it unknown
// meanwhile: its worker decided not to call (it paused past the lease, its
// slot or the run's deliver_by passed: a give-back, pending), or its call
// was refused (failed) or never written (retry_wait). The claimant knows
// no push went out under this very claim (no later claim exists; unknown
// is never claimed again without an operator's retry, which takes a new
// claim token). While its run is open the send takes the outcome as if it
// had come in time, its quota-ledger entry unspent (and, given back, its
// attempt); a settled run keeps it unknown for an operator's retry. It
// used to stay unknown, and the push never sent waited for an operator's
// `retry --unknown`, which warns of a duplicate.
func (s *Store) recordLateNotSent(ctx context.Context, tok campaign.ClaimToken, runID int64, o campaign.Outcome) (campaign.Send, error) {
	set, note := `status = 'pending', attempts = attempts - 1, sent_at = NULL, claimed_at = NULL`, " (given back after its lease lapsed)"
	args := []any{}
	switch o.Status {
	case campaign.SendPending:
	case campaign.SendRetryWait:
		set, note = `status = 'retry_wait', next_attempt_at = ?`, " (heard after its lease lapsed)"
		args = append(args, s.ts(o.NextAttempt))
	case campaign.SendFailed:
		set, note = `status = 'failed'`, " (heard after its lease lapsed)"
	default:
		return campaign.Send{}, fmt.Errorf("send %d: record a late %s: not an outcome that sent nothing", tok.SendID, o.Status)
	}
	args = append(args, o.Code, o.Message+note, s.ts(o.At), tok.SendID, tok.Claim)
	var out campaign.Send
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		run, err := s.getRun(ctx, tx, runID, true) // the run's lock first, as every writer takes it
		if err != nil {
			return err
		}
		var back []campaign.Send
		if run.Status == campaign.RunPending || run.Status == campaign.RunRunning {
			rows, err := tx.QueryContext(ctx, s.q(`UPDATE sends SET `+set+`,
				last_code = ?, last_message = ?, updated_at = ? WHERE id = ? AND status = 'unknown' AND claim = ? RETURNING `+sendCols), args...)
			if err != nil {
				return err
			}
			if back, err = collect(rows, scanSend); err != nil {
				return err
			}
		}
		if len(back) != 1 {
			now, err := s.getSend(ctx, tx, tok.SendID, false)
			if err != nil {
				return err
			}
			te := lostClaim(now, tok, string(o.Status))
			if run.Status != campaign.RunPending && run.Status != campaign.RunRunning {
				te.Reason = fmt.Sprintf("its lease lapsed and run %d is %s", run.ID, run.Status)
			}
			return fmt.Errorf("campaign %d run %d: %w", now.CampaignID, now.RunID, te)
		}
		out = back[0]
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM quota_ledger WHERE send_id = ? AND claim = ?`), tok.SendID, tok.Claim); err != nil {
			return fmt.Errorf("send %d: quota ledger: %w", tok.SendID, err)
		}
		return nil
	})
	if err != nil {
		return campaign.Send{}, fmt.Errorf("send %d: record a late %s: %w", tok.SendID, o.Status, err)
	}
	return out, nil
}

// ledger records an attempt that reached or may have reached the service.
func (s *Store) ledger(ctx context.Context, tx *sql.Tx, sd campaign.Send, outcome campaign.SendStatus) error {
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO quota_ledger (send_id, claim, app, sent_at, outcome) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (send_id, claim) DO NOTHING`), sd.ID, sd.Claim, sd.App, s.tsp(sd.SentAt), outcome); err != nil {
		return fmt.Errorf("send %d: quota ledger: %w", sd.ID, err)
	}
	return nil
}

// ResolveStaleSends settles in_flight sends whose lease ended: unknown.
func (s *Store) ResolveStaleSends(ctx context.Context, now time.Time) ([]campaign.Send, error) {
	var out []campaign.Send
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+sendCols+` FROM sends WHERE status = 'in_flight' AND lease_until < ? ORDER BY lease_until, id{skiplocked}`), s.ts(now))
		if err != nil {
			return fmt.Errorf("stale sends: %w", err)
		}
		stale, err := collect(rows, scanSend)
		if err != nil {
			return fmt.Errorf("stale sends: %w", err)
		}
		for _, sd := range stale {
			holder := ""
			if sd.ClaimedBy != "" {
				holder = " (claimed by " + sd.ClaimedBy + ")"
			}
			// The claim began the attempt: it may have reached the service.
			updated, err := scanSend(tx.QueryRowContext(ctx, s.q(`UPDATE sends SET status = 'unknown', sent_at = COALESCE(sent_at, claimed_at),
				lease_until = NULL, last_message = ?, updated_at = ? WHERE id = ? RETURNING `+sendCols),
				"lease lapsed during the attempt"+holder+": it may have reached the service", s.ts(now), sd.ID))
			if err != nil {
				return fmt.Errorf("campaign %d run %d send %d: resolve stale: %w", sd.CampaignID, sd.RunID, sd.ID, err)
			}
			if err := s.ledger(ctx, tx, updated, campaign.SendUnknown); err != nil {
				return err
			}
			out = append(out, updated)
		}
		return nil
	})
	return out, err
}

// moveCampaign changes a campaign's status by compare-and-set inside tx.
func (s *Store) moveCampaign(ctx context.Context, tx *sql.Tx, id int64, to campaign.CampaignStatus, now time.Time, extraSet string) (campaign.Campaign, error) {
	rows, err := tx.QueryContext(ctx, s.q(`UPDATE campaigns SET status = ?, updated_at = ?`+extraSet+` WHERE id = ? AND status IN (`+
		inList(campaign.AllowedFrom(to))+`) RETURNING `+campaignCols), to, s.ts(now), id)
	if err != nil {
		return campaign.Campaign{}, fmt.Errorf("campaign %d: %s: %w", id, to, err)
	}
	cs, err := collect(rows, scanCampaign)
	if err != nil {
		return campaign.Campaign{}, fmt.Errorf("campaign %d: %s: %w", id, to, err)
	}
	if len(cs) == 1 {
		return cs[0], nil
	}
	cur, err := s.getCampaign(ctx, tx, id, false)
	if err != nil {
		return cur, err
	}
	return cur, &campaign.TransitionError{Entity: "campaign", ID: id, From: string(cur.Status), To: string(to)}
}

// Pause stops a campaign's fires: those to come, and those the scheduler
// already claimed ahead of their instant (up to its lookahead early) that
// no worker has touched. Their runs are deleted and next_run_at goes back
// to the earliest of them, so Resume applies the missed-fire policy to
// them as to any fire that fell in the pause. A one-off campaign whose only
// fire was claimed ahead is already done; it is paused all the same when
// that fire is deleted.
func (s *Store) Pause(ctx context.Context, id int64, now time.Time) (campaign.Campaign, error) {
	var out campaign.Campaign
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The campaign first, as ClaimDue and Cancel lock it, then its runs.
		cur, err := s.getCampaign(ctx, tx, id, true)
		if err != nil {
			return err
		}
		unfired, earliest, err := s.deleteUnfiredRuns(ctx, tx, id, now)
		if err != nil {
			return err
		}
		// done → paused only when the pause took back a fire claimed
		// ahead: otherwise the schedule really is exhausted.
		if !campaign.CanTransition(cur.Status, campaign.CampaignPaused) || (cur.Status == campaign.CampaignDone && unfired == 0) {
			return &campaign.TransitionError{Entity: "campaign", ID: id, From: string(cur.Status), To: string(campaign.CampaignPaused)}
		}
		set, args := "", []any{campaign.CampaignPaused, s.ts(now)}
		if unfired > 0 {
			set = `, next_run_at = CASE WHEN next_run_at IS NULL OR next_run_at > ? THEN ? ELSE next_run_at END`
			args = append(args, s.ts(earliest), s.ts(earliest))
		}
		args = append(args, id)
		out, err = scanCampaign(tx.QueryRowContext(ctx, s.q(`UPDATE campaigns SET status = ?, updated_at = ?`+set+` WHERE id = ? RETURNING `+campaignCols), args...))
		if err != nil {
			return fmt.Errorf("campaign %d: paused: %w", id, err)
		}
		return nil
	})
	return out, err
}

// deleteUnfiredRuns deletes the runs of campaign id that have not fired:
// pending, due after now, none of their sends ever claimed (their sends go
// with them, ON DELETE CASCADE; none is in the ledger). It returns how many
// and the earliest instant among them. A claim starts its run, so one made
// meanwhile leaves that run out; a worker holding the task of a deleted run
// finds it gone and drops it.
func (s *Store) deleteUnfiredRuns(ctx context.Context, tx *sql.Tx, id int64, now time.Time) (int, time.Time, error) {
	rows, err := tx.QueryContext(ctx, s.q(`DELETE FROM runs
		WHERE campaign_id = ? AND status = 'pending' AND scheduled_for > ?
		AND NOT EXISTS (SELECT 1 FROM sends WHERE sends.run_id = runs.id AND (sends.status <> 'pending' OR sends.claim <> 0))
		RETURNING scheduled_for`), id, s.ts(now))
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("campaign %d: pause: delete unfired runs: %w", id, err)
	}
	instants, err := collect(rows, func(row interface{ Scan(...any) error }) (time.Time, error) {
		var t time.Time
		err := row.Scan(scanTimeV{&t})
		return t, err
	})
	if err != nil || len(instants) == 0 {
		return 0, time.Time{}, err
	}
	return len(instants), slices.MinFunc(instants, func(a, b time.Time) int { return a.Compare(b) }), nil
}

// Resume re-activates a paused campaign; its next_run_at is kept, so the
// scheduler's missed-fire policy decides what fell in the pause.
func (s *Store) Resume(ctx context.Context, id int64, now time.Time) (campaign.Campaign, error) {
	var out campaign.Campaign
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		out, err = s.moveCampaign(ctx, tx, id, campaign.CampaignActive, now, "")
		return err
	})
	return out, err
}

// Cancel cancels a campaign, its unfinished runs and their unsent sends,
// and counts them. Sends in flight finish; their outcome is still recorded.
func (s *Store) Cancel(ctx context.Context, id int64, now time.Time) (campaign.Cancellation, error) {
	var out campaign.Cancellation
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		if out.Campaign, err = s.moveCampaign(ctx, tx, id, campaign.CampaignCancelled, now, ", next_run_at = NULL"); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET status = 'cancelled', finished_at = ?, updated_at = ?
			WHERE campaign_id = ? AND status IN (`+inList(campaign.AllowedFrom(campaign.RunCancelled))+`)`), s.ts(now), s.ts(now), id)
		if err != nil {
			return fmt.Errorf("campaign %d: cancel runs: %w", id, err)
		}
		if out.CancelledRuns, err = affected(res); err != nil {
			return fmt.Errorf("campaign %d: cancel runs: %w", id, err)
		}
		// Sends in flight are their workers' (the outcome is recorded; one
		// given back to wait ends cancelled then): only waiting ones here.
		waiting := slices.DeleteFunc(campaign.AllowedFrom(campaign.SendCancelled), func(st campaign.SendStatus) bool { return st == campaign.SendInFlight })
		res, err = tx.ExecContext(ctx, s.q(`UPDATE sends SET status = 'cancelled', last_message = ?, updated_at = ?
			WHERE campaign_id = ? AND status IN (`+inList(waiting)+`)`),
			"campaign cancelled", s.ts(now), id)
		if err != nil {
			return fmt.Errorf("campaign %d: cancel sends: %w", id, err)
		}
		if out.CancelledSends, err = affected(res); err != nil {
			return fmt.Errorf("campaign %d: cancel sends: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return campaign.Cancellation{Campaign: out.Campaign}, err // rolled back: nothing was cancelled
	}
	return out, nil
}

// affected is the number of rows res changed.
func affected(res sql.Result) (int, error) {
	n, err := res.RowsAffected()
	return int(n), err
}

// SentBetween is the quota ledger of one app in [from, to).
func (s *Store) SentBetween(ctx context.Context, app string, from, to time.Time) ([]time.Time, error) {
	// Attempts still in flight (claimed, no outcome yet) count too: a quota
	// rebuilt while a push is on the wire must not give its slot away.
	// ClaimSend sets sent_at anew, so an in_flight send's sent_at is this
	// claim's attempt, not an earlier one already in the ledger.
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT sent_at FROM quota_ledger WHERE app = ? AND sent_at >= ? AND sent_at < ?
		UNION ALL
		SELECT sent_at FROM sends WHERE status = 'in_flight' AND app = ? AND sent_at >= ? AND sent_at < ?
		ORDER BY 1`),
		app, s.ts(from), s.ts(to), app, s.ts(from), s.ts(to))
	if err != nil {
		return nil, fmt.Errorf("app %s: quota ledger: %w", app, err)
	}
	out, err := collect(rows, func(row interface{ Scan(...any) error }) (time.Time, error) {
		var t time.Time
		err := row.Scan(scanTimeV{&t})
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("app %s: quota ledger: %w", app, err)
	}
	if out == nil {
		out = []time.Time{}
	}
	return out, nil
}

var _ quota.AttemptLedger = (*Store)(nil)

// AttemptsBetween is SentBetween with the send and claim of each attempt,
// or for an attempt of no send (`push send`'s) its ledger entry: the guard
// seeds a rebuilt window under those names (quota.AttemptLedger).
func (s *Store) AttemptsBetween(ctx context.Context, app string, from, to time.Time) ([]quota.Attempt, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT sent_at, COALESCE(send_id, 0), COALESCE(claim, 0), CASE WHEN send_id IS NULL THEN id ELSE 0 END
		FROM quota_ledger WHERE app = ? AND sent_at >= ? AND sent_at < ?
		UNION ALL
		SELECT sent_at, id, claim, 0 FROM sends WHERE status = 'in_flight' AND app = ? AND sent_at >= ? AND sent_at < ?
		ORDER BY 1`),
		app, s.ts(from), s.ts(to), app, s.ts(from), s.ts(to))
	if err != nil {
		return nil, fmt.Errorf("app %s: quota ledger: %w", app, err)
	}
	out, err := collect(rows, func(row interface{ Scan(...any) error }) (quota.Attempt, error) {
		var a quota.Attempt
		err := row.Scan(scanTimeV{&a.At}, &a.Send, &a.Claim, &a.Entry)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("app %s: quota ledger: %w", app, err)
	}
	return out, nil
}

// SaveBlock records that app is blocked until until after a 429/1008 (see
// quota.BlockStore): the later of this block and any recorded one, which it
// returns.
func (s *Store) SaveBlock(ctx context.Context, app string, until, now time.Time) (time.Time, error) {
	var recorded time.Time
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO quota_blocks (app, blocked_until, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (app) DO UPDATE SET
			blocked_until = CASE WHEN excluded.blocked_until > quota_blocks.blocked_until THEN excluded.blocked_until ELSE quota_blocks.blocked_until END,
			updated_at = excluded.updated_at
		RETURNING blocked_until`), app, s.ts(until), s.ts(now)).Scan(scanTimeV{&recorded})
	if err != nil {
		return time.Time{}, fmt.Errorf("app %s: record the quota block: %w", app, err)
	}
	return recorded, nil
}

// ClearBlock forgets app's recorded block (quota.Guard.Unblock) and returns
// its end, zero if none was recorded. In the same transaction, the app's
// sends waiting in retry_wait may go at now: an operator's unblock says the
// service takes the app's pushes again, and a send that got a 5xx's
// Retry-After waits for it itself (were the block recorded in Redis alone,
// a store write having failed, it would wait on). A send whose wait was
// its own backoff (minutes) goes a little early, with its quota slot.
func (s *Store) ClearBlock(ctx context.Context, app string, now time.Time) (time.Time, error) {
	var until time.Time
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.q(`DELETE FROM quota_blocks WHERE app = ? RETURNING blocked_until`), app).Scan(scanTimeV{&until})
		switch {
		case errors.Is(err, sql.ErrNoRows):
			until = time.Time{}
		case err != nil:
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE sends SET next_attempt_at = ?, updated_at = ?
			WHERE app = ? AND status = 'retry_wait' AND next_attempt_at > ?`),
			s.ts(now), s.ts(now), app, s.ts(now))
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("app %s: clear the quota block: %w", app, err)
	}
	return until, nil
}

// BlockedUntil is the end of app's recorded block (see SaveBlock); zero
// when none was recorded.
func (s *Store) BlockedUntil(ctx context.Context, app string) (time.Time, error) {
	var until time.Time
	err := s.db.QueryRowContext(ctx, s.q(`SELECT blocked_until FROM quota_blocks WHERE app = ?`), app).Scan(scanTimeV{&until})
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("app %s: read the quota block: %w", app, err)
	}
	return until, nil
}

// BeginDirectAttempt records in the quota ledger, before the call, a push
// made outside any campaign (tagcast push send) as possibly sent, so a quota
// rebuilt from the ledger counts it even if the process dies mid-call.
func (s *Store) BeginDirectAttempt(ctx context.Context, app string, at time.Time) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO quota_ledger (app, sent_at, outcome) VALUES (?, ?, 'unknown') RETURNING id`),
		app, s.ts(at)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("app %s: direct push: quota ledger: %w", app, err)
	}
	return id, nil
}

// EndDirectAttempt settles a direct push begun with BeginDirectAttempt:
// sent, unknown (kept as possibly sent), or anything else, which the
// service refused without sending, and which leaves the ledger.
func (s *Store) EndDirectAttempt(ctx context.Context, id int64, outcome campaign.SendStatus) error {
	var err error
	switch outcome {
	case campaign.SendSent, campaign.SendUnknown:
		_, err = s.db.ExecContext(ctx, s.q(`UPDATE quota_ledger SET outcome = ? WHERE id = ? AND send_id IS NULL`), outcome, id)
	default:
		_, err = s.db.ExecContext(ctx, s.q(`DELETE FROM quota_ledger WHERE id = ? AND send_id IS NULL`), id)
	}
	if err != nil {
		return fmt.Errorf("direct push %d: quota ledger: %w", id, err)
	}
	return nil
}

// storableText makes a text the push service returned (an error message,
// a push id, a messageUID) storable alike on both dialects: PostgreSQL's
// text refuses a NUL and invalid UTF-8, which SQLite keeps. Each becomes
// U+FFFD. Refusing instead would leave the send in flight until its lease
// lapsed and it ended unknown, although the service had answered.
func storableText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// storableCode does for a code what storableText does for a text: the
// service's codes are small, but a proxy's body may say anything, and
// PostgreSQL's last_code is 32 bits where SQLite's is not. A code beyond
// them is kept in the message, and the code is 0, as for an answer without
// one.
func storableCode(code int, message string) (int, string) {
	if code >= math.MinInt32 && code <= math.MaxInt32 {
		return code, message
	}
	return 0, fmt.Sprintf("code %d (beyond the 32 bits a code is kept in): %s", code, message)
}
