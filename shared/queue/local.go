package queue

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/offpush/offpush/shared/delivery"
)

// LocalOptions configures a Local queue. Zero values take the defaults.
type LocalOptions struct {
	// Workers is how many messages are handled at once (default 4), as the
	// event source mapping's maximum concurrency would.
	Workers int
	// Visibility is how long a failed message stays away before it comes
	// back (default 30 s); it also bounds each handler call, as the Lambda
	// timeout does.
	Visibility time.Duration
	// MaxReceive is how many times a message is handled before it moves to
	// the dead letters (default 5), as the redrive policy's maxReceiveCount.
	MaxReceive int
	// Log hears about failures and dead letters (default slog.Default()).
	Log *slog.Logger
}

// DeadLetter is a message Local gave up on.
type DeadLetter struct {
	Body     []byte
	Reason   string
	Receives int // handler calls it got; 0 when sent by Local.DeadLetter
	At       time.Time
}

// Local is the in-process queue of the local server: an SQS queue with its
// event source mapping and dead-letter queue, in memory. A message is handed
// to the handler once it is due; a handler error brings it back after
// Visibility, until it has been handled MaxReceive times, and then it moves to
// the dead letters. Unlike SQS, a handler that runs longer than Visibility
// does not see its message delivered a second time, and a message never
// arrives twice. Everything is lost when the process ends.
type Local struct {
	handler func(ctx context.Context, body []byte) error
	opts    LocalOptions
	log     *slog.Logger
	base    context.Context // parent of handler calls; cancelled when Close gives up
	cancel  context.CancelFunc

	mu      sync.Mutex
	closed  bool
	ready   []*localMessage // due, waiting for a worker
	workers int             // running worker goroutines
	timers  map[*localMessage]*time.Timer
	dead    []DeadLetter
	seq     int
	wg      sync.WaitGroup // worker goroutines
}

type localMessage struct {
	id       string
	body     []byte
	receives int
}

// NewLocal returns a queue that hands each message body to handler, which
// returns nil when the message is done with and an error when it must come
// back (delivery.Worker.Handle, say). Workers start as messages arrive and
// stop when none are left.
func NewLocal(handler func(ctx context.Context, body []byte) error, opts LocalOptions) *Local {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Visibility <= 0 {
		opts.Visibility = 30 * time.Second
	}
	if opts.MaxReceive <= 0 {
		opts.MaxReceive = 5
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	base, cancel := context.WithCancel(context.Background())
	return &Local{
		handler: handler,
		opts:    opts,
		log:     log,
		base:    base,
		cancel:  cancel,
		timers:  map[*localMessage]*time.Timer{},
	}
}

// Enqueue queues b to be handled after delay (rounded up to whole seconds and
// capped at 15 minutes, as SQS does).
func (l *Local) Enqueue(ctx context.Context, b delivery.Batch, delay time.Duration) error {
	body, err := encode(b)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("enqueue batch %d of job %s: %w", b.Batch, b.JobID, ErrClosed)
	}
	l.add(body, time.Duration(delaySeconds(delay))*time.Second)
	return nil
}

// SendBatches queues a broadcast's batches, to be handled now. Nothing is
// queued if any batch is too large.
func (l *Local) SendBatches(ctx context.Context, batches []delivery.Batch) error {
	bodies, err := encodeAll(batches)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("send %d batches: %w", len(batches), ErrClosed)
	}
	for _, body := range bodies {
		l.add(body, 0)
	}
	return nil
}

// DeadLetter puts b straight into the dead letters.
func (l *Local) DeadLetter(ctx context.Context, b delivery.Batch, reason string) error {
	body, err := encode(b)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dead = append(l.dead, DeadLetter{Body: body, Reason: reason, At: time.Now()})
	l.log.WarnContext(ctx, "batch dead-lettered", "jobId", b.JobID, "batch", b.Batch, "reason", reason)
	return nil
}

