package worker

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
)

// Metrics are the worker's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	sends      *prometheus.CounterVec
	staleSends *prometheus.CounterVec
	apiLatency *prometheus.HistogramVec
	quota      *quotaCollector
	fireLag    *prometheus.HistogramVec
	snoozes    *prometheus.CounterVec
	lineWaits  *prometheus.CounterVec
	expired    *prometheus.CounterVec
}

// NewMetrics creates the worker's metrics and registers them on reg. A
// process registers them once, and hands them to its Handler and to its
// reconciler (Metrics.StaleSend).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tagcast", Subsystem: "worker", Name: "sends_total",
			Help: "Attempts of sends by app and outcome class (sent, retry, rate_limited, failed, unknown).",
		}, []string{"app", "outcome"}),
		staleSends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tagcast", Subsystem: "worker", Name: "stale_sends_total",
			Help: "Sends settled unknown because their claim's lease lapsed mid-attempt (their worker crashed or stalled: the service may have sent them), " +
				"counted once per send by the worker or reconciler that settled it. Such a send is in tagcast_worker_sends_total only if its worker's call returned.",
		}, []string{"app"}),
		apiLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "tagcast", Subsystem: "pushapi", Name: "request_duration_seconds",
			Help:    "Duration of /push.json attempts by host and answer code (0: no answer), each host of a fail-over apart.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"host", "code"}),
		quota: newQuotaCollector(),
		fireLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "tagcast", Subsystem: "worker", Name: "fire_lag_seconds",
			Help: "First attempt of a send minus its run's scheduled instant, once per send of a run never retried by an operator.",
			// Up to two days: with the default quota (2 an hour, 3 a day) a
			// send waiting for the quota starts hours, up to a day, late.
			Buckets: []float64{.01, .05, .1, .2, .5, 1, 2, 5, 10, 30, 60, 300, 3600, 7200, 21600, 43200, 86400, 172800},
		}, []string{"app"}),
		snoozes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tagcast", Subsystem: "worker", Name: "snoozes_total",
			Help: "Runs handed back to the queue to wait, by reason.",
		}, []string{"reason"}),
		lineWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tagcast", Subsystem: "quota", Name: "line_waits_total",
			Help: "Waits (250 ms each) of runs that found room in their app's quota but were held back for runs due before them (runs waiting for one opening are served in the order they were due); a run held back several times counts each wait.",
		}, []string{"app"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tagcast", Name: "runs_expired_total",
			Help: "Runs settled expired because their deliver_within passed before a send could go out (a fire missed for good), " +
				"counted once per run by the scheduler, worker or reconciler that expired it.",
		}, []string{"app"}),
	}
	for _, c := range []prometheus.Collector{m.sends, m.staleSends, m.apiLatency, m.quota, m.fireLag, m.snoozes, m.lineWaits, m.expired} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// InitApps starts the per-app series at 0 for apps, so that an alert on
// their increase sees the first event: a series created at its first
// increment appears at 1, and increase() over it is 0. With the default
// quota (3 pushes a day) nearly every failed, unknown or rate-limited send
// is the first of its series since the process started.
// A worker process calls it; a process without a worker (`tagcast
// scheduler`) calls InitSettlers, and exports no worker series.
func (m *Metrics) InitApps(apps ...string) {
	if m == nil {
		return
	}
	m.InitSettlers(apps...)
	for _, app := range apps {
		for _, o := range []pushapi.Outcome{pushapi.OutcomeSent, pushapi.OutcomeRetry, pushapi.OutcomeRateLimited, pushapi.OutcomeFailed, pushapi.OutcomeUnknown} {
			m.sends.WithLabelValues(app, string(o))
		}
		m.fireLag.WithLabelValues(app)
		m.lineWaits.WithLabelValues(app)
	}
}

// InitSettlers starts at 0 the per-app series of what the scheduler and
// the reconciler settle too: stale sends and expired runs.
func (m *Metrics) InitSettlers(apps ...string) {
	if m == nil {
		return
	}
	for _, app := range apps {
		m.staleSends.WithLabelValues(app)
		m.expired.WithLabelValues(app)
	}
}

