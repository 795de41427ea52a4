package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// ClaimDue fires due campaigns; see campaign.Store.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, limit int, plan campaign.PlanFunc) ([]campaign.Run, error) {
	if limit <= 0 {
		limit = 100
	}
	var created []campaign.Run
	var planErrs []error
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		created, planErrs = nil, nil
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+campaignCols+` FROM campaigns
			WHERE status = 'active' AND next_run_at <= ? ORDER BY next_run_at LIMIT ?{skiplocked}`), s.ts(now), limit)
		if err != nil {
			return fmt.Errorf("claim due: %w", err)
		}
		due, err := collect(rows, scanCampaign)
		if err != nil {
			return fmt.Errorf("claim due: %w", err)
		}
		for _, c := range due {
			r, ok, err := s.fire(ctx, tx, c, now, plan)
			if err != nil {
				var pe *campaign.PlanError
				if errors.As(err, &pe) {
					planErrs = append(planErrs, err)
					continue
				}
				return err
			}
			if ok {
				created = append(created, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return created, errors.Join(planErrs...)
}

// fire applies plan to one locked, due campaign inside tx.
func (s *Store) fire(ctx context.Context, tx *sql.Tx, c campaign.Campaign, now time.Time, plan campaign.PlanFunc) (campaign.Run, bool, error) {
	p, err := plan(c, now)
	if err != nil {
		var pe *campaign.PlanError
		if errors.As(err, &pe) && pe.CampaignID == c.ID {
			return campaign.Run{}, false, pe
		}
		return campaign.Run{}, false, &campaign.PlanError{CampaignID: c.ID, Err: err}
	}
	// Compared at the store's precision: a next fire that only advances
	// below a microsecond would be stored unchanged and fire again forever.
	if p.Next != nil && !utc(*p.Next).After(utc(*c.NextRunAt)) {
		return campaign.Run{}, false, &campaign.PlanError{CampaignID: c.ID, Err: fmt.Errorf("next fire %s does not advance past %s",
			p.Next.UTC().Format(time.RFC3339Nano), c.NextRunAt.Format(time.RFC3339Nano))}
	}
	var run campaign.Run
	fired := false
	if p.Fire {
		run, fired, err = s.insertRun(ctx, tx, c, utc(p.ScheduledFor), now)
		if err != nil {
			return campaign.Run{}, false, err
		}
	}
	status := campaign.CampaignActive
	if p.Next == nil {
		status = campaign.CampaignDone
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE campaigns SET next_run_at = ?, status = ?, updated_at = ? WHERE id = ?`),
		s.tsp(p.Next), status, s.ts(now), c.ID); err != nil {
		return campaign.Run{}, false, fmt.Errorf("campaign %d: advance: %w", c.ID, err)
	}
	return run, fired, nil
}

// insertRun creates the Run of one fire with its rendered sends; ok is
// false when the fire already exists.
func (s *Store) insertRun(ctx context.Context, tx *sql.Tx, c campaign.Campaign, at, now time.Time) (campaign.Run, bool, error) {
	var deliverBy *time.Time
	if d := c.Schedule.DeliverWithin; d > 0 {
		t := at.Add(d)
		deliverBy = &t
	}
	bodies, renderErr := []any(nil), error(nil)
	body, err := campaign.Render(c, at)
	if err != nil {
		renderErr = err
	} else {
		for _, b := range campaign.Split(body) {
			js, err := mustJSON(b)
			if err != nil {
				return campaign.Run{}, false, fmt.Errorf("campaign %d: %w", c.ID, err)
			}
			bodies = append(bodies, js)
		}
	}
	status, errText := campaign.RunPending, ""
	var finished any
	if renderErr != nil {
		status, errText, finished = campaign.RunFailed, renderErr.Error(), s.ts(now)
	}
	rows, err := tx.QueryContext(ctx, s.q(`INSERT INTO runs (campaign_id, app, scheduled_for, status, deliver_by, error, created_at, updated_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (campaign_id, scheduled_for) DO NOTHING RETURNING `+runCols),
		c.ID, c.App, s.ts(at), status, s.tsp(deliverBy), errText, s.ts(now), s.ts(now), finished)
	if err != nil {
		return campaign.Run{}, false, fmt.Errorf("campaign %d: insert run: %w", c.ID, err)
	}
	runs, err := collect(rows, scanRun)
	if err != nil {
		return campaign.Run{}, false, fmt.Errorf("campaign %d: insert run: %w", c.ID, err)
	}
	if len(runs) == 0 {
		return campaign.Run{}, false, nil // this fire exists already
	}
	run := runs[0]
	for i, b := range bodies {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO sends (run_id, campaign_id, app, idx, body, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`), run.ID, c.ID, c.App, i, b, s.ts(now), s.ts(now)); err != nil {
			return campaign.Run{}, false, fmt.Errorf("campaign %d run %d: insert send %d: %w", c.ID, run.ID, i, err)
		}
	}
	return run, true, nil
}