// Reject puts a message body that is no batch straight into the dead
// letters.
func (l *Local) Reject(ctx context.Context, body []byte, reason string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dead = append(l.dead, DeadLetter{Body: append([]byte(nil), body...), Reason: reason, At: time.Now()})
	l.log.WarnContext(ctx, "malformed message dead-lettered", "reason", reason)
	return nil
}

// DeadLetters returns the messages given up on so far, oldest first.
func (l *Local) DeadLetters() []DeadLetter {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]DeadLetter(nil), l.dead...)
}

// Close stops taking messages and waits until the messages already due have
// been handled, or until ctx ends: then it drops the ones not started,
// cancels the handler calls running, and returns without waiting for them.
// Messages not yet due (delayed, or back after a failure) are dropped, as
// they would be lost at exit anyway.
func (l *Local) Close(ctx context.Context) error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		dropped := 0
		for m, t := range l.timers {
			if t.Stop() {
				dropped++
			}
			delete(l.timers, m)
		}
		if dropped > 0 {
			l.log.WarnContext(ctx, "local queue closed: messages not yet due dropped", "dropped", dropped)
		}
	}
	l.mu.Unlock()

	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		l.cancel()
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		dropped := len(l.ready)
		l.ready = nil
		l.mu.Unlock()
		l.cancel()
		l.log.WarnContext(ctx, "local queue closed before its work was done", "dropped", dropped)
		return fmt.Errorf("close local queue: %w", ctx.Err())
	}
}

// add queues body as a new message, due after delay. l.mu is held.
func (l *Local) add(body []byte, delay time.Duration) {
	l.seq++
	m := &localMessage{id: "local-" + strconv.Itoa(l.seq), body: body}
	if delay <= 0 {
		l.push(m)
		return
	}
	l.later(m, delay)
}

// later makes m due after d. l.mu is held.
func (l *Local) later(m *localMessage, d time.Duration) {
	if l.closed {
		l.log.Warn("local queue closed: message dropped", "messageId", m.id)
		return
	}
	l.timers[m] = time.AfterFunc(d, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if _, ok := l.timers[m]; !ok {
			return // Close took it
		}
		delete(l.timers, m)
		l.push(m)
	})
}

// push makes m ready and starts a worker if one is free. l.mu is held.
func (l *Local) push(m *localMessage) {
	l.ready = append(l.ready, m)
	if l.workers < l.opts.Workers {
		l.workers++
		l.wg.Add(1)
		go l.work()
	}
}

// work handles ready messages until none is left.
func (l *Local) work() {
	defer l.wg.Done()
	for {
		l.mu.Lock()
		if len(l.ready) == 0 {
			l.workers--
			l.mu.Unlock()
			return
		}
		m := l.ready[0]
		l.ready[0] = nil
		l.ready = l.ready[1:]
		l.mu.Unlock()
		l.handle(m)
	}
}

// handle gives m to the handler once, and decides what becomes of it.
func (l *Local) handle(m *localMessage) {
	m.receives++
	ctx, cancel := context.WithTimeout(l.base, l.opts.Visibility)
	err := l.call(ctx, m.body)
	cancel()
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if m.receives >= l.opts.MaxReceive {
		reason := fmt.Sprintf("handler failed %d times; last: %v", m.receives, err)
		l.dead = append(l.dead, DeadLetter{Body: m.body, Reason: reason, Receives: m.receives, At: time.Now()})
		l.log.Warn("queue message dead-lettered", "messageId", m.id, "receives", m.receives, "error", err.Error())
		return
	}
	l.log.Info("queue message failed; it comes back later", "messageId", m.id, "receives", m.receives, "in", l.opts.Visibility.String(), "error", err.Error())
	l.later(m, l.opts.Visibility)
}

// call runs the handler, turning a panic into an error as a crashed Lambda
// invocation would leave the message to come back.
func (l *Local) call(ctx context.Context, body []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return l.handler(ctx, body)
}

// Interface guards
var _ delivery.Queue = (*Local)(nil)
