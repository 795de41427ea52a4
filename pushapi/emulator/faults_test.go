package emulator

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/pushapi"
)

const shortStall = Duration(20 * time.Millisecond)

func TestFaultModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		faults         Faults
		status, code   int // 0: no answer
		outcome        pushapi.Outcome
		mayHaveReached bool
		recorded       string // Push.Answer of the recorded push; "" when none
		counters       Counters
		cause          error // what the connection did, when there was no answer
	}{
		{"500/1000", Faults{Error500: 1}, 500, pushapi.CodeInternal, pushapi.OutcomeRetry, true, "", Counters{Fault500: 1}, nil},
		{"504/1050", Faults{Error504: 1}, 504, pushapi.CodeServiceTimeout, pushapi.OutcomeRetry, true, "", Counters{Fault504: 1}, nil},
		{"stall, recorded as sent", Faults{StallSent: 1, StallFor: shortStall}, 0, 0, pushapi.OutcomeUnknown, true, "stall_sent", Counters{StallSent: 1}, io.EOF},
		{"stall, not recorded", Faults{StallDropped: 1, StallFor: shortStall}, 0, 0, pushapi.OutcomeUnknown, true, "", Counters{StallDropped: 1}, io.EOF},
		{"connection reset", Faults{Reset: 1}, 0, 0, pushapi.OutcomeUnknown, true, "", Counters{ResetConn: 1}, syscall.ECONNRESET},
		{"latency only", Faults{Latency: Duration(5 * time.Millisecond)}, 200, 200, pushapi.OutcomeSent, false, "ok", Counters{Accepted: 1, LatencyFaults: 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{Faults: tt.faults})
			c := b.client(t, testKey, testSecret)
			_, err := c.Push(context.Background(), tagPush())
			if got := pushapi.Classify(err); got != tt.outcome {
				t.Fatalf("Classify = %s (%v), want %s", got, err, tt.outcome)
			}
			if err != nil {
				e := apiError(t, err)
				if e.HTTPStatus != tt.status || e.Code != tt.code || e.MayHaveReached != tt.mayHaveReached {
					t.Errorf("error %d/%d mayHaveReached=%v, want %d/%d %v (%v)", e.HTTPStatus, e.Code, e.MayHaveReached, tt.status, tt.code, tt.mayHaveReached, err)
				}
				if tt.cause != nil && !errors.Is(err, tt.cause) {
					t.Errorf("error %v, want it caused by %v", err, tt.cause)
				}
			}
			var answers []string
			for _, p := range b.em.Pushes() {
				answers = append(answers, p.Answer)
			}
			var want []string
			if tt.recorded != "" {
				want = []string{tt.recorded}
			}
			if diff := cmp.Diff(want, answers); diff != "" {
				t.Errorf("recorded pushes (-want +got):\n%s", diff)
			}
			qs, err := b.em.QuotaState(testKey)
			if err != nil {
				t.Fatal(err)
			}
			if wantUsed := len(want); qs.UsedHour != wantUsed {
				t.Errorf("quota used %d, want %d: only processed pushes count", qs.UsedHour, wantUsed)
			}
			if diff := cmp.Diff(tt.counters, b.em.Counters(testKey)); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLatencyBeyondClientTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Faults: Faults{Latency: Duration(5 * time.Second)}})
	c := b.clientWith(t, pushapi.ClientConfig{AppKey: testKey, AppSecret: pushapi.NewSecret(testSecret), Timeout: 50 * time.Millisecond})
	_, err := c.Push(context.Background(), tagPush())
	if got := pushapi.Classify(err); got != pushapi.OutcomeUnknown {
		t.Fatalf("Classify = %s (%v), want unknown: the request was written", got, err)
	}
	if len(b.em.Pushes()) != 0 {
		t.Errorf("a push abandoned during latency was recorded")
	}
}

func TestFaultsPerAppOverrideGlobal(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{
		Faults: Faults{Error500: 1},
		Apps: []AppConfig{
			{AppKey: "faulty", Secret: "s1"},
			{AppKey: "healthy", Secret: "s2", Faults: &Faults{}},
			{AppKey: "slow", Secret: "s3", Faults: &Faults{Error504: 1}},
		},
	})
	ctx := context.Background()
	if _, err := b.client(t, "faulty", "s1").Push(ctx, tagPush()); apiError(t, err).Code != pushapi.CodeInternal {
		t.Errorf("faulty: %v, want 1000", err)
	}
	if _, err := b.client(t, "healthy", "s2").Push(ctx, tagPush()); err != nil {
		t.Errorf("healthy: %v", err)
	}
	if _, err := b.client(t, "slow", "s3").Push(ctx, tagPush()); apiError(t, err).Code != pushapi.CodeServiceTimeout {
		t.Errorf("slow: %v, want 1050", err)
	}
	// At run time: clear the global faults, give "healthy" its own.
	if err := b.em.SetFaults("", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.em.SetFaults("healthy", &Faults{Error500: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client(t, "faulty", "s1").Push(ctx, tagPush()); err != nil {
		t.Errorf("faulty after clearing global faults: %v", err)
	}
	if _, err := b.client(t, "healthy", "s2").Push(ctx, tagPush()); apiError(t, err).Code != pushapi.CodeInternal {
		t.Errorf("healthy with its own faults: %v, want 1000", err)
	}
	if err := b.em.SetFaults("slow", nil); err != nil { // back to the (now empty) global faults
		t.Fatal(err)
	}
	if _, err := b.client(t, "slow", "s3").Push(ctx, tagPush()); err != nil {
		t.Errorf("slow after removing its faults: %v", err)
	}
}

func TestFaultsSkipTagAPIsUnlessAsked(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Faults: Faults{Error500: 1}})
	c := b.client(t, testKey, testSecret)
	if err := c.SetUserTags(context.Background(), "u1", []string{"a"}); err != nil {
		t.Fatalf("tag API with push-only faults: %v", err)
	}
	if err := b.em.SetFaults("", &Faults{Error500: 1, TagAPIs: true}); err != nil {
		t.Fatal(err)
	}
	err := c.SetUserTags(context.Background(), "u1", []string{"b"})
	if e := apiError(t, err); e.HTTPStatus != 500 || e.Code != pushapi.CodeInternal {
		t.Fatalf("tag API with tag_apis faults: %v", err)
	}
}

