package broadcast

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// LocalScheduler fires schedules in the process: the local server's stand-in
// for EventBridge Scheduler, with the same expressions.
type LocalScheduler struct {
	fire func(ctx context.Context, id string) error
	log  *slog.Logger
	now  func() time.Time

	mu     sync.Mutex
	timers map[string]*time.Timer
	closed bool
}

// NewLocalScheduler returns a scheduler calling fire at each firing.
func NewLocalScheduler(fire func(ctx context.Context, id string) error, log *slog.Logger) *LocalScheduler {
	if log == nil {
		log = slog.Default()
	}
	return &LocalScheduler{fire: fire, log: log, now: time.Now, timers: map[string]*time.Timer{}}
}

// Schedule implements Scheduler.
func (l *LocalScheduler) Schedule(_ context.Context, id, expr, tz string) error {
	sched, err := ParseSchedule(expr)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return err
	}
	l.arm(id, sched, loc, l.now())
	return nil
}

func (l *LocalScheduler) arm(id string, sched Schedule, loc *time.Location, after time.Time) {
	next := sched.Next(after, loc)
	l.mu.Lock()
	defer l.mu.Unlock()
	if old := l.timers[id]; old != nil {
		old.Stop()
	}
	delete(l.timers, id)
	if next.IsZero() || l.closed {
		return
	}
	l.timers[id] = time.AfterFunc(next.Sub(l.now()), func() {
		if err := l.fire(context.Background(), id); err != nil {
			l.log.Error("scheduled broadcast failed", "broadcastId", id, "error", err.Error())
		}
		l.arm(id, sched, loc, next)
	})
}

// Unschedule implements Scheduler.
func (l *LocalScheduler) Unschedule(_ context.Context, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.timers[id]; t != nil {
		t.Stop()
		delete(l.timers, id)
	}
	return nil
}

// Close stops every schedule.
func (l *LocalScheduler) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for id, t := range l.timers {
		t.Stop()
		delete(l.timers, id)
	}
}

var _ Scheduler = (*LocalScheduler)(nil)
