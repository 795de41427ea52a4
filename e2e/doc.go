// Package e2e holds tagcast's multi-process end-to-end and chaos tests: the
// real `tagcast worker`, `tagcast scheduler` and `tagcast api` binaries on
// one PostgreSQL database and one Redis (throwaway servers from
// internal/testenv), the emulator in the test process, and one simulated
// clock shared by every process (internal/simclock, through the
// TAGCAST_SIMULATED_CLOCK variable). The test moves the clock over a
// simulated day, one event at a time, waiting for the processes to settle
// between moves (and resting also just before every fire the test's own
// oracle expects, to catch an early send), then checks every promise
// against the store and the emulator: each due fire sent exactly once, to
// exactly its campaign's audience (the whole audience, and the recipients
// the emulator resolved) and platforms, with its send's stored body, every
// call (answered or not) a call of a send of the store on its campaign's
// App Key, each run's status what its sends settle it to, never early, never held back while its app had
// room, never a 429, every messageUID recorded, the quota never exceeded
// (day windows included: the scenario makes them bind), and under chaos
// (kill -9, Redis restart and FLUSHALL, 20% emulator faults, each asserted
// to have happened) no run lost and no duplicate push.
//
// The tests are behind the build tag e2e, so `go test ./...` does not run
// them: `make e2e` runs the full size (500 campaigns, a simulated day),
// `make e2e-short` the short one that CI runs (see -e2e.size).
package e2e
