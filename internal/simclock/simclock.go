// Package simclock is a simulated clock shared by several processes through
// a file: the file holds one instant as decimal Unix nanoseconds, a
// controller (a test, a simulation) moves it with Set or Advance, and every
// process that opened the file sees the new instant within a poll interval
// (2 ms by default).
//
// It exists for tests and simulations only: the end-to-end tests run many
// tagcast processes (workers, schedulers, the admin API) on one simulated
// day this way. Production code must never use it; tagcast's role commands
// switch to it only when the environment variable TAGCAST_SIMULATED_CLOCK
// names a file, and say so loudly in their log.
//
// A Clock satisfies worker.Clock (Now, Wait) and scheduler.Clock (Now,
// After); its Now method value fits quota.Options.Now, admin.Options.Now
// and pushapi.ClientConfig.Now.
package simclock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// EnvVar is the environment variable that makes tagcast's role commands run
// on a simulated clock read from the file it names.
const EnvVar = "TAGCAST_SIMULATED_CLOCK"

// DefaultPollInterval is how often an open Clock re-reads its file.
const DefaultPollInterval = 2 * time.Millisecond

// Clock is the simulated instant read from a file. It is safe for
// concurrent use. Close stops its poller.
type Clock struct {
	path string
	now  atomic.Int64 // Unix ns

	// rw orders Set against the poller: Set publishes the new instant here
	// before the file, and a poll may not put back the file's older value in
	// between.
	rw sync.Mutex

	mu   sync.Mutex
	tick chan struct{} // closed and replaced whenever the instant changes

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Option configures Open.
type Option func(*options)

type options struct{ poll time.Duration }

// WithPollInterval sets how often the file is re-read (default
// DefaultPollInterval).
func WithPollInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.poll = d
		}
	}
}

// Open reads the instant in path and starts polling the file for changes.
// The file must exist and hold a valid instant (see Write).
func Open(path string, opts ...Option) (*Clock, error) {
	o := options{poll: DefaultPollInterval}
	for _, fn := range opts {
		fn(&o)
	}
	if path == "" {
		return nil, errors.New("simclock: empty file path")
	}
	c := &Clock{path: path, tick: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	ns, err := Read(path)
	if err != nil {
		return nil, err
	}
	c.now.Store(ns.UnixNano())
	go c.poll(o.poll)
	return c, nil
}

// Create writes t to path (creating the file) and opens it.
func Create(path string, t time.Time, opts ...Option) (*Clock, error) {
	if err := Write(path, t); err != nil {
		return nil, err
	}
	return Open(path, opts...)
}

func (c *Clock) poll(every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.rw.Lock()
			if at, err := Read(c.path); err == nil {
				c.observe(at.UnixNano())
			} // a missing or torn file keeps the last instant
			c.rw.Unlock()
		}
	}
}

// observe records ns and wakes waiters when it differs from the last value.
func (c *Clock) observe(ns int64) {
	if c.now.Swap(ns) == ns {
		return
	}
	c.mu.Lock()
	close(c.tick)
	c.tick = make(chan struct{})
	c.mu.Unlock()
}

// changed returns a channel closed at the next change of the instant.
func (c *Clock) changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tick
}

// Close stops the poller. Now keeps returning the last instant read.
func (c *Clock) Close() {
	c.closeOnce.Do(func() {
		close(c.stop)
		<-c.done
	})
}

// Path is the file the clock reads.
func (c *Clock) Path() string { return c.path }

// Now is the simulated instant, in UTC.
func (c *Clock) Now() time.Time { return time.Unix(0, c.now.Load()).UTC() }

// Set writes t to the file (every process sees it within its poll interval)
// and makes this Clock read t at once. Moving backwards is allowed but
// surprises most code; controllers move forwards.
//
// The process that sets the clock sees the new instant before any other
// process can read it from the file: a simulated service (the emulator)
// running on the setter's clock is never behind the workers, which would
// otherwise be a window in which a worker pushes at the new instant and the
// service still counts it in the old one.
func (c *Clock) Set(t time.Time) error {
	c.rw.Lock()
	defer c.rw.Unlock()
	old := c.now.Load()
	c.observe(t.UnixNano())
	if err := Write(c.path, t); err != nil {
		c.observe(old)
		return err
	}
	return nil
}

// Advance moves the clock d forward (see Set).
func (c *Clock) Advance(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("simclock: advance by a negative duration %s", d)
	}
	return c.Set(c.Now().Add(d))
}

// Wait blocks until the simulated clock reads at least until, at most
// maxWait of real time, or until ctx ends. It reports whether until was
// reached; false with a nil error means maxWait passed first.
func (c *Clock) Wait(ctx context.Context, until time.Time, maxWait time.Duration) (bool, error) {
	deadline := time.NewTimer(maxWait)
	defer deadline.Stop()
	for {
		ch := c.changed()
		if !c.Now().Before(until) {
			return true, nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			return !c.Now().Before(until), nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// After delivers the simulated time on the returned channel once the
// simulated clock has moved d past the call, or d of real time has passed,
// whichever comes first. The real-time bound keeps polling loops (the
// scheduler's tick, the reconciler's pass) polling while the controller
// holds the simulated clock still, which is most of the time.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	out := make(chan time.Time, 1)
	until := c.Now().Add(d)
	go func() {
		_, _ = c.Wait(context.Background(), until, d)
		out <- c.Now()
	}()
	return out
}

// Read returns the instant held in path.
func Read(path string) (time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, fmt.Errorf("simclock: %w", err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("simclock: %s: not Unix nanoseconds: %w", path, err)
	}
	return time.Unix(0, ns).UTC(), nil
}

// Write stores t in path atomically (a temporary file renamed over it), so
// readers never see a torn value.
func Write(path string, t time.Time) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("simclock: %w", err)
	}
	_, werr := tmp.WriteString(strconv.FormatInt(t.UnixNano(), 10))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("simclock: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("simclock: %w", err)
	}
	return nil
}
