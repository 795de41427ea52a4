package worker

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagcast/tagcast/pushapi"
)

// Metrics are the worker's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	sends          *prometheus.CounterVec
	apiLatency     *prometheus.HistogramVec
	quotaRemaining *prometheus.GaugeVec
	fireLag        *prometheus.HistogramVec
	snoozes        *prometheus.CounterVec
	lineWaits      *prometheus.CounterVec
}

// NewMetrics creates the worker's metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tagcast", Subsystem: "worker", Name: "sends_total",
			Help: "Attempts of sends by app and outcome class (sent, retry, rate_limited, failed, unknown).",
		}, []string{"app", "outcome"}),
		apiLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "tagcast", Subsystem: "pushapi", Name: "request_duration_seconds",
			Help:    "Duration of /push.json calls by host and answer code (0: no answer).",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"host", "code"}),
		quotaRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "tagcast", Subsystem: "quota", Name: "remaining",
			Help: "Sends left in the app's quota window (hour or day), as of this worker's latest reservation or quota read (approximate with several workers; tagcast quota status is exact).",
		}, []string{"app", "window"}),
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
			Help: "Times a run found room in its app's quota but waited (250 ms) for runs due before it: runs waiting for one opening are served in the order they were due.",
		}, []string{"app"}),
	}
	for _, c := range []prometheus.Collector{m.sends, m.apiLatency, m.quotaRemaining, m.fireLag, m.snoozes, m.lineWaits} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) send(app, outcome string) {
	if m != nil {
		m.sends.WithLabelValues(app, outcome).Inc()
	}
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

func (m *Metrics) remaining(app string, hour, day int) {
	if m != nil {
		m.quotaRemaining.WithLabelValues(app, "hour").Set(float64(hour))
		m.quotaRemaining.WithLabelValues(app, "day").Set(float64(day))
	}
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

	mu      sync.Mutex
	reading *queueRead // the read in flight; nil: none
}

// queueRead is one read of the queue statistics. metrics is written before
// done is closed and only read after.
type queueRead struct {
	done    chan struct{}
	metrics []prometheus.Metric
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
	r := c.startRead()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-r.done:
	case <-timer.C:
		c.errors.Inc() // the read goes on alone; the next scrape may use it
		return
	}
	for _, m := range r.metrics {
		ch <- m
	}
}

// startRead returns the read in flight, starting one when there is none.
func (c *QueueCollector) startRead() *queueRead {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reading != nil {
		return c.reading
	}
	r := &queueRead{done: make(chan struct{})}
	c.reading = r
	go func() {
		r.metrics = c.read()
		c.mu.Lock()
		c.reading = nil
		c.mu.Unlock()
		close(r.done)
	}()
	return r
}

// read reads the statistics of every queue from Redis, counting failures.
func (c *QueueCollector) read() []prometheus.Metric {
	queues, err := c.inspector.Queues()
	if err != nil {
		c.errors.Inc()
		return nil
	}
	var out []prometheus.Metric
	for _, q := range queues {
		info, err := c.inspector.GetQueueInfo(q)
		if err != nil {
			c.errors.Inc()
			continue
		}
		for state, n := range map[string]int{
			"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled, "retry": info.Retry,
			"archived": info.Archived, "completed": info.Completed, "aggregating": info.Aggregating,
		} {
			out = append(out, prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(n), q, state))
		}
		out = append(out, prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, info.Latency.Seconds(), q))
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		out = append(out, prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused, q))
	}
	return out
}
