package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/migrations"
)

// ClaimDue fires due campaigns; see campaign.Store.
func (s *Store) ClaimDue(ctx context.Context, due, now time.Time, limit int, plan campaign.PlanFunc) ([]campaign.Run, error) {
	if limit <= 0 {
		limit = 100
	}
	var created []campaign.Run
	var planErrs []error
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		created, planErrs = nil, nil
		claims := make([]claim, 0, limit)
		// A refused campaign keeps its next_run_at, so it stays at the head
		// of the due order: page on past it (this transaction's own row
		// locks do not hide it), or enough refused campaigns would block
		// every other one for good.
		var after *campaign.Campaign
		refused := 0
		for len(claims) < limit && refused < maxRefusedPerClaim {
			want := limit - len(claims)
			page, err := s.selectDue(ctx, tx, due, want, after)
			if err != nil {
				return err
			}
			for i, c := range page {
				after = &page[i]
				cl, err := planClaim(c, due, now, plan)
				if err != nil {
					var pe *campaign.PlanError
					if errors.As(err, &pe) {
						planErrs = append(planErrs, err)
						refused++
						continue
					}
					return err
				}
				claims = append(claims, cl)
			}
			if len(page) < want {
				break // nothing more is due
			}
		}
		if len(claims) == 0 {
			return nil
		}
		var err error
		if s.dialect == migrations.Postgres {
			created, err = s.writeClaimsBatch(ctx, tx, claims, now)
		} else {
			created, err = s.writeClaimsEach(ctx, tx, claims, now)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return created, errors.Join(planErrs...)
}

// maxRefusedPerClaim bounds the campaigns one ClaimDue may refuse (and
// keep locked) while it pages past them for claimable ones; campaign.Store
// documents it.
const maxRefusedPerClaim = 10000

// selectDue locks up to limit due campaigns in due order (next_run_at,
// then id), after the campaign `after` when it is set.
func (s *Store) selectDue(ctx context.Context, tx *sql.Tx, now time.Time, limit int, after *campaign.Campaign) ([]campaign.Campaign, error) {
	args := []any{s.ts(now)}
	except := ""
	if after != nil {
		except = ` AND (next_run_at, id) > (?, ?)`
		args = append(args, s.ts(*after.NextRunAt), after.ID)
	}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT `+campaignCols+` FROM campaigns
		WHERE status = 'active' AND next_run_at <= ?`+except+` ORDER BY next_run_at, id LIMIT ?{skiplocked}`), append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("claim due: %w", err)
	}
	due, err := collect(rows, scanCampaign)
	if err != nil {
		return nil, fmt.Errorf("claim due: %w", err)
	}
	return due, nil
}

// claim is what ClaimDue writes for one due campaign. It is decided in Go
// before anything is written, so both dialects write the same rows.
type claim struct {
	c    campaign.Campaign
	next *time.Time    // UTC; nil: the schedule is exhausted
	run  *campaign.Run // the run to insert (no id yet); nil: this fire is skipped
	// bodies are the JSON bodies of the run's sends; none when rendering failed.
	bodies []string
}

func (cl claim) status() campaign.CampaignStatus {
	if cl.next == nil {
		return campaign.CampaignDone
	}
	return campaign.CampaignActive
}

// planClaim applies plan to one locked, due campaign and renders its fire.
// A *campaign.PlanError leaves the campaign as it was.
func planClaim(c campaign.Campaign, due, now time.Time, plan campaign.PlanFunc) (claim, error) {
	p, err := plan(c, due)
	if err != nil {
		var pe *campaign.PlanError
		if errors.As(err, &pe) && pe.CampaignID == c.ID {
			return claim{}, pe
		}
		return claim{}, &campaign.PlanError{CampaignID: c.ID, Err: err}
	}
	// Compared at the store's precision: a next fire that only advances
	// below a microsecond would be stored unchanged and fire again forever.
	if p.Next != nil && !utc(*p.Next).After(utc(*c.NextRunAt)) {
		return claim{}, &campaign.PlanError{CampaignID: c.ID, Err: fmt.Errorf("next fire %s does not advance past %s",
			p.Next.UTC().Format(time.RFC3339Nano), c.NextRunAt.Format(time.RFC3339Nano))}
	}
	cl := claim{c: c, next: ceilUTCP(p.Next)}
	if p.Fire {
		if cl.run, cl.bodies, err = newRun(c, ceilUTC(p.ScheduledFor), now); err != nil {
			return claim{}, err
		}
	}
	return cl, nil
}

// newRun is the run of one fire with its rendered send bodies; a render
// error, or a body the service's rules refuse at this fire, makes it a
// failed run without sends.
func newRun(c campaign.Campaign, at, now time.Time) (*campaign.Run, []string, error) {
	r := &campaign.Run{CampaignID: c.ID, App: c.App, ScheduledFor: at, Status: campaign.RunPending}
	if d := c.Schedule.DeliverWithin; d > 0 {
		t := utc(at.Add(d))
		r.DeliverBy = &t
	}
	sends, err := campaign.RenderSends(c, at)
	if err != nil {
		r.Status, r.Error, r.FinishedAt = campaign.RunFailed, storableText(err.Error()), utcp(&now)
		return r, nil, nil
	}
	bodies := make([]string, len(sends))
	for i, sd := range sends {
		bodies[i] = string(sd.Body)
	}
	return r, bodies, nil
}

// writeClaimsEach writes the claims with a few statements per campaign
// (SQLite: no arrays, and in-process statements are cheap). Returns the
// runs created, in claim order; a fire that exists already is left out.
func (s *Store) writeClaimsEach(ctx context.Context, tx *sql.Tx, claims []claim, now time.Time) ([]campaign.Run, error) {
	var created []campaign.Run
	for _, cl := range claims {
		c := cl.c
		if r := cl.run; r != nil {
			rows, err := tx.QueryContext(ctx, s.q(`INSERT INTO runs (campaign_id, app, scheduled_for, status, deliver_by, error, created_at, updated_at, finished_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (campaign_id, scheduled_for) DO NOTHING RETURNING `+runCols),
				c.ID, c.App, s.ts(r.ScheduledFor), r.Status, s.tsp(r.DeliverBy), r.Error, s.ts(now), s.ts(now), s.tsp(r.FinishedAt))
			if err != nil {
				return nil, fmt.Errorf("campaign %d: insert run: %w", c.ID, err)
			}
			runs, err := collect(rows, scanRun)
			if err != nil {
				return nil, fmt.Errorf("campaign %d: insert run: %w", c.ID, err)
			}
			if len(runs) > 0 { // else this fire exists already
				run := runs[0]
				for i, b := range cl.bodies {
					if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO sends (run_id, campaign_id, app, idx, body, status, created_at, updated_at)
						VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`), run.ID, c.ID, c.App, i, b, s.ts(now), s.ts(now)); err != nil {
						return nil, fmt.Errorf("campaign %d run %d: insert send %d: %w", c.ID, run.ID, i, err)
					}
				}
				created = append(created, run)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE campaigns SET next_run_at = ?, status = ?, updated_at = ? WHERE id = ?`),
			s.tsp(cl.next), cl.status(), s.ts(now), c.ID); err != nil {
			return nil, fmt.Errorf("campaign %d: advance: %w", c.ID, err)
		}
	}
	return created, nil
}

// writeClaimsBatch writes the claims in at most three statements whatever
// their number (PostgreSQL: round trips were most of a claim's cost). Each
// statement text is fixed, with the rows in arrays, so pgx prepares it once.
// Returns the runs created, in claim order; a fire that exists already is
// left out.
func (s *Store) writeClaimsBatch(ctx context.Context, tx *sql.Tx, claims []claim, now time.Time) ([]campaign.Run, error) {
	now = utc(now)
	var (
		runCampaigns []int64
		runApps      []string
		runAt        []time.Time
		runStatuses  []string
		runDeliverBy []*time.Time
		runErrors    []string
		runFinished  []*time.Time
	)
	for _, cl := range claims {
		if r := cl.run; r != nil {
			runCampaigns = append(runCampaigns, r.CampaignID)
			runApps = append(runApps, r.App)
			runAt = append(runAt, r.ScheduledFor)
			runStatuses = append(runStatuses, string(r.Status))
			runDeliverBy = append(runDeliverBy, r.DeliverBy)
			runErrors = append(runErrors, r.Error)
			runFinished = append(runFinished, r.FinishedAt)
		}
	}
	// A campaign fires at most once per batch, and RETURNING has no order:
	// the runs are matched to their claims by campaign.
	inserted := map[int64]campaign.Run{}
	if len(runCampaigns) > 0 {
		rows, err := tx.QueryContext(ctx, `INSERT INTO runs (campaign_id, app, scheduled_for, status, deliver_by, error, created_at, updated_at, finished_at)
			SELECT v.campaign_id, v.app, v.scheduled_for, v.status, v.deliver_by, v.error, $8, $8, v.finished_at
			FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::timestamptz[], $6::text[], $7::timestamptz[])
				AS v(campaign_id, app, scheduled_for, status, deliver_by, error, finished_at)
			ON CONFLICT (campaign_id, scheduled_for) DO NOTHING RETURNING `+runCols,
			runCampaigns, runApps, runAt, runStatuses, runDeliverBy, runErrors, runFinished, now)
		if err != nil {
			return nil, fmt.Errorf("claim due: insert %d runs: %w", len(runCampaigns), err)
		}
		runs, err := collect(rows, scanRun)
		if err != nil {
			return nil, fmt.Errorf("claim due: insert %d runs: %w", len(runCampaigns), err)
		}
		for _, r := range runs {
			inserted[r.CampaignID] = r
		}
	}

	var created []campaign.Run
	var (
		sendRuns      []int64
		sendCampaigns []int64
		sendApps      []string
		sendIdx       []int
		sendBodies    []string
	)
	for _, cl := range claims {
		run, ok := inserted[cl.c.ID]
		if !ok {
			continue // no fire, or it exists already
		}
		created = append(created, run)
		for i, b := range cl.bodies {
			sendRuns = append(sendRuns, run.ID)
			sendCampaigns = append(sendCampaigns, run.CampaignID)
			sendApps = append(sendApps, run.App)
			sendIdx = append(sendIdx, i)
			sendBodies = append(sendBodies, b)
		}
	}
	if len(sendRuns) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sends (run_id, campaign_id, app, idx, body, status, created_at, updated_at)
			SELECT v.run_id, v.campaign_id, v.app, v.idx, v.body::json, 'pending', $6, $6
			FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::integer[], $5::text[]) AS v(run_id, campaign_id, app, idx, body)`,
			sendRuns, sendCampaigns, sendApps, sendIdx, sendBodies, now); err != nil {
			return nil, fmt.Errorf("claim due: insert %d sends of %d runs: %w", len(sendRuns), len(created), err)
		}
	}

	ids := make([]int64, len(claims))
	nexts := make([]*time.Time, len(claims))
	statuses := make([]string, len(claims))
	for i, cl := range claims {
		ids[i], nexts[i], statuses[i] = cl.c.ID, cl.next, string(cl.status())
	}
	if _, err := tx.ExecContext(ctx, `UPDATE campaigns AS c SET next_run_at = v.next_run_at, status = v.status, updated_at = $4
		FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS v(id, next_run_at, status) WHERE c.id = v.id`,
		ids, nexts, statuses, now); err != nil {
		return nil, fmt.Errorf("claim due: advance %d campaigns: %w", len(claims), err)
	}
	return created, nil
}
