package worker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
)

var now0 = time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	b := Backoff{Base: 10 * time.Second, Cap: time.Minute, MaxAttempts: 3}
	apiErr := func(status, code int, reached bool) error {
		return &pushapi.Error{Path: "/push.json", HTTPStatus: status, Code: code, Message: "m", MayHaveReached: reached}
	}
	type want struct {
		Class        pushapi.Outcome
		Status       campaign.SendStatus
		Code         int
		Next         time.Duration // after now0, retry_wait only
		Hold         time.Duration // the app's hold (a Retry-After)
		ReleaseQuota bool
		BlockApp     bool
	}
	tests := []struct {
		name    string
		res     *pushapi.PushResponse
		err     error
		attempt int
		want    want
	}{
		{"sent", &pushapi.PushResponse{ID: "p1", MessageUID: "u1"}, nil, 1, want{Class: "sent", Status: "sent", Code: 200}},
		{"500 first attempt", nil, apiErr(500, 1000, true), 1, want{Class: "retry", Status: "retry_wait", Code: 1000, Next: 5 * time.Second}},
		{"504 second attempt", nil, apiErr(504, 1050, true), 2, want{Class: "retry", Status: "retry_wait", Code: 1050, Next: 10 * time.Second}},
		{"502 without body", nil, apiErr(502, 0, true), 1, want{Class: "retry", Status: "retry_wait", Code: 502, Next: 5 * time.Second}},
		// A Retry-After holds the app (its other sends), and the send that
		// got it waits for it too (should the hold fail to be written, it
		// still waits); an operator's unblock frees it (ClearBlock).
		{"503 with a longer Retry-After waits for it", nil, &pushapi.Error{HTTPStatus: 503, MayHaveReached: true, RetryAfter: 2 * time.Minute}, 1,
			want{Class: "retry", Status: "retry_wait", Code: 503, Next: 2 * time.Minute, Hold: 2 * time.Minute}},
		{"503 with a shorter Retry-After keeps the backoff", nil, &pushapi.Error{HTTPStatus: 503, MayHaveReached: true, RetryAfter: time.Second}, 1,
			want{Class: "retry", Status: "retry_wait", Code: 503, Next: 5 * time.Second, Hold: time.Second}},
		// A maintenance page's Retry-After, or a date from a server whose
		// clock runs a year ahead, would park the send for that long.
		{"503 with a Retry-After beyond a day waits a day", nil, &pushapi.Error{HTTPStatus: 503, MayHaveReached: true, RetryAfter: 400 * 24 * time.Hour}, 1,
			want{Class: "retry", Status: "retry_wait", Code: 503, Next: 25 * time.Hour, Hold: 25 * time.Hour}},
		{"retry class on the last attempt fails", nil, apiErr(500, 1000, true), 3, want{Class: "failed", Status: "failed", Code: 1000}},
		{"not written: retry, quota released", nil, &pushapi.Error{Message: "request not sent", Err: errors.New("dial: refused")}, 1,
			want{Class: "retry", Status: "retry_wait", Next: 5 * time.Second, ReleaseQuota: true}},
		// Refused, counted nothing: the app is blocked and the slot goes back.
		{"429", nil, apiErr(429, 1008, false), 1, want{Class: "rate_limited", Status: "pending", Code: 1008, BlockApp: true, ReleaseQuota: true}},
		// After a hop that may have pushed it: unknown, the slot kept.
		{"429 after a hop that may have reached", nil, &pushapi.Error{HTTPStatus: 429, Code: 1008, MayHaveReached: true}, 1,
			want{Class: "unknown", Status: "unknown", Code: 1008, BlockApp: true}},
		{"1002 param", nil, apiErr(400, 1002, false), 1, want{Class: "failed", Status: "failed", Code: 1002, ReleaseQuota: true}},
		{"1004 signature", nil, apiErr(401, 1004, false), 1, want{Class: "failed", Status: "failed", Code: 1004, ReleaseQuota: true}},
		{"1009 not enabled", nil, apiErr(430, 1009, false), 1, want{Class: "failed", Status: "failed", Code: 1009, ReleaseQuota: true}},
		{"invalid before sending", nil, &pushapi.Error{Err: &pushapi.ValidationError{Problems: []pushapi.FieldError{{Path: "platform", Rule: "required"}}}}, 1,
			want{Class: "failed", Status: "failed", ReleaseQuota: true}},
		{"timeout after writing", nil, &pushapi.Error{Message: "no answer", MayHaveReached: true, Err: context.DeadlineExceeded}, 1,
			want{Class: "unknown", Status: "unknown"}},
		{"unreadable 200", nil, apiErr(200, 0, true), 1, want{Class: "unknown", Status: "unknown", Code: 200}},
		{"foreign error", nil, errors.New("boom"), 1, want{Class: "unknown", Status: "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(tt.res, tt.err, tt.attempt, now0, b, 0.5)
			got := want{Class: d.class, Status: d.record.Status, Code: d.record.Code, Hold: d.holdFor, ReleaseQuota: d.releaseQuota, BlockApp: d.blockApp}
			if !d.record.NextAttempt.IsZero() {
				got.Next = d.record.NextAttempt.Sub(now0)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decide (-want +got):\n%s", diff)
			}
			if !d.record.At.Equal(now0) {
				t.Errorf("At = %v, want %v", d.record.At, now0)
			}
			if tt.err != nil && d.record.Message == "" {
				t.Error("the message of a failed attempt is empty")
			}
			if tt.res != nil && (d.record.PushID != tt.res.ID || d.record.MessageUID != tt.res.MessageUID) {
				t.Errorf("push id %q uid %q not recorded", d.record.PushID, d.record.MessageUID)
			}
		})
	}
}

