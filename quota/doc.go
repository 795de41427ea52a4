// Package quota is the send guard: per app (App Key), one atomic Redis Lua
// reservation checks and records both of the service's quota windows (an hour
// window, rolling or clock, and a day window, calendar or rolling, in the
// app's time zone) before any /push.json call, so any number of worker
// processes together never exceed the quota.
//
// A Reserve either returns a Reservation or a *NoRoomError carrying the
// instant the next slot opens, which callers turn into a snooze. A
// reservation the service definitively refused without sending is given back
// with Release. After a 429/1008 the app is blocked until the next window
// boundary (Block, BlockRateLimited).
//
// Redis only caches the windows: when it has no state for an app (restart,
// FLUSHALL, fail-over), the windows are rebuilt from the store's Ledger before
// anything is reserved, and the rebuild is race-safe across processes.
//
// The package never calls the push service, never sleeps to wait for a window
// and never reads the wall clock in its logic: the clock is injected and its
// value is passed to the scripts, so simulated time works.
package quota
