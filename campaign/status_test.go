package campaign

import (
	"errors"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tagcast/tagcast/internal/testenv"
)

// edgesFromTable lists the transition table as "entity: from --> to".
func edgesFromTable() []string {
	var out []string
	for entity, m := range transitions {
		for from, tos := range m {
			for _, to := range tos {
				out = append(out, entity+": "+from+" --> "+to)
			}
		}
	}
	sort.Strings(out)
	return out
}

// edgesFromDoc reads the mermaid blocks of docs/state-machine.md, each under
// a "## Campaign|Run|Send" heading: the transitions, not where rows are
// created or deleted ([*]).
func edgesFromDoc(t *testing.T) []string {
	t.Helper()
	edges, err := testenv.StateMachineEdges("../docs/state-machine.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range edges {
		if e.From != "[*]" && e.To != "[*]" {
			out = append(out, e.Entity+": "+e.From+" --> "+e.To)
		}
	}
	sort.Strings(out)
	return out
}

func TestStateMachineDocMatchesTable(t *testing.T) {
	t.Parallel()
	if diff := cmp.Diff(edgesFromTable(), edgesFromDoc(t)); diff != "" {
		t.Errorf("docs/state-machine.md and the transition table differ (-table +doc):\n%s", diff)
	}
}

func TestStatusConstantsMatchTable(t *testing.T) {
	t.Parallel()
	check := func(entity string, got []string) {
		var want []string
		for s := range transitions[entity] {
			want = append(want, s)
		}
		sort.Strings(want)
		sort.Strings(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s statuses differ from the table (-table +constants):\n%s", entity, diff)
		}
	}
	toStrings := func(n int, at func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = at(i)
		}
		return out
	}
	cs, rs, ss := Statuses[CampaignStatus](), Statuses[RunStatus](), Statuses[SendStatus]()
	check("campaign", toStrings(len(cs), func(i int) string { return string(cs[i]) }))
	check("run", toStrings(len(rs), func(i int) string { return string(rs[i]) }))
	check("send", toStrings(len(ss), func(i int) string { return string(ss[i]) }))
	// Every constant is one of Statuses.
	for _, s := range []SendStatus{SendPending, SendInFlight, SendSent, SendRetryWait, SendFailed, SendUnknown, SendCancelled, SendExpired} {
		if !Valid(s) {
			t.Errorf("send status %q is not in the table", s)
		}
	}
	for _, s := range []RunStatus{RunPending, RunRunning, RunDone, RunPartiallyFailed, RunFailed, RunExpired, RunCancelled} {
		if !Valid(s) {
			t.Errorf("run status %q is not in the table", s)
		}
	}
	for _, s := range []CampaignStatus{CampaignActive, CampaignPaused, CampaignCancelled, CampaignDone} {
		if !Valid(s) {
			t.Errorf("campaign status %q is not in the table", s)
		}
	}
}

func TestCanTransition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"send pending -> in_flight", CanTransition(SendPending, SendInFlight), true},
		{"send sent -> pending (a sent send is never re-sent)", CanTransition(SendSent, SendPending), false},
		{"send unknown -> in_flight (only via an operator retry)", CanTransition(SendUnknown, SendInFlight), false},
		{"send unknown -> pending (operator retry)", CanTransition(SendUnknown, SendPending), true},
		{"send in_flight -> cancelled (given back to wait in a cancelled run; Cancel itself leaves in-flight sends to their workers)", CanTransition(SendInFlight, SendCancelled), true},
		{"run done -> pending (nothing to retry)", CanTransition(RunDone, RunPending), false},
		{"run failed -> pending", CanTransition(RunFailed, RunPending), true},
		{"campaign cancelled -> active", CanTransition(CampaignCancelled, CampaignActive), false},
		{"campaign paused -> active", CanTransition(CampaignPaused, CampaignActive), true},
		{"unknown status", CanTransition(SendStatus("bogus"), SendPending), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if diff := cmp.Diff([]SendStatus{SendPending, SendRetryWait}, AllowedFrom(SendInFlight)); diff != "" {
		t.Errorf("AllowedFrom(in_flight) (-want +got):\n%s", diff)
	}
}

func TestTypedErrors(t *testing.T) {
	t.Parallel()
	var err error = &TransitionError{Entity: "send", ID: 3, From: "sent", To: "pending"}
	if !errors.Is(err, ErrIllegalTransition) || errors.Is(err, ErrNotFound) {
		t.Errorf("TransitionError: Is(ErrIllegalTransition) must hold, Is(ErrNotFound) must not")
	}
	if got, want := err.Error(), "send 3: cannot move from sent to pending"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	err = &NotFoundError{Entity: "campaign", ID: 42}
	if !errors.Is(err, ErrNotFound) || err.Error() != "campaign 42: not found" {
		t.Errorf("NotFoundError: got %q", err)
	}
}
