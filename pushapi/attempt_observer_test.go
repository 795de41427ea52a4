package pushapi

import (
	"context"
	"testing"
	"time"
)

// observed collects the attempts a call reports (WithAttemptObserver).
func observed(ctx context.Context) (context.Context, *[]Attempt) {
	var got []Attempt
	return WithAttemptObserver(ctx, func(a Attempt) { got = append(got, a) }), &got
}

// A fail-over hop hides the primary's failure from the call's result (the
// backup's answer): the observer sees each attempt under its own host,
// status and code, the primary's first.
func TestAttemptObserverSeesEachHostOfAFailover(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	primary.setReply(replyStatus(503, "text/html", "<html>Service Unavailable</html>"))
	c := newTestClient(t, newFakeClock(), 5*time.Second, primary.URL(), backup.URL())
	ctx, got := observed(context.Background())
	if _, err := c.Push(ctx, validRequest()); err != nil {
		t.Fatal(err)
	}
	want := []Attempt{
		{Path: PathPush, Host: primary.URL(), HTTPStatus: 503},
		{Path: PathPush, Host: backup.URL(), HTTPStatus: 200, Code: CodeOK},
	}
	checkAttempts(t, *got, want)
}

// A host that refuses the connection answers nothing (status and code 0);
// a refusal by the service carries its code; a call without an observer
// reports to nobody.
func TestAttemptObserverNoAnswerAndRefusal(t *testing.T) {
	t.Parallel()
	backup := newFakeService(t)
	dead := deadHost(t)
	c := newTestClient(t, newFakeClock(), 5*time.Second, dead, backup.URL())
	ctx, got := observed(context.Background())
	if _, err := c.Push(ctx, validRequest()); err != nil {
		t.Fatal(err)
	}
	checkAttempts(t, *got, []Attempt{
		{Path: PathPush, Host: dead},
		{Path: PathPush, Host: backup.URL(), HTTPStatus: 200, Code: CodeOK},
	})

	backup.setReply(replyStatus(403, "application/json", `{"code":1004,"errorMessage":"bad signature"}`))
	*got = nil
	if _, err := c.Push(ctx, validRequest()); err == nil {
		t.Fatal("a refused call succeeded")
	}
	checkAttempts(t, *got, []Attempt{{Path: PathPush, Host: backup.URL(), HTTPStatus: 403, Code: 1004}})

	*got = nil
	if _, err := c.Push(context.Background(), validRequest()); err == nil {
		t.Fatal("a refused call succeeded")
	}
	if len(*got) != 0 {
		t.Errorf("a call without the observer reported %v", *got)
	}
}

// checkAttempts compares got with want, but for the durations, which must
// be positive.
func checkAttempts(t *testing.T, got, want []Attempt) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("attempts %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i].Duration <= 0 {
			t.Errorf("attempt %d: duration %s, want the attempt's real time", i, got[i].Duration)
		}
		g := got[i]
		g.Duration = 0
		if g != want[i] {
			t.Errorf("attempt %d: %+v, want %+v", i, g, want[i])
		}
	}
}
