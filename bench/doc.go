// Package bench holds tagcast's end-to-end benchmarks (issue 8) and the
// helper that turns their output into the tables of BENCHMARKS.md.
//
// The benchmarks (in this package's _test files; `make bench` runs them)
// measure, on throwaway servers started by internal/testenv (real
// redis-server, real PostgreSQL, SQLite in a temp dir) and the emulator:
//
//   - BenchmarkSendThroughput: runs finished per second end to end
//     (scheduler → asynq → worker → quota guard → emulator → store) with
//     the quota raised out of the way, next to bare asynq processing no-op
//     tasks on the same Redis with the same concurrency in the same run, and
//     the emulator's own capacity (same client, same concurrency);
//   - BenchmarkFirePrecision: lag from each of 1,000 campaigns' scheduled
//     instant (all in the same second) to enqueue, handler start, send start
//     and arrival at the emulator, next to asynq's ProcessAt path (scheduled
//     instant → handler start) in the same run; p50, p99, max, early count;
//   - BenchmarkQuotaWeek: 4 worker processes (re-executions of the test
//     binary) on one App Key with the service's quota over a simulated week
//     (a clock file every process reads): pushes per day and per hour
//     against the limits, 429 answers, utilization;
//   - BenchmarkMemory: heap in use after GC and RSS of a scheduler process
//     and a worker process with 1k, 10k and 100k campaigns in PostgreSQL.
//
// Every figure is reported with testing.B.ReportMetric and every benchmark
// is meant to run with -benchtime=1x and -count=5; Summarize (behind
// `tagcast bench report`) prints the median of each metric. Benchmarks
// never run in `go test` without -bench, and nothing here asserts a timing:
// a benchmark fails only when the system is wrong (a 429, a duplicate, a run
// not sent), never when it is slow.
//
// Only `tagcast bench report` imports this package, for Parse and
// Summarize, which read text; the benchmarks and their server-starting
// helpers stay in _test files, so they never reach the binary.
package bench
