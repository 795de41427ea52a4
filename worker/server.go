package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/queue"
)

// ServerConfig configures the asynq server. Zero fields take the defaults.
type ServerConfig struct {
	// Concurrency is the number of runs processed at once. Default 20.
	Concurrency int
	// ShutdownTimeout is how long Shutdown waits for runs being processed;
	// runs still sending then are handed back to the queue. Default 30 s.
	ShutdownTimeout time.Duration
	// Queue is the asynq queue to process; default queue.DefaultQueue.
	Queue string
	// DelayedTaskCheckInterval is how often asynq moves due scheduled and
	// snoozed tasks to pending. Default 1 s (asynq's own is 5 s).
	DelayedTaskCheckInterval time.Duration
	// TaskCheckInterval is how often an idle server polls for tasks.
	// Default 200 ms.
	TaskCheckInterval time.Duration
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.Concurrency <= 0 {
		c.Concurrency = 20
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Queue == "" {
		c.Queue = queue.DefaultQueue
	}
	if c.DelayedTaskCheckInterval <= 0 {
		c.DelayedTaskCheckInterval = time.Second
	}
	if c.TaskCheckInterval <= 0 {
		c.TaskCheckInterval = 200 * time.Millisecond
	}
	return c
}

// Server is the asynq server running a Handler on a shared Redis client.
// The Redis client stays the caller's: close it after Shutdown.
type Server struct {
	srv     *asynq.Server
	handler *Handler
	mux     *asynq.ServeMux
	log     zerolog.Logger
	// running counts handler invocations not yet returned. asynq's
	// Shutdown returns at ShutdownTimeout without waiting for a handler it
	// gave up on (it cancels the task's context and requeues the task); such
	// a handler still records what the service answered, on a detached
	// context, and Shutdown waits for that.
	running sync.WaitGroup
	// inHandler is how many handler invocations have not returned: the
	// count Shutdown reports when it stops waiting for them.
	inHandler atomic.Int64
}

// NewServer builds the server on client (asynq.NewServerFromRedisClient):
// snoozes are not failures (IsFailure) and come back after their own delay
// (RetryDelay).
func NewServer(client redis.UniversalClient, h *Handler, cfg ServerConfig, log zerolog.Logger) (*Server, error) {
	if client == nil {
		return nil, errors.New("worker: server: nil Redis client")
	}
	if h == nil {
		return nil, errors.New("worker: server: nil handler")
	}
	cfg = cfg.withDefaults()
	srv := asynq.NewServerFromRedisClient(client, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   map[string]int{cfg.Queue: 1},
		IsFailure:                IsFailure,
		RetryDelayFunc:           RetryDelay,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		DelayedTaskCheckInterval: cfg.DelayedTaskCheckInterval,
		TaskCheckInterval:        cfg.TaskCheckInterval,
		Logger:                   asynqLogger{log.With().Str("component", "asynq").Logger()},
		LogLevel:                 asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			if !IsFailure(err) {
				return
			}
			// asynq archives the task instead of retrying it when the
			// handler says so (SkipRetry) or its retries are spent.
			retried, _ := asynq.GetRetryCount(ctx)
			maxRetry, ok := asynq.GetMaxRetry(ctx)
			ev := log.Error().Err(err).Str("task", t.Type()).Int("retried", retried)
			if errors.Is(err, asynq.SkipRetry) || (ok && retried >= maxRetry) {
				ev.Msg("run task failed and asynq archives it, without retrying: a scheduler process's reconciler " +
					"gives its run a new task while the run is open")
				return
			}
			ev.Msg("run task failed: asynq retries it")
		}),
	})
	s := &Server{srv: srv, handler: h, mux: asynq.NewServeMux(), log: log}
	s.mux.Handle(queue.TypeRunSend, asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		s.running.Add(1)
		s.inHandler.Add(1)
		defer func() { s.inHandler.Add(-1); s.running.Done() }()
		return h.ProcessTask(ctx, t)
	}))
	return s, nil
}

// Start starts processing.
func (s *Server) Start() error {
	if err := s.srv.Start(s.mux); err != nil {
		return fmt.Errorf("worker: start: %w", err)
	}
	s.log.Info().Msg("worker started")
	return nil
}

// Quiesce stops taking runs and starting sends, and makes runs waiting
// inline snooze at once, without waiting for anything: a process calls it
// on every part at the signal, then shuts each down. Sends in flight go on
// to their outcome.
func (s *Server) Quiesce() {
	s.handler.Drain()
	s.srv.Stop()
}

// Shutdown stops taking runs, makes runs waiting inline snooze at once,
// and waits up to ShutdownTimeout for sends in flight. A send still in
// flight then has its call cancelled (its task goes back to the queue);
// Shutdown also waits for its outcome to be recorded (bounded by the
// handler's StoreTimeout), since the caller closes the store next.
//
// It returns an error (ErrStoppedRecording) when it stopped waiting for a
// run still recording its outcome (the store did not answer): a send that
// run left in_flight is settled unknown once its lease has passed, so the
// stop was not clean and the caller should say so (tagcast exits 1).
func (s *Server) Shutdown() error {
	s.Quiesce()
	s.srv.Shutdown()
	// No handler starts after asynq's Shutdown; one still running does at
	// most two steps, each bounded by StoreTimeout: a claim and its
	// give-back, or a record and then the slot's release, the app's block
	// or its hold.
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	t := time.NewTimer(2*s.handler.cfg.StoreTimeout + time.Second)
	defer t.Stop()
	var err error
	select {
	case <-done:
	case <-t.C:
		n := s.inHandler.Load()
		s.log.Error().Int64("runs", n).Msg("worker stopped with a run still recording its outcome")
		err = fmt.Errorf("%w: %d run(s); a send they left in_flight is settled unknown once its lease has passed (campaign retry --unknown resends it, at the risk of a second push)",
			ErrStoppedRecording, n)
	}
	s.log.Info().Msg("worker stopped")
	return err
}

// ErrStoppedRecording is the error of a Shutdown that stopped waiting for a
// run still recording its outcome.
var ErrStoppedRecording = errors.New("worker: stopped with a run still recording its outcome")

// asynqLogger routes asynq's log lines to zerolog.
type asynqLogger struct{ log zerolog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug().Msg(fmt.Sprint(args...)) }
func (l asynqLogger) Info(args ...any)  { l.log.Info().Msg(fmt.Sprint(args...)) }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn().Msg(fmt.Sprint(args...)) }
func (l asynqLogger) Error(args ...any) { l.log.Error().Msg(fmt.Sprint(args...)) }

// Fatal logs and exits, as asynq expects of its logger.
func (l asynqLogger) Fatal(args ...any) {
	l.log.WithLevel(zerolog.FatalLevel).Msg(fmt.Sprint(args...))
	os.Exit(1)
}