// RunExpired counts run, settled expired by its caller (the store's
// ExpireRun returned it expired, to that caller only). The scheduler and
// the reconciler call it (their OnExpiredRun); the Handler counts the runs
// it expires itself.
func (m *Metrics) RunExpired(run campaign.Run) {
	if m != nil && run.Status == campaign.RunExpired {
		m.expired.WithLabelValues(run.App).Inc()
	}
}

// StaleSend counts sd, a send settled unknown because its claim's lease
// lapsed (campaign.Store.ResolveStaleSends returns each such send once,
// to the caller that settled it). The reconciler calls it
// (scheduler.ReconcilerConfig.OnStaleSend); the Handler counts the sends
// it settles itself.
func (m *Metrics) StaleSend(sd campaign.Send) {
	if m != nil && sd.Status == campaign.SendUnknown {
		m.staleSends.WithLabelValues(sd.App).Inc()
	}
}

func (m *Metrics) send(app, outcome string) {
	if m != nil {
		m.sends.WithLabelValues(app, outcome).Inc()
	}
}

// attempt observes one attempt of a push call, as pushapi reports it
// (pushapi.WithAttemptObserver): each host of a fail-over apart.
func (m *Metrics) attempt(a pushapi.Attempt) {
	code := a.Code // as decide labels an outcome: the service's code, else the HTTP status
	if code == 0 {
		code = a.HTTPStatus
	}
	m.latency(a.Host, code, a.Duration)
}

func (m *Metrics) latency(host string, code int, d time.Duration) {
	if m != nil {
		m.apiLatency.WithLabelValues(host, codeLabel(code)).Observe(d.Seconds())
	}
}

// codeLabel bounds the code label: the service's documented codes and HTTP
// statuses as themselves, anything else (a proxy's invention, say) as
// "other", so that no answer can grow the series without limit.
func codeLabel(code int) string {
	switch {
	case code == 0, code >= 100 && code <= 599, code >= pushapi.CodeInternal && code <= pushapi.CodeNotEnabled,
		code == pushapi.CodeServiceTimeout:
		return strconv.Itoa(code)
	}
	return "other"
}

func (m *Metrics) lag(app string, d time.Duration) {
	if m != nil {
		m.fireLag.WithLabelValues(app).Observe(d.Seconds())
	}
}

func (m *Metrics) lineWait(app string) {
	if m != nil {
		m.lineWaits.WithLabelValues(app).Inc()
	}
}

func (m *Metrics) snooze(reason string) {
	if m != nil {
		m.snoozes.WithLabelValues(reason).Inc()
	}
}

// DefaultQueueCollectTimeout bounds one collection of the queue statistics:
// well within Prometheus' default 10 s scrape_timeout, so that a stalled
// Redis costs the scrape its queue metrics, not the whole target.
const DefaultQueueCollectTimeout = 2 * time.Second

// DefaultQuotaCollectTimeout bounds one collection of the quota gauges, as
// DefaultQueueCollectTimeout the queue statistics'.
const DefaultQuotaCollectTimeout = 2 * time.Second

// scrapeReads runs the reads of a collector at scrape time, at most one at
// a time: a scrape that comes while one is under way waits for that one,
// so scrapes during a long stall add no goroutines.
type scrapeReads struct {
	mu      sync.Mutex
	reading *scrapeRead // the read in flight; nil: none
}

// scrapeRead is one read. metrics is written before done is closed and
// only read after.
type scrapeRead struct {
	done    chan struct{}
	metrics []prometheus.Metric
}

// collect sends to ch what read (or the read in flight) returns within
// timeout, and reports false when the read took longer (it goes on alone;
// the next scrape may use it).
func (f *scrapeReads) collect(ch chan<- prometheus.Metric, timeout time.Duration, read func() []prometheus.Metric) bool {
	r := f.start(read)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-r.done:
	case <-timer.C:
		return false
	}
	for _, m := range r.metrics {
		ch <- m
	}
	return true
}

