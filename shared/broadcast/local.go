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
	fire func(ctx context.Context, id string, at time.Time) error
	log  *slog.Logger
	now  func() time.Time

	mu     sync.Mutex
	timers map[string]*armed
	closed bool
}

// armed is one armed firing; its identity tells a firing whether its
// schedule was replaced or removed meanwhile.
type armed struct{ timer *time.Timer }

// NewLocalScheduler returns a scheduler calling fire at each firing.
func NewLocalScheduler(fire func(ctx context.Context, id string, at time.Time) error, log *slog.Logger) *LocalScheduler {
	if log == nil {
		log = slog.Default()
	}
	return &LocalScheduler{fire: fire, log: log, now: time.Now, timers: map[string]*armed{}}
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
	l.arm(id, sched, loc, l.now(), nil)
	return nil
}

// arm sets the next firing after after. prev is the timer that just fired,
// nil for a new schedule: a firing re-arms only if its schedule was not
// replaced or removed meanwhile.
func (l *LocalScheduler) arm(id string, sched Schedule, loc *time.Location, after time.Time, prev *armed) {
	next := sched.Next(after, loc)
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev != nil && l.timers[id] != prev {
		return
	}
	if old := l.timers[id]; old != nil {
		old.timer.Stop()
	}
	delete(l.timers, id)
	if next.IsZero() || l.closed {
		return
	}
	a := &armed{}
	a.timer = time.AfterFunc(next.Sub(l.now()), func() {
		if err := l.fire(context.Background(), id, next); err != nil {
			l.log.Error("scheduled broadcast failed", "broadcastId", id, "error", err.Error())
		}
		l.arm(id, sched, loc, next, a)
	})
	l.timers[id] = a
}

// Unschedule implements Scheduler.
func (l *LocalScheduler) Unschedule(_ context.Context, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.timers[id]; a != nil {
		a.timer.Stop()
		delete(l.timers, id)
	}
	return nil
}

// Close stops every schedule.
func (l *LocalScheduler) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for id, a := range l.timers {
		a.timer.Stop()
		delete(l.timers, id)
	}
}

var _ Scheduler = (*LocalScheduler)(nil)
