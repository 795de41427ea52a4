// Package campaign is tagcast's domain: campaigns, their schedules, the Runs
// they fire into and the Sends (one /push.json call each) of every Run; the
// statuses of each and the one table of allowed transitions; campaign files
// (parsing and validation, every problem at once with its field path);
// template rendering; and the Store interface the SQL store implements.
//
// It computes nothing against a clock of its own (the caller passes now), and
// it must never import asynq, Redis or net/http: the scheduler and the worker
// meet here and in package queue.
package campaign

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tagcast/tagcast/pushapi"
)

// MissedPolicy says what happens to fires missed while tagcast was down or
// the campaign was paused.
type MissedPolicy string

// Missed-fire policies.
const (
	// MissedSkip drops missed fires; the campaign fires next at its next future time.
	MissedSkip MissedPolicy = "skip"
	// MissedOnce fires once for all missed fires (never a burst), subject to deliver_within.
	MissedOnce MissedPolicy = "once"
)

// Schedule says when a campaign fires. Exactly one of At, Cron and Now is set.
type Schedule struct {
	At       *time.Time   `json:"at,omitempty"`
	Cron     string       `json:"cron,omitempty"`     // robfig/cron v3 spec: 5 fields, optional seconds, descriptors, CRON_TZ= prefix
	Now      bool         `json:"now,omitempty"`      // fire once, as soon as created
	Timezone string       `json:"timezone,omitempty"` // IANA zone for cron and for templates' .FireTime; empty: UTC (or CRON_TZ)
	Missed   MissedPolicy `json:"missed"`
	// DeliverWithin bounds how late a Run may start; 0 means no bound.
	DeliverWithin time.Duration `json:"deliver_within,omitempty"`
	Start         *time.Time    `json:"start,omitempty"` // optional window for cron campaigns
	End           *time.Time    `json:"end,omitempty"`
}

// scheduleJSON is Schedule with deliver_within as a duration string ("2h0m0s").
type scheduleJSON struct {
	plainSchedule
	DeliverWithin string `json:"deliver_within,omitempty"`
}

type plainSchedule Schedule

// MarshalJSON writes deliver_within as a Go duration string.
func (s Schedule) MarshalJSON() ([]byte, error) {
	out := scheduleJSON{plainSchedule: plainSchedule(s)}
	if s.DeliverWithin > 0 {
		out.DeliverWithin = s.DeliverWithin.String()
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Schedule) UnmarshalJSON(b []byte) error {
	var in scheduleJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*s = Schedule(in.plainSchedule)
	s.DeliverWithin = 0
	if in.DeliverWithin != "" {
		d, err := time.ParseDuration(in.DeliverWithin)
		if err != nil {
			return fmt.Errorf("schedule.deliver_within: %w", err)
		}
		s.DeliverWithin = d
	}
	return nil
}

// Kind names the schedule's kind: "at", "cron" or "now".
func (s Schedule) Kind() string {
	switch {
	case s.Cron != "":
		return "cron"
	case s.At != nil:
		return "at"
	default:
		return "now"
	}
}

// Campaign is what an operator creates: a push body, the app that sends it,
// and when.
type Campaign struct {
	ID   int64  `json:"id"`
	App  string `json:"app"`
	Name string `json:"name"`
	// Push is the /push.json body; notification and message text fields may
	// be Go text/template templates (see Render).
	Push     pushapi.Request `json:"push"`
	Schedule Schedule        `json:"schedule"`
	Vars     map[string]any  `json:"vars,omitempty"`
	Status   CampaignStatus  `json:"status"`
	// NextRunAt is the next fire time in UTC; nil once the schedule is
	// exhausted or the campaign is cancelled.
	NextRunAt *time.Time `json:"next_run_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Cancellation is what a cancel did: the campaign as it now is and, counted
// in the cancel's own transaction, the unfinished runs and the unsent
// (pending and retry_wait) sends it cancelled. Sends in flight are not
// counted: their workers record their outcome.
type Cancellation struct {
	Campaign
	CancelledRuns  int `json:"cancelled_runs"`
	CancelledSends int `json:"cancelled_sends"`
}

// Run is one fire of a campaign at one scheduled instant. (campaign,
// scheduled_for) is unique, so a fire exists at most once.
type Run struct {
	ID           int64     `json:"id"`
	CampaignID   int64     `json:"campaign_id"`
	App          string    `json:"app"`
	ScheduledFor time.Time `json:"scheduled_for"` // UTC; no send starts before it
	Status       RunStatus `json:"status"`
	// DeliverBy is scheduled_for + deliver_within (or, after an operator
	// retry, the retry time + deliver_within); nil: no bound.
	DeliverBy  *time.Time `json:"deliver_by,omitempty"`
	EnqueuedAt *time.Time `json:"enqueued_at,omitempty"` // nil: not yet handed to the queue
	Retries    int        `json:"retries"`               // operator retries so far
	Error      string     `json:"error,omitempty"`       // why the run failed as a whole (e.g. rendering)
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Send is one /push.json call of a Run: the whole audience for tag and
// all-users audiences, or a chunk of at most MaxUserIDsPerSend user ids.
type Send struct {
	ID         int64  `json:"id"`
	RunID      int64  `json:"run_id"`
	CampaignID int64  `json:"campaign_id"`
	App        string `json:"app"`
	Index      int    `json:"index"` // 0-based position in the run
	// Body is the rendered request this send pushes.
	Body     pushapi.Request `json:"body"`
	Status   SendStatus      `json:"status"`
	Attempts int             `json:"attempts"` // calls made or under way
	// Claim is the compare-and-set token of the current claim; it grows with
	// every ClaimSend, so a worker whose lease lapsed can no longer act.
	Claim         int64      `json:"claim"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"` // retry_wait: claimable from then
	ClaimedAt     *time.Time `json:"claimed_at,omitempty"`
	// ClaimedBy names the worker process (host:pid) of the current or last
	// claim: whose death left a send unknown.
	ClaimedBy  string     `json:"claimed_by,omitempty"`
	LeaseUntil *time.Time `json:"lease_until,omitempty"`
	// SentAt is when the latest attempt began: the instant of its quota
	// slot, which its claim follows within the slot's UseBy. Sends in flight,
	// sent or unknown count against the quota at their SentAt.
	SentAt      *time.Time `json:"sent_at,omitempty"`
	PushID      string     `json:"push_id,omitempty"`
	MessageUID  string     `json:"message_uid,omitempty"`
	LastCode    int        `json:"last_code,omitempty"`
	LastMessage string     `json:"last_message,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// ClaimToken identifies one claim of one send. RecordOutcome presents it;
// the store refuses it once the claim is over.
type ClaimToken struct {
	SendID int64
	Claim  int64
}

// Token returns the claim token of a send returned by ClaimSend.
func (s Send) Token() ClaimToken { return ClaimToken{SendID: s.ID, Claim: s.Claim} }
