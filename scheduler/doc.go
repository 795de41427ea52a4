// Package scheduler fires campaigns: it claims due campaigns through the
// store (which creates each fire's Run exactly once, unique per campaign and
// scheduled instant), enqueues the Run's task "run:<id>" after the claim has
// committed, reconciles the store with the queue, and offers the operator
// operations (pause, resume, cancel, retry) that the admin API and the CLI
// call.
//
// The SQL store is the source of truth and asynq only a wake-up call: any
// number of scheduler replicas may run against the same store and Redis.
// A fire is claimed by one replica only (the store's transaction), and a
// task is enqueued at most once per run (asynq's TaskID), so re-enqueueing is
// always safe and the reconciler may repeat it freely.
//
// # Fire times
//
// Fire times come from one calculator, in the campaign package:
// campaign.Schedule.NextAfter (FirstFire for a new campaign, LatestFire for a
// late claim). File validation sets the first next_run_at with it, and the
// scheduler moves next_run_at with it, so both follow the same rules.
// robfig/cron v3 only lists a cron's wall-clock times; the calculator maps
// them to instants in the campaign's time zone (a CRON_TZ= or TZ= prefix in
// the spec, else the `timezone` field, else UTC) with two rules for daylight
// saving time changes:
//
//   - Fall back (a local hour happens twice): a wall-clock time fires at most
//     once, at its first occurrence. "30 1 * * *" in America/New_York fires
//     at 01:30 EDT on the day clocks go back, not again at 01:30 EST; an
//     hourly cron skips the repeated hour.
//   - Spring forward (a local hour does not exist): a time in the skipped
//     hour fires at the first valid instant after it, the instant the clocks
//     jump. "30 2 * * *" in America/New_York fires at 03:00 EDT on that day
//     (robfig/cron alone skips the day). Several skipped times of one
//     campaign collapse into that one fire.
//
// "@every" schedules are durations, not wall-clock times, and are unaffected;
// each fire counts from the one before (from start, when set, which is the
// first fire), and a late claim considers the latest of those fires.
// start and end bound a cron schedule: fires are at or after start and
// strictly before end.
//
// # Missed fires
//
// A fire is missed when the scheduler claims it more than MissedAfter (default
// one minute, at least two intervals) after its instant: tagcast was down, or
// the campaign was paused.
// However many occurrences were missed, at most one Run is created: with
// `missed: skip` none (the campaign continues at its next future time), with
// `missed: once` one, for the latest missed occurrence, unless the
// campaign's next occurrence is due within MissedAfter: that fire, on time,
// stands for the missed one (two Runs a minute apart would push the same
// announcement twice and spend two of a 3-a-day quota). A Run whose
// deliver_within has already passed when it is created ends `expired`
// without being enqueued. Never a burst of every missed occurrence.
//
// # Never early
//
// asynq's scheduled-task path stores whole seconds and is polled by its
// forwarder every 5 s by default, so a task given ProcessAt can start up to a
// second early and seconds late. The scheduler does not rely on it: it claims
// campaigns up to Lookahead ahead of their instant, keeps those Runs in
// memory and enqueues each one for immediate processing ReleaseLead (500 ms)
// before its instant, so a worker has dequeued it when the instant comes
// (an idle asynq server polls only every 100–300 ms) and waits out the
// remainder inline: the worker never begins a send early. If the process stops
// first, the held Runs are enqueued with ProcessAt rounded up to the next
// whole second, or, after a crash, the reconciler enqueues them once due.
//
// The package never sends a push, never imports the worker and never reads
// the wall clock in its logic: the Clock is injected.
package scheduler