// start returns the read in flight, starting one when there is none.
func (f *scrapeReads) start(read func() []prometheus.Metric) *scrapeRead {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reading != nil {
		return f.reading
	}
	r := &scrapeRead{done: make(chan struct{})}
	f.reading = r
	go func() {
		r.metrics = read()
		f.mu.Lock()
		f.reading = nil
		f.mu.Unlock()
		close(r.done)
	}()
	return r
}

// quotaCollector exports tagcast_quota_remaining, read from the quota
// guard (Guard.Status) at scrape time for the apps of the latest Handler
// made with these metrics: what is left now, as `tagcast quota status`
// says, not at this worker's latest reservation (a window that reopened
// since would read 0 until the app's next send), and 0 while the app is
// blocked (quota status's "0 (blocked)": nothing can be sent), with
// tagcast_quota_blocked_until_seconds saying until when. An app whose
// status cannot be read within the timeout is left out of the scrape, and
// an error counted, rather than served a stale value.
type quotaCollector struct {
	timeout      time.Duration // zero: DefaultQuotaCollectTimeout
	remaining    *prometheus.Desc
	blockedUntil *prometheus.Desc
	errors       prometheus.Counter
	reads        scrapeReads

	mu    sync.Mutex
	guard Guard
	apps  []string
}

func newQuotaCollector() *quotaCollector {
	return &quotaCollector{
		remaining: prometheus.NewDesc("tagcast_quota_remaining",
			"Sends left in the app's quota window (hour or day), read from the quota guard at scrape time (as tagcast quota status reads it); 0 while the app is blocked by the service's answer; absent for an app whose quota could not be read in time.",
			[]string{"app", "window"}, nil),
		blockedUntil: prometheus.NewDesc("tagcast_quota_blocked_until_seconds",
			"End of the app's block by the service's answer (a 429/1008, or a Retry-After), as a Unix time; 0 when the app is not blocked.",
			[]string{"app"}, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "tagcast_quota_metrics_errors_total",
			Help: "Failures to read an app's quota for tagcast_quota_remaining, and scrapes served without the quota gauges because the quota guard did not answer in time."}),
	}
}

// watch makes the collector read apps' quota from guard.
func (c *quotaCollector) watch(guard Guard, apps []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.guard, c.apps = guard, apps
}

// Describe implements prometheus.Collector.
func (c *quotaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.remaining
	ch <- c.blockedUntil
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *quotaCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	guard, apps := c.guard, c.apps
	c.mu.Unlock()
	if guard == nil || len(apps) == 0 {
		return // no worker role: nothing to read
	}
	defer c.errors.Collect(ch)
	timeout := c.timeout
	if timeout <= 0 {
		timeout = DefaultQuotaCollectTimeout
	}
	// The read has a context, but a Redis client without
	// ContextTimeoutEnabled waits out its own timeouts and retries: the
	// scrape waits for it at most timeout.
	if !c.reads.collect(ch, timeout, func() []prometheus.Metric { return c.read(guard, apps, timeout) }) {
		c.errors.Inc()
	}
}

// read reads apps' quota from guard, counting failures.
func (c *quotaCollector) read(guard Guard, apps []string, timeout time.Duration) []prometheus.Metric {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []prometheus.Metric
	for _, app := range apps {
		st, err := guard.Status(ctx, app)
		if err != nil {
			c.errors.Inc()
			continue
		}
		hour, day, until := st.Hour.Remaining, st.Day.Remaining, 0.0
		if st.BlockedUntil.After(st.At) {
			hour, day = 0, 0
			until = float64(st.BlockedUntil.UnixMilli()) / 1e3
		}
		out = append(out,
			prometheus.MustNewConstMetric(c.remaining, prometheus.GaugeValue, float64(hour), app, "hour"),
			prometheus.MustNewConstMetric(c.remaining, prometheus.GaugeValue, float64(day), app, "day"),
			prometheus.MustNewConstMetric(c.blockedUntil, prometheus.GaugeValue, until, app))
	}
	return out
}

