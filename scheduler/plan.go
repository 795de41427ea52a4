package scheduler

import (
	"errors"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// DefaultMissedAfter is how late a fire may be claimed before it counts as
// missed.
const DefaultMissedAfter = time.Minute

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
	// Superseded is true when a missed fire `missed: once` would deliver
	// was dropped because the campaign's next fire (Next) is due within
	// missedAfter: that fire, on time, delivers the announcement once
	// instead of twice in a minute.
	Superseded bool
	// Next is the new next_run_at; nil: the schedule is exhausted.
	Next *time.Time
}

// Plan returns the PlanFunc the scheduler gives Store.ClaimDue at now.
// The store passes it its claim horizon (now, or now + lookahead).
//
//   - A campaign due after now (claimed ahead) fires at its next_run_at.
//   - Otherwise the latest occurrence at or before now is the one considered;
//     earlier ones are dropped (never a burst). It fires when it is at most
//     missedAfter old; older, it was missed and fires only with
//     `missed: once`, and only when the campaign's next fire is more than
//     missedAfter away: a catch-up that close to the next fire would push
//     the same announcement twice within a minute (two of a 3-a-day
//     quota), so the next fire, on time, stands for both.
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
			return campaign.FirePlan{}, &campaign.PlanError{CampaignID: c.ID, Err: err}
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
		latest, err := c.Schedule.LatestFire(due, now)
		if err != nil {
			return Decision{}, err
		}
		d.ScheduledFor = latest
		d.Missed = now.Sub(latest) > missedAfter
		d.Fire = !d.Missed || c.Schedule.Missed != campaign.MissedSkip
	}
	next, ok, err := c.Schedule.NextAfter(d.ScheduledFor)
	if err != nil {
		return Decision{}, err
	}
	if ok {
		d.Next = &next
		if d.Missed && d.Fire && next.Sub(now) <= missedAfter {
			d.Fire, d.Superseded = false, true
		}
	}
	return d, nil
}
