package simclock_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/internal/simclock"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func newPair(t *testing.T) (ctl, reader *simclock.Clock) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clock")
	ctl, err := simclock.Create(path, t0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctl.Close)
	reader, err = simclock.Open(path, simclock.WithPollInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reader.Close)
	return ctl, reader
}

// eventually polls cond for up to 5 s of real time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSetIsSeenByAnotherReader(t *testing.T) {
	t.Parallel()
	ctl, reader := newPair(t)
	if got := reader.Now(); !got.Equal(t0) {
		t.Fatalf("reader starts at %v, want %v", got, t0)
	}
	if err := ctl.Advance(90 * time.Minute); err != nil {
		t.Fatal(err)
	}
	want := t0.Add(90 * time.Minute)
	if got := ctl.Now(); !got.Equal(want) {
		t.Errorf("controller reads %v right after Advance, want %v", got, want)
	}
	eventually(t, "reader sees the advance", func() bool { return reader.Now().Equal(want) })
	if got, err := simclock.Read(ctl.Path()); err != nil || !got.Equal(want) {
		t.Errorf("Read = %v, %v; want %v", got, err, want)
	}
}

func TestWait(t *testing.T) {
	t.Parallel()
	ctl, reader := newPair(t)
	ctx := t.Context()

	// Already reached: at once.
	if ok, err := reader.Wait(ctx, t0, time.Hour); !ok || err != nil {
		t.Errorf("Wait for the current instant = %v, %v; want true", ok, err)
	}
	// Never reached: false after maxWait of real time.
	if ok, err := reader.Wait(ctx, t0.Add(time.Hour), 20*time.Millisecond); ok || err != nil {
		t.Errorf("Wait with the clock standing still = %v, %v; want false, nil", ok, err)
	}
	// Reached by a jump from another "process".
	done := make(chan bool, 1)
	go func() {
		ok, _ := reader.Wait(ctx, t0.Add(time.Hour), time.Minute)
		done <- ok
	}()
	time.Sleep(10 * time.Millisecond)
	if err := ctl.Set(t0.Add(2 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	select {
	case ok := <-done:
		if !ok {
			t.Error("Wait across a jump past the instant reported false")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not wake on the jump")
	}
	// Cancelled.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if ok, err := reader.Wait(cctx, t0.Add(10*time.Hour), time.Minute); ok || err == nil {
		t.Errorf("Wait on a cancelled context = %v, %v; want false and an error", ok, err)
	}
}

func TestAfter(t *testing.T) {
	t.Parallel()
	ctl, reader := newPair(t)
	// The simulated clock moves first: After fires long before its real bound.
	ch := reader.After(time.Hour)
	if err := ctl.Advance(time.Hour); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-ch:
		if got.Before(t0.Add(time.Hour)) {
			t.Errorf("After delivered %v, before the simulated deadline", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("After(1h) did not fire when the simulated clock moved 1h")
	}
	// The simulated clock stands still: the real bound fires it.
	start := time.Now()
	select {
	case <-reader.After(30 * time.Millisecond):
		if d := time.Since(start); d < 30*time.Millisecond {
			t.Errorf("After(30ms) fired after %s of real time with the clock still", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("After(30ms) did not fire on its real-time bound")
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("tomorrow"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "nope"), "no such file"},
		{"not a number", garbage, "not Unix nanoseconds"},
		{"empty path", "", "empty file path"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := simclock.Open(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%q) error %v, want one containing %q", tt.path, err, tt.want)
			}
		})
	}
	ctl, _ := newPair(t)
	if err := ctl.Advance(-time.Second); err == nil {
		t.Error("Advance(-1s) succeeded, want an error")
	}
}

func TestTornFileKeepsTheLastInstant(t *testing.T) {
	t.Parallel()
	ctl, reader := newPair(t)
	if err := os.WriteFile(ctl.Path(), []byte("17726"), 0o600); err != nil { // as if written in place, half done
		t.Fatal(err)
	}
	if err := os.WriteFile(ctl.Path(), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // several polls of the reader
	if got := reader.Now(); !got.Equal(t0) && !got.Equal(time.Unix(0, 17726).UTC()) {
		t.Errorf("reader reads %v after a torn write, want the last valid instant", got)
	}
	reader.Close()
	reader.Close() // idempotent
}