func TestBackoffFullJitterCapped(t *testing.T) {
	b := Backoff{Base: time.Second, Cap: 10 * time.Second, MaxAttempts: 9}
	for n, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 60: 10 * time.Second} {
		if got := b.Ceiling(n); got != want {
			t.Errorf("Ceiling(%d) = %s, want %s", n, got, want)
		}
	}
	if got := b.Delay(3, 0); got != 0 {
		t.Errorf("Delay(3, 0) = %s, want 0", got)
	}
	if got := b.Delay(3, 0.5); got != 2*time.Second {
		t.Errorf("Delay(3, 0.5) = %s, want 2s", got)
	}
	if got := b.Delay(40, 0.9999999); got >= 10*time.Second {
		t.Errorf("Delay(40, ~1) = %s, want < cap", got)
	}
	for _, bad := range []Backoff{{Base: -1}, {Cap: -1}, {Base: time.Minute, Cap: time.Second}, {MaxAttempts: -1}} {
		if err := bad.Validate("worker.backoff"); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", bad)
		}
	}
}

func TestPickSend(t *testing.T) {
	at := func(d time.Duration) *time.Time { v := now0.Add(d); return &v }
	s := func(id int64, st campaign.SendStatus, next, lease *time.Time) campaign.Send {
		return campaign.Send{ID: id, Status: st, NextAttemptAt: next, LeaseUntil: lease}
	}
	type got struct {
		Send  int64
		Wake  time.Duration
		Stale bool
		Open  bool
	}
	tests := []struct {
		name  string
		sends []campaign.Send
		want  got
	}{
		{"all settled", []campaign.Send{s(1, "sent", nil, nil), s(2, "failed", nil, nil), s(3, "unknown", nil, nil)}, got{}},
		{"first pending in order", []campaign.Send{s(1, "sent", nil, nil), s(2, "pending", nil, nil), s(3, "pending", nil, nil)}, got{Send: 2, Open: true}},
		{"due retry", []campaign.Send{s(1, "retry_wait", at(0), nil)}, got{Send: 1, Open: true}},
		{"retry later, pending now", []campaign.Send{s(1, "retry_wait", at(time.Minute), nil), s(2, "pending", nil, nil)},
			got{Send: 2, Wake: time.Minute, Open: true}},
		{"only a future retry", []campaign.Send{s(1, "retry_wait", at(time.Minute), nil)}, got{Wake: time.Minute, Open: true}},
		{"held by a live claim", []campaign.Send{s(1, "in_flight", nil, at(30*time.Second))}, got{Wake: 30*time.Second + time.Millisecond}},
		{"lease lapsed", []campaign.Send{s(1, "in_flight", nil, at(-time.Second)), s(2, "pending", nil, nil)}, got{Send: 2, Stale: true, Open: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := pickSend(tt.sends, now0)
			g := got{Stale: n.stale, Open: n.open}
			if n.send != nil {
				g.Send = n.send.ID
			}
			if !n.wake.IsZero() {
				g.Wake = n.wake.Sub(now0)
			}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("pickSend (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSnoozeIsNotAFailure(t *testing.T) {
	s := &Snooze{RunID: 7, Until: now0, Delay: 42 * time.Second, Reason: "quota"}
	wrapped := fmt.Errorf("campaign 1: %w", s)
	if IsFailure(wrapped) {
		t.Error("IsFailure(snooze) = true, want false")
	}
	if got := RetryDelay(3, wrapped, asynq.NewTask("run:send", nil)); got != 42*time.Second {
		t.Errorf("RetryDelay(snooze) = %s, want 42s", got)
	}
	if got := RetryDelay(0, &Snooze{Delay: 0}, nil); got != MinSnooze {
		t.Errorf("RetryDelay(zero snooze) = %s, want %s", got, MinSnooze)
	}
	boom := errors.New("database down")
	if !IsFailure(boom) {
		t.Error("IsFailure(store error) = false, want true")
	}
	if IsFailure(nil) {
		t.Error("IsFailure(nil) = true")
	}
	if got := RetryDelay(1, boom, asynq.NewTask("run:send", nil)); got <= 0 {
		t.Errorf("RetryDelay(failure) = %s, want asynq's positive backoff", got)
	}
	// asynq's own delay grows as n⁴ s (hours by the 10th failure): a run
	// retried after a long store outage must not wait that on top.
	for n := range 25 {
		if got := RetryDelay(n, boom, asynq.NewTask("run:send", nil)); got <= 0 || got > MaxFailureDelay {
			t.Errorf("RetryDelay(failure %d) = %s, want in (0, %s]", n, got, MaxFailureDelay)
		}
	}
}

func TestSnoozeDelayLeadAndCap(t *testing.T) {
	clock := &stillClock{t: now0}
	h := &Handler{clock: clock, cfg: Config{MaxSnooze: time.Minute}.withDefaults()}
	for _, tt := range []struct {
		until time.Time
		lead  time.Duration
		want  time.Duration
	}{
		{now0.Add(30 * time.Second), 2 * time.Second, 28 * time.Second},
		{now0.Add(time.Hour), 2 * time.Second, time.Minute},
		{now0.Add(-time.Hour), 0, MinSnooze},
		{now0.Add(2 * time.Second), 2 * time.Second, MinSnooze},
	} {
		if got := h.snooze(1, tt.until, tt.lead, "test").Delay; got != tt.want {
			t.Errorf("snooze until +%s lead %s: delay %s, want %s", tt.until.Sub(now0), tt.lead, got, tt.want)
		}
	}
}

// stillClock never moves.
type stillClock struct{ t time.Time }

func (c *stillClock) Now() time.Time { return c.t }
func (c *stillClock) Wait(ctx context.Context, until time.Time, _ time.Duration) (bool, error) {
	return !c.t.Before(until), ctx.Err()
}

// A reservation decide keeps is also put in the ledger (KeepsQuota), and a
// released one is not: a rebuild after Redis lost the windows must count
// what the guard counted.
func TestDecideLedgersWhatItKeeps(t *testing.T) {
	b := Backoff{Base: 10 * time.Second, Cap: time.Minute, MaxAttempts: 3}
	for _, tt := range []struct {
		name    string
		err     error
		attempt int
		keep    bool
	}{
		{"500: may count at the service", &pushapi.Error{HTTPStatus: 500, Code: 1000, MayHaveReached: true}, 1, true},
		{"500 on the last attempt", &pushapi.Error{HTTPStatus: 500, Code: 1000, MayHaveReached: true}, 3, true},
		{"not written", &pushapi.Error{Message: "request not sent", Err: errors.New("dial: refused")}, 1, false},
		{"1002 param", &pushapi.Error{HTTPStatus: 400, Code: 1002}, 1, false},
	} {
		d := decide(nil, tt.err, tt.attempt, now0, b, 0.5)
		if d.record.KeepsQuota != tt.keep || d.releaseQuota == tt.keep {
			t.Errorf("%s: KeepsQuota %v, releaseQuota %v; want KeepsQuota %v and the opposite release", tt.name, d.record.KeepsQuota, d.releaseQuota, tt.keep)
		}
	}
}
