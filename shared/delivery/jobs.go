package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/store"
)

// MaxBatchUsers is the most users one bulk-job message carries.
const MaxBatchUsers = 500

// Batch is one bulk-job message on the queue: a job reference and at most
// MaxBatchUsers users. A retry of a batch carries only the users that still
// had retryable failures, and only those devices.
type Batch struct {
	JobID string   `json:"jobId"`
	Batch int64    `json:"batch"`
	Users []string `json:"users"`
	// Devices, in a retry, lists the "userID/deviceID" devices to attempt;
	// the users' other devices were delivered or settled before.
	Devices []string `json:"devices,omitempty"`
	Attempt int      `json:"attempt"`
}

// Validate checks a batch read off the queue.
func (b Batch) Validate() error {
	if b.JobID == "" || len(b.JobID) > 128 {
		return device.Invalid("jobId", "must be 1 to 128 characters")
	}
	if b.Batch < 0 {
		return device.Invalid("batch", "must not be negative")
	}
	if len(b.Users) == 0 || len(b.Users) > MaxBatchUsers {
		return device.Invalid("users", "must list 1 to %d users", MaxBatchUsers)
	}
	for i, u := range b.Users {
		if err := device.ValidateUserID("users["+strconv.Itoa(i)+"]", u); err != nil {
			return err
		}
	}
	if b.Attempt < 1 {
		return device.Invalid("attempt", "must be 1 or more")
	}
	if b.Attempt > 1 && len(b.Devices) == 0 {
		return device.Invalid("devices", "a retry must list the devices to attempt")
	}
	return nil
}

// ErrTooLarge: a batch's message would be over the queue's size limit. The
// worker splits a retry batch that is.
var ErrTooLarge = errors.New("queue message too large")

// Queue takes batches back: a retry after a delay, or a dead letter.
type Queue interface {
	Enqueue(ctx context.Context, b Batch, delay time.Duration) error
	DeadLetter(ctx context.Context, b Batch, reason string) error
	// Reject puts a message body that can never be handled (not a batch,
	// or a batch of no known job) into the dead letters as it came.
	Reject(ctx context.Context, body []byte, reason string) error
}

// Jobs reads a bulk job's content.
type Jobs interface {
	GetJob(ctx context.Context, id string) (store.Job, error)
}

// Progress hears what each batch did, for job counters.
type Progress interface {
	BatchDone(ctx context.Context, b Batch, resp *Response, final bool) error
}

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	Jobs     Jobs
	Queue    Queue
	Progress Progress // optional
	// MaxAttempts is how many times a batch's users are tried before they
	// go to the dead-letter queue (default 5).
	MaxAttempts int
	// RetryDelay is the first re-enqueue delay (default 30 s); it doubles
	// per attempt up to SQS's 15 minutes.
	RetryDelay time.Duration
	// Active, if set, says whether a job's batches are still to be
	// delivered; batches of a cancelled job are dropped unsent.
	Active func(ctx context.Context, jobID string) bool
}

// Worker runs bulk-job batches.
type Worker struct {
	dl   *Deliverer
	cfg  WorkerConfig
	mu   sync.Mutex
	jobs map[string]store.Job
}

// NewWorker returns a Worker delivering through dl.
func NewWorker(dl *Deliverer, cfg WorkerConfig) *Worker {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 30 * time.Second
	}
	return &Worker{dl: dl, cfg: cfg, jobs: map[string]store.Job{}}
}

// ErrBusy: another worker holds the same batch right now (SQS delivered it
// twice); the message should come back later.
var ErrBusy = errors.New("batch is being handled by another worker")

// ErrMalformed marks a message that can never be handled.
var ErrMalformed = errors.New("malformed batch message")

// reject dead-letters a message that can never be handled. If that fails
// the message comes back (the error, still ErrMalformed), and the queue's
// redrive policy dead-letters it in the end.
func (w *Worker) reject(ctx context.Context, body []byte, cause error) error {
	if err := w.cfg.Queue.Reject(ctx, body, cause.Error()); err != nil {
		return fmt.Errorf("%w; dead-lettering it failed: %v", cause, err)
	}
	w.dl.log.WarnContext(ctx, "malformed batch message dead-lettered", "reason", cause.Error(), "bytes", len(body))
	return nil
}

// batchLease bounds how long a crashed worker keeps a batch from others: it
// outlasts an invocation (60 s by default) and ends before SQS redelivers the
// message (the queue's visibility timeout, 6 minutes by default).
const batchLease = 5 * time.Minute

