package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tagcast/tagcast/campaign"
)

// TestClaimDueMixedBatch: one ClaimDue whose batch mixes every fate a due
// campaign can have. PostgreSQL writes a batch in a few array statements, so
// each row must still reach its own campaign, nulls included, and the runs
// come back in due order.
func TestClaimDueMixedBatch(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			s := openMigrated(t, d.url(t))
			b := bundle{ctx: context.Background(), store: s}
			due := func(i int) time.Time { return t0.Add(time.Duration(i-10) * time.Second) }

			// Created in the reverse of due order: the runs must follow the
			// due order, not the ids.
			tag := newCampaign("main", "tag", due(6), 0)
			tag.Schedule.DeliverWithin = 30 * time.Minute
			tag = b.create(t, tag)
			skipped := b.create(t, newCampaign("main", "skipped", due(5), 0))
			split := b.create(t, newCampaign("other", "split", due(4), 2500))
			refused := b.create(t, newCampaign("main", "refused", due(3), 0))
			bad := newCampaign("main", "bad-template", due(2), 0)
			bad.Push.Notification.Alert = "{{.Vars.missing}}"
			bad.Schedule.DeliverWithin = 0
			bad = b.create(t, bad)
			exists := b.create(t, newCampaign("main", "exists", due(1), 0))
			if _, err := s.DB().ExecContext(b.ctx, `INSERT INTO runs (campaign_id, app, scheduled_for, status, created_at, updated_at) VALUES `+
				placeholders(s, 1, 6), exists.ID, "main", dbTime(s, due(1)), "done", dbTime(s, t0), dbTime(s, t0)); err != nil {
				t.Fatal(err)
			}

			ptr := func(t time.Time) *time.Time { return &t }
			next := func(h int) *time.Time { return ptr(t0.Add(time.Duration(h) * time.Hour)) }
			plans := map[int64]campaign.FirePlan{
				exists.ID:  {Fire: true, ScheduledFor: due(1), Next: next(1)},
				bad.ID:     {Fire: true, ScheduledFor: due(2)},
				split.ID:   {Fire: true, ScheduledFor: due(4)},
				skipped.ID: {ScheduledFor: due(5), Next: next(2)},
				tag.ID:     {Fire: true, ScheduledFor: due(6), Next: next(3)},
			}
			mixed := func(c campaign.Campaign, _ time.Time) (campaign.FirePlan, error) {
				if c.ID == refused.ID {
					return campaign.FirePlan{}, errors.New("boom")
				}
				return plans[c.ID], nil
			}
			// Not UTC, and finer than the stores keep.
			now := t0.Add(time.Second + 1500*time.Nanosecond).In(time.FixedZone("UTC+9", 9*3600))
			stored := now.UTC().Truncate(time.Microsecond)

			runs, err := b.store.ClaimDue(b.ctx, now, now, 10, mixed)
			if want := fmt.Sprintf("campaign %d: plan: boom", refused.ID); err == nil || err.Error() != want {
				t.Errorf("err = %v, want %q", err, want)
			}
			_, renderErr := campaign.Render(bad, due(2))
			if renderErr == nil {
				t.Fatal("the bad template renders")
			}
			want := []campaign.Run{
				{CampaignID: bad.ID, App: "main", ScheduledFor: due(2), Status: campaign.RunFailed, Error: renderErr.Error(), FinishedAt: &stored},
				{CampaignID: split.ID, App: "other", ScheduledFor: due(4), Status: campaign.RunPending, DeliverBy: ptr(due(4).Add(time.Hour))},
				{CampaignID: tag.ID, App: "main", ScheduledFor: due(6), Status: campaign.RunPending, DeliverBy: ptr(due(6).Add(30 * time.Minute))},
			}
			for i := range want {
				want[i].CreatedAt, want[i].UpdatedAt = stored, stored
			}
			if diff := cmp.Diff(want, runs, cmpopts.IgnoreFields(campaign.Run{}, "ID")); diff != "" {
				t.Errorf("runs (-want +got):\n%s", diff)
			}

			wantSends := map[int64][]int{bad.ID: nil, split.ID: {1000, 1000, 500}, tag.ID: {0}}
			for _, r := range runs {
				_, sends, err := b.store.GetRun(b.ctx, r.ID)
				if err != nil {
					t.Fatal(err)
				}
				var sizes []int
				for i, sd := range sends {
					sizes = append(sizes, len(sd.Body.Audience.UserID))
					if sd.RunID != r.ID || sd.CampaignID != r.CampaignID || sd.App != r.App || sd.Index != i ||
						sd.Status != campaign.SendPending || !sd.CreatedAt.Equal(stored) {
						t.Errorf("campaign %d send %d = %+v", r.CampaignID, i, sd)
					}
					if want := fmt.Sprintf("coat at %s", r.ScheduledFor.Format("15:04")); sd.Body.Notification.Alert != want {
						t.Errorf("campaign %d send %d: alert %q, want %q", r.CampaignID, i, sd.Body.Notification.Alert, want)
					}
				}
				if diff := cmp.Diff(wantSends[r.CampaignID], sizes); diff != "" {
					t.Errorf("campaign %d: sends' user ids (-want +got):\n%s", r.CampaignID, diff)
				}
			}

			type state struct {
				Status  campaign.CampaignStatus
				Next    *time.Time
				Updated time.Time
				Runs    int
			}
			wantStates := map[int64]state{
				exists.ID:  {campaign.CampaignActive, next(1), stored, 1}, // advanced all the same
				bad.ID:     {campaign.CampaignDone, nil, stored, 1},
				refused.ID: {campaign.CampaignActive, ptr(due(3)), t0.Add(-time.Hour), 0},
				split.ID:   {campaign.CampaignDone, nil, stored, 1},
				skipped.ID: {campaign.CampaignActive, next(2), stored, 0},
				tag.ID:     {campaign.CampaignActive, next(3), stored, 1},
			}
			states := map[int64]state{}
			for id := range wantStates {
				c, err := b.store.Get(b.ctx, id, campaign.RunsQuery{})
				if err != nil {
					t.Fatal(err)
				}
				states[id] = state{c.Status, c.NextRunAt, c.UpdatedAt, len(c.Runs)}
			}
			if diff := cmp.Diff(wantStates, states); diff != "" {
				t.Errorf("campaigns (-want +got):\n%s", diff)
			}

			// Only the refused campaign is still due: a batch with nothing to
			// write, then one with nothing due.
			runs, err = b.store.ClaimDue(b.ctx, now, now, 10, mixed)
			var pe *campaign.PlanError
			if len(runs) != 0 || !errors.As(err, &pe) || pe.CampaignID != refused.ID {
				t.Errorf("all refused: ClaimDue = %v, %v; want no run and campaign %d refused", runs, err, refused.ID)
			}
			if runs, err := b.store.ClaimDue(b.ctx, t0.Add(-time.Hour), t0.Add(-time.Hour), 10, mixed); len(runs) != 0 || err != nil {
				t.Errorf("nothing due: ClaimDue = %v, %v", runs, err)
			}
			if c, err := b.store.Get(b.ctx, refused.ID, campaign.RunsQuery{}); err != nil || c.Status != campaign.CampaignActive || !c.UpdatedAt.Equal(t0.Add(-time.Hour)) {
				t.Errorf("refused campaign after the batches = %+v, %v; want untouched", c.Campaign, err)
			}
		})
	}
}