// The same seed gives the same sequence of fault draws.
func TestFaultsRepeatWithSeed(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) []pushapi.Outcome {
		b := setup(t, Config{Seed: seed, Faults: Faults{Error500: 0.3, Error504: 0.2},
			Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Quota: Quota{Hourly: 1000, Daily: 1000}}}})
		c := b.client(t, testKey, testSecret)
		var out []pushapi.Outcome
		for range 40 {
			_, err := c.Push(context.Background(), tagPush())
			out = append(out, pushapi.Classify(err))
		}
		return out
	}
	first, again, other := run(7), run(7), run(8)
	if diff := cmp.Diff(first, again); diff != "" {
		t.Fatalf("seed 7 twice differs:\n%s", diff)
	}
	if cmp.Equal(first, other) {
		t.Errorf("seeds 7 and 8 gave the same 40 outcomes")
	}
	n := map[pushapi.Outcome]int{}
	for _, o := range first {
		n[o]++
	}
	if n[pushapi.OutcomeSent] == 0 || n[pushapi.OutcomeRetry] == 0 {
		t.Errorf("outcomes %v: want both sent and retry", n)
	}
}

func TestFaultsValidation(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		f    Faults
		want string
	}{
		{"fraction above 1", Faults{Error500: 1.5}, "faults.error_500: must be a fraction in [0, 1], got 1.5"},
		{"negative fraction", Faults{Reset: -0.1}, "faults.reset: must be a fraction"},
		{"sum above 1", Faults{Error500: 0.6, StallSent: 0.6}, "must not exceed 1"},
		{"negative latency", Faults{Latency: Duration(-time.Second)}, "faults.latency: must not be negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{Faults: tt.f})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// A stalled call whose client gives up does not hold the server.
func TestStallEndsWhenClientLeaves(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Faults: Faults{StallDropped: 1, StallFor: Duration(time.Hour)}})
	c := b.clientWith(t, pushapi.ClientConfig{AppKey: testKey, AppSecret: pushapi.NewSecret(testSecret), Timeout: 50 * time.Millisecond})
	_, err := c.Push(context.Background(), tagPush())
	if got := pushapi.Classify(err); got != pushapi.OutcomeUnknown {
		t.Fatalf("Classify = %s, want unknown", got)
	}
	// srv.Close in the cleanup waits for the handler: the test would hang for
	// an hour if the stall ignored the client leaving.
	status, _ := b.do(t, http.MethodGet, pushapi.PathPush, "", nil)
	if status != 405 {
		t.Fatalf("server still answers: %d", status)
	}
}

// The service's rate limit stands in front of the rest of it: a push over
// the quota is answered 429/1008 and counted as one whatever fault it would
// have drawn, so the e2e chaos run's "never a 429" (counters and call log)
// sees every call over the quota. Was: faults were drawn before the quota
// was looked at, and an over-quota call drawing a 500, a 504, a dropped
// stall or a reset (about one in five in the chaos run) was neither refused
// nor counted (found by a review); before that, one drawing a processed
// stall was counted as a stall alone (found by an earlier review).
func TestOverQuotaCallIsRefusedWhateverFault(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]Faults{
		"error_500":     {Error500: 1},
		"error_504":     {Error504: 1},
		"stall_sent":    {StallSent: 1, StallFor: shortStall},
		"stall_dropped": {StallDropped: 1, StallFor: shortStall},
		"reset":         {Reset: 1},
	} {
		b := setup(t, Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Quota: Quota{Hourly: 1, Daily: 10}}}})
		c := b.client(t, testKey, testSecret)
		if _, err := c.Push(context.Background(), tagPush()); err != nil {
			t.Fatal(err)
		}
		if err := b.em.SetFaults(testKey, &f); err != nil {
			t.Fatal(err)
		}
		_, err := c.Push(context.Background(), tagPush())
		var pe *pushapi.Error
		if !errors.As(err, &pe) || pe.HTTPStatus != http.StatusTooManyRequests || pe.Code != pushapi.CodeRateLimited {
			t.Errorf("%s: the push over the quota: %v, want 429/1008", name, err)
		}
		if got := b.em.Counters(testKey); got.RateLimited != 1 || got.Accepted != 1 {
			t.Errorf("%s: counters %+v: want 1 accepted, then 1 call refused with a 429", name, got)
		}
		if n := len(b.em.Pushes()); n != 1 {
			t.Errorf("%s: %d pushes recorded, want the first only", name, n)
		}
	}
}