// Handle runs one queue message. It returns nil when the message is done
// with (delivered, re-enqueued or dead-lettered) and may be deleted, and an
// error when it must come back. A message seen again after it was handled
// sends nothing. A message that can never be handled goes straight to the
// dead letters rather than coming back until the redrive policy gives up.
func (w *Worker) Handle(ctx context.Context, body []byte) error {
	var b Batch
	if err := json.Unmarshal(body, &b); err != nil {
		return w.reject(ctx, body, fmt.Errorf("%w: %v", ErrMalformed, err))
	}
	if err := b.Validate(); err != nil {
		return w.reject(ctx, body, fmt.Errorf("%w: %v", ErrMalformed, err))
	}
	job, err := w.job(ctx, b.JobID)
	if errors.Is(err, ErrMalformed) {
		return w.reject(ctx, body, err)
	}
	if err != nil {
		return err
	}
	if w.cfg.Active != nil && !w.cfg.Active(ctx, b.JobID) {
		w.dl.log.InfoContext(ctx, "batch of a stopped job dropped", "jobId", b.JobID, "batch", b.Batch)
		return nil
	}
	key := fmt.Sprintf("batch#%s#%d#%d", b.JobID, b.Batch, b.Attempt)
	c, err := w.dl.store.Claim(ctx, key, w.dl.now().Add(batchLease))
	if err != nil {
		return fmt.Errorf("claim batch: %w", err)
	}
	switch {
	case c.Done:
		return nil // redelivered after it was handled
	case !c.Claimed:
		return ErrBusy
	}
	var only map[string]bool
	if b.Attempt > 1 {
		only = make(map[string]bool, len(b.Devices))
		for _, d := range b.Devices {
			only[d] = true
		}
	}
	m := job.Message
	resp, err := w.dl.Deliver(ctx, &m, b.Users, Options{Only: only})
	if err != nil {
		return fmt.Errorf("deliver batch %d of job %s: %w", b.Batch, b.JobID, err)
	}
	retry, devices := resp.Retryable()
	final := len(retry) == 0
	if !final {
		next := Batch{JobID: b.JobID, Batch: b.Batch, Users: retry, Attempt: b.Attempt + 1, Devices: devices}
		if b.Attempt >= w.cfg.MaxAttempts {
			if err := w.cfg.Queue.DeadLetter(ctx, next, fmt.Sprintf("still failing after %d attempts", b.Attempt)); err != nil {
				return fmt.Errorf("dead-letter batch: %w", err)
			}
			final = true
		} else if err := w.requeue(ctx, next, w.delay(b.Attempt)); err != nil {
			return fmt.Errorf("re-enqueue batch: %w", err)
		}
	}
	if w.cfg.Progress != nil {
		if err := w.cfg.Progress.BatchDone(ctx, b, resp, final); err != nil {
			w.dl.log.WarnContext(ctx, "job progress not recorded", "jobId", b.JobID, "batch", b.Batch, "error", err.Error())
		}
	}
	if err := w.dl.store.Complete(ctx, key, nil, w.dl.now().Add(DedupWindow)); err != nil {
		return fmt.Errorf("complete batch: %w", err)
	}
	return nil
}

// requeue enqueues a retry batch, splitting it in two while its message is
// too large (a long list of devices already delivered).
func (w *Worker) requeue(ctx context.Context, b Batch, delay time.Duration) error {
	err := w.cfg.Queue.Enqueue(ctx, b, delay)
	if !errors.Is(err, ErrTooLarge) || len(b.Users) < 2 {
		return err
	}
	half := len(b.Users) / 2
	for _, users := range [][]string{b.Users[:half], b.Users[half:]} {
		part := b
		part.Users, part.Devices = users, devicesOf(b.Devices, users)
		if err := w.requeue(ctx, part, delay); err != nil {
			return err
		}
	}
	return nil
}

// devicesOf keeps the devices of users.
func devicesOf(devices []string, users []string) []string {
	want := make(map[string]bool, len(users))
	for _, u := range users {
		want[u] = true
	}
	var out []string
	for _, d := range devices {
		if u, _, ok := cut(d); ok && want[u] {
			out = append(out, d)
		}
	}
	return out
}

// delay is the re-enqueue delay after attempt, within SQS's 15 minutes.
func (w *Worker) delay(attempt int) time.Duration {
	d := w.cfg.RetryDelay << (attempt - 1)
	if d > 15*time.Minute || d <= 0 {
		d = 15 * time.Minute
	}
	return d
}

func cut(s string) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// job returns a job's content, read once per container.
func (w *Worker) job(ctx context.Context, id string) (store.Job, error) {
	w.mu.Lock()
	j, ok := w.jobs[id]
	w.mu.Unlock()
	if ok {
		return j, nil
	}
	j, err := w.cfg.Jobs.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return j, fmt.Errorf("%w: job %s does not exist", ErrMalformed, id)
	}
	if err != nil {
		return j, fmt.Errorf("read job %s: %w", id, err)
	}
	w.mu.Lock()
	w.jobs[id] = j
	w.mu.Unlock()
	return j, nil
}
