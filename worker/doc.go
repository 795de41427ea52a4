// Package worker turns queued runs into pushes: the asynq server and the
// handler of queue.TypeRunSend. For each Send of a Run, in index order, it
// waits out any remainder before the run's scheduled instant, reserves a
// slot with the quota guard, claims the send in the store (a leased
// compare-and-set that begins the attempt), calls the push service and
// records the outcome, mapped in one place (decide) from pushapi's classes:
// sent, retry (exponential backoff with full jitter), rate_limited (the app
// is blocked until the next window boundary), failed (permanent) and unknown
// (it may have been sent: never re-sent automatically).
//
// Waiting never burns asynq retries: a run that must wait (quota window
// closed, scheduled instant or next attempt not reached, shutdown under way)
// returns a *Snooze, which IsFailure reports as no failure and RetryDelay
// turns into asynq's delay. Short waits happen inline on the injected Clock.
//
// It must never send a Send that is not claimed, never send before the run's
// scheduled instant, never call the push service without a quota
// reservation, and never re-send a send whose outcome is unknown. It imports
// campaign, quota, queue and pushapi, never the scheduler.
package worker