// QueueCollector exports asynq's queue statistics (sizes per task state,
// latency, paused) at scrape time. asynq v0.26's own collector lives in the
// separate, unmaintained github.com/hibiken/asynq/x module (last released
// 2021), so tagcast keeps this small equivalent on asynq.Inspector.
//
// The inspector takes no context, so Redis is read in a goroutine that a
// scrape waits for at most Timeout; past it the scrape counts an error and
// serves no queue statistics. At most one read is in flight: a scrape that
// comes while one is under way waits for that one, so scrapes during a long
// stall add no goroutines.
type QueueCollector struct {
	// Timeout bounds one collection; zero: DefaultQueueCollectTimeout.
	// Set it before registering the collector.
	Timeout time.Duration

	inspector *asynq.Inspector
	size      *prometheus.Desc
	latency   *prometheus.Desc
	paused    *prometheus.Desc
	errors    prometheus.Counter
	reads     scrapeReads
}

// NewQueueCollector returns a collector over inspector (see
// asynq.NewInspectorFromRedisClient).
//
// The two gauges keep the names asynq's own exporter (x/metrics) gives them,
// _total suffix included against Prometheus' convention, so that dashboards
// and alerts written for asynq work unchanged; do not rate() them.
func NewQueueCollector(inspector *asynq.Inspector) *QueueCollector {
	return &QueueCollector{
		inspector: inspector,
		size: prometheus.NewDesc("asynq_tasks_enqueued_total", "Tasks in the queue, by state.",
			[]string{"queue", "state"}, nil),
		latency: prometheus.NewDesc("asynq_queue_latency_seconds", "Age of the queue's oldest pending task.",
			[]string{"queue"}, nil),
		paused: prometheus.NewDesc("asynq_queue_paused_total", "1 when the queue is paused.",
			[]string{"queue"}, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "asynq_queue_metrics_errors_total",
			Help: "Failures to read queue statistics from Redis, and scrapes served without them because Redis did not answer in time."}),
	}
}

// RegisterQueueMetrics registers a QueueCollector on reg.
func RegisterQueueMetrics(reg prometheus.Registerer, inspector *asynq.Inspector) error {
	if inspector == nil {
		return errors.New("worker: queue metrics: nil inspector")
	}
	return reg.Register(NewQueueCollector(inspector))
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.latency
	ch <- c.paused
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	defer c.errors.Collect(ch)
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultQueueCollectTimeout
	}
	if !c.reads.collect(ch, timeout, c.read) {
		c.errors.Inc() // the read goes on alone; the next scrape may use it
	}
}

// read reads the statistics of every queue from Redis, counting failures.
func (c *QueueCollector) read() []prometheus.Metric {
	queues, err := c.inspector.Queues()
	if err != nil {
		c.errors.Inc()
		return nil
	}
	var out []prometheus.Metric
	// add keeps a metric the client library accepts. Every queue in Redis
	// is reported, another asynq user's too: a name that cannot be a label
	// value (not UTF-8) is counted as an error, not a panic, which in the
	// scrape's goroutine would end the process at every scrape.
	add := func(d *prometheus.Desc, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
		if err != nil {
			c.errors.Inc()
			return
		}
		out = append(out, m)
	}
	for _, q := range queues {
		if !utf8.ValidString(q) {
			c.errors.Inc()
			continue
		}
		info, err := c.inspector.GetQueueInfo(q)
		if err != nil {
			c.errors.Inc()
			continue
		}
		for state, n := range map[string]int{
			"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled, "retry": info.Retry,
			"archived": info.Archived, "completed": info.Completed, "aggregating": info.Aggregating,
		} {
			add(c.size, float64(n), q, state)
		}
		add(c.latency, info.Latency.Seconds(), q)
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		add(c.paused, paused, q)
	}
	return out
}
