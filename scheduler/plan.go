package scheduler

import (
	"errors"
	"fmt"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// DefaultMissedAfter is how late a fire may be claimed before it counts as
// missed.
const DefaultMissedAfter = time.Minute

// maxCatchUpSteps bounds the occurrences Plan walks to find the latest missed
// one (a per-second cron is found in far fewer: see latestFire).
const maxCatchUpSteps = 1_000_000

// Decision is what the plan decided for one claimed campaign.
type Decision struct {
	CampaignID int64
	// Due is the campaign's next_run_at when it was claimed.
	Due time.Time
	// Fire is true when a Run is created for ScheduledFor.
	Fire         bool
	ScheduledFor time.Time
	// Missed is true when ScheduledFor was more than MissedAfter old: the
	// campaign's missed policy decided Fire.
	Missed bool
	Policy campaign.MissedPolicy
	// Next is the new next_run_at; nil: the schedule is exhausted.
	Next *time.Time
}

// PlanError is a campaign whose plan failed; the store leaves it as it was.
type PlanError struct {
	CampaignID int64
	Err        error
}

func (e *PlanError) Error() string {
	return fmt.Sprintf("campaign %d: plan: %v", e.CampaignID, e.Err)
}

func (e *PlanError) Unwrap() error { return e.Err }

// Plan returns the PlanFunc the scheduler gives Store.ClaimDue at now.
// The store passes it its claim horizon (now, or now + lookahead).
//
//   - A campaign due after now (claimed ahead) fires at its next_run_at.
//   - Otherwise the latest occurrence at or before now is the one considered;
//     earlier ones are dropped (never a burst). It fires when it is at most
//     missedAfter old; older, it was missed and fires only with
//     `missed: once`.
//
// next_run_at moves to the first fire after the one considered. record, when
// not nil, receives every decision (for logging once the claim commits).
func Plan(now time.Time, missedAfter time.Duration, record func(Decision)) campaign.PlanFunc {
	if missedAfter <= 0 {
		missedAfter = DefaultMissedAfter
	}
	return func(c campaign.Campaign, _ time.Time) (campaign.FirePlan, error) {
		d, err := decide(c, now, missedAfter)
		if err != nil {
			return campaign.FirePlan{}, &PlanError{CampaignID: c.ID, Err: err}
		}
		if record != nil {
			record(d)
		}
		return campaign.FirePlan{Fire: d.Fire, ScheduledFor: d.ScheduledFor, Next: d.Next}, nil
	}
}

func decide(c campaign.Campaign, now time.Time, missedAfter time.Duration) (Decision, error) {
	if c.NextRunAt == nil {
		return Decision{}, errors.New("no next_run_at")
	}
	due := c.NextRunAt.UTC()
	d := Decision{CampaignID: c.ID, Due: due, Policy: c.Schedule.Missed, ScheduledFor: due, Fire: true}
	if !due.After(now) {
		latest, err := latestFire(c.Schedule, due, now)
		if err != nil {
			return Decision{}, err
		}
		d.ScheduledFor = latest
		d.Missed = now.Sub(latest) > missedAfter
		d.Fire = !d.Missed || c.Schedule.Missed != campaign.MissedSkip
	}
	next, ok, err := NextFire(c.Schedule, d.ScheduledFor)
	if err != nil {
		return Decision{}, err
	}
	if ok {
		d.Next = &next
	}
	return d, nil
}

// latestFire is the latest occurrence of s in [due, now], due being one.
// It probes back from now in doubling steps, so a long downtime of a dense
// cron costs a few dozen calculations, not one per missed occurrence.
func latestFire(s campaign.Schedule, due, now time.Time) (time.Time, error) {
	if s.Kind() != "cron" {
		return due, nil
	}
	lo := due
	for back := time.Second; ; back *= 2 {
		from := now.Add(-back)
		if !from.After(lo) {
			break
		}
		x, ok, err := NextFire(s, from)
		if err != nil {
			return time.Time{}, err
		}
		if ok && !x.After(now) {
			lo = x
			break
		}
	}
	for range maxCatchUpSteps {
		n, ok, err := NextFire(s, lo)
		if err != nil {
			return time.Time{}, err
		}
		if !ok || n.After(now) {
			return lo, nil
		}
		lo = n
	}
	return time.Time{}, fmt.Errorf("more than %d occurrences between %s and %s", maxCatchUpSteps,
		due.Format(time.RFC3339), now.Format(time.RFC3339))
}
