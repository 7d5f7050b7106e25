package broadcast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/offpush/offpush/shared/delivery"
	"github.com/offpush/offpush/shared/store"
)

// Store is what broadcasts need of the store.
type Store interface {
	Reader
	PutJob(ctx context.Context, j store.Job) error
	GetJob(ctx context.Context, id string) (store.Job, error)
	ListJobs(ctx context.Context, status store.JobStatus, limit int) ([]store.Job, error)
	SetJobStatus(ctx context.Context, id string, from []store.JobStatus, to store.JobStatus, at time.Time) (store.Job, error)
	AddJobCounts(ctx context.Context, id string, delta store.JobCounts) (store.Job, error)
	FinishPlanning(ctx context.Context, id string) (store.Job, error)
	GetCheckpoint(ctx context.Context, jobID string, segment int) (store.Checkpoint, error)
	SaveCheckpoint(ctx context.Context, jobID string, segment int, expected int64, cp store.Checkpoint) error
	PutJobUsers(ctx context.Context, jobID string, n int, users []string) error
	Claim(ctx context.Context, key string, expiresAt time.Time) (store.Claim, error)
	Complete(ctx context.Context, key string, value []byte, expiresAt time.Time) error
}

// BatchSender enqueues bulk-job batches, 10 to a queue call.
type BatchSender interface {
	SendBatches(ctx context.Context, batches []delivery.Batch) error
}

// Task is one planning task: a segment of a job's audience. Tasks travel on
// the planning queue, so a planner that runs out of time hands its task on.
type Task struct {
	JobID    string `json:"jobId"`
	Segment  int    `json:"segment"`
	Segments int    `json:"segments"`
}

// TaskQueue carries planning tasks.
type TaskQueue interface {
	EnqueueTask(ctx context.Context, t Task) error
}

// BatchStride separates the batch numbers of segments: batch k of segment s
// is s×BatchStride+k, the same on every planning attempt.
const BatchStride = 1_000_000_000

// batchesPerSend is how many batches one queue call carries.
const batchesPerSend = 10

// Planner turns a job's audience into queue batches.
type Planner struct {
	st       Store
	batches  BatchSender
	tasks    TaskQueue
	log      *slog.Logger
	now      func() time.Time
	segments int
	reserve  time.Duration
}

// PlannerConfig configures a Planner.
type PlannerConfig struct {
	Store   Store
	Batches BatchSender
	Tasks   TaskQueue
	Log     *slog.Logger
	Now     func() time.Time
	// Segments is how many parallel scan segments an everyone-audience is
	// planned in (default 8).
	Segments int
	// Reserve is the part of an invocation's deadline left for handing the
	// task on (default 5 s).
	Reserve time.Duration
}

// NewPlanner returns a Planner.
func NewPlanner(cfg PlannerConfig) *Planner {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Segments <= 0 {
		cfg.Segments = 8
	}
	if cfg.Reserve <= 0 {
		cfg.Reserve = 5 * time.Second
	}
	return &Planner{st: cfg.Store, batches: cfg.Batches, tasks: cfg.Tasks, log: cfg.Log, now: cfg.Now, segments: cfg.Segments, reserve: cfg.Reserve}
}

func spec(j store.Job) (Spec, error) {
	var s Spec
	if len(j.Spec) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(j.Spec, &s); err != nil {
		return s, fmt.Errorf("decode broadcast %s: %w", j.ID, err)
	}
	return s, nil
}

// Start moves a job to planning and hands out its planning tasks.
func (p *Planner) Start(ctx context.Context, jobID string) error {
	j, err := p.st.SetJobStatus(ctx, jobID, []store.JobStatus{store.JobScheduled, store.JobPlanning}, store.JobPlanning, p.now())
	if err != nil {
		return fmt.Errorf("start broadcast %s: %w", jobID, err)
	}
	s, err := spec(j)
	if err != nil {
		return err
	}
	n := segmentsOf(s.Audience, p.segments)
	for seg := 0; seg < n; seg++ {
		if err := p.tasks.EnqueueTask(ctx, Task{JobID: jobID, Segment: seg, Segments: n}); err != nil {
			return fmt.Errorf("start broadcast %s: %w", jobID, err)
		}
	}
	return nil
}

// Run plans one task until its segment is enqueued or the deadline nears,
// then hands the task on. It is safe to run again after a crash: it resumes
// at the last checkpoint, re-sends at most the batches after it (same
// numbers, which the workers deliver once), and only the planner that
// advances the checkpoint counts them.
func (p *Planner) Run(ctx context.Context, t Task) error {
	j, err := p.st.GetJob(ctx, t.JobID)
	if errors.Is(err, store.ErrNotFound) {
		p.log.WarnContext(ctx, "planning task for a missing broadcast", "jobId", t.JobID)
		return nil
	}
	if err != nil {
		return err
	}
	if j.Status != store.JobPlanning && j.Status != store.JobSending {
		return nil // cancelled, failed or completed: nothing more to plan
	}
	s, err := spec(j)
	if err != nil {
		return err
	}
	listJob := j.ID
	if s.CampaignID != "" {
		listJob = s.CampaignID
	}
	src := sourceFor(p.st, s, listJob, t.Segment, t.Segments)
	for {
		cp, err := p.st.GetCheckpoint(ctx, j.ID, t.Segment)
		if err != nil {
			return err
		}
		if cp.Done {
			break
		}
		if deadline, ok := ctx.Deadline(); ok && p.now().Add(p.reserve).After(deadline) {
			return p.tasks.EnqueueTask(ctx, t)
		}
		next, batches, users, err := p.collect(ctx, src, j.ID, t.Segment, cp)
		if err != nil {
			return err
		}
		if len(batches) > 0 {
			if err := p.batches.SendBatches(ctx, batches); err != nil {
				return fmt.Errorf("enqueue batches of %s: %w", j.ID, err)
			}
		}
		if err := p.st.SaveCheckpoint(ctx, j.ID, t.Segment, cp.NextBatch, next); errors.Is(err, store.ErrConflict) {
			return nil // another planner took this segment further
		} else if err != nil {
			return err
		}
		if len(batches) > 0 {
			if _, err := p.st.AddJobCounts(ctx, j.ID, store.JobCounts{Users: int64(users), Batches: int64(len(batches))}); err != nil {
				return err
			}
			if _, err := p.st.SetJobStatus(ctx, j.ID, []store.JobStatus{store.JobPlanning}, store.JobSending, p.now()); err != nil && !errors.Is(err, store.ErrConflict) {
				return err
			}
		}
	}
	return p.finish(ctx, j.ID, t.Segments)
}

// collect reads up to batchesPerSend pages into batches.
func (p *Planner) collect(ctx context.Context, src source, jobID string, segment int, cp store.Checkpoint) (store.Checkpoint, []delivery.Batch, int, error) {
	next := cp
	var batches []delivery.Batch
	users := 0
	for len(batches) < batchesPerSend {
		ids, cursor, err := src.page(ctx, next.Cursor)
		if err != nil {
			return cp, nil, 0, fmt.Errorf("read audience of %s: %w", jobID, err)
		}
		if len(ids) > 0 {
			batches = append(batches, delivery.Batch{JobID: jobID, Batch: int64(segment)*BatchStride + next.NextBatch, Users: ids, Attempt: 1})
			next.NextBatch++
			users += len(ids)
		}
		next.Cursor = cursor
		if cursor == "" {
			next.Done = true
			break
		}
	}
	return next, batches, users, nil
}

// finish marks the job planned once every segment is done, and completes it
// if every batch is already delivered.
func (p *Planner) finish(ctx context.Context, jobID string, segments int) error {
	for seg := 0; seg < segments; seg++ {
		cp, err := p.st.GetCheckpoint(ctx, jobID, seg)
		if err != nil {
			return err
		}
		if !cp.Done {
			return nil // another segment is still being planned
		}
	}
	j, err := p.st.FinishPlanning(ctx, jobID)
	if err != nil {
		return err
	}
	return complete(ctx, p.st, j, p.now())
}

// complete moves a planned job whose batches are all delivered to completed.
func complete(ctx context.Context, st Store, j store.Job, now time.Time) error {
	if !j.Planned || j.Counts.BatchesDone < j.Counts.Batches {
		return nil
	}
	_, err := st.SetJobStatus(ctx, j.ID, []store.JobStatus{store.JobPlanning, store.JobSending}, store.JobCompleted, now)
	if errors.Is(err, store.ErrConflict) {
		return nil // completed (or cancelled) already
	}
	return err
}

// Progress records what each delivered batch did in its job's counters,
// and completes the job with its last batch. It is the bulk-job worker's
// delivery.Progress.
type Progress struct {
	st  Store
	now func() time.Time

	mu     sync.Mutex
	status map[string]statusEntry
}

type statusEntry struct {
	active bool
	at     time.Time
}

// NewProgress returns the job progress recorder.
func NewProgress(st Store, now func() time.Time) *Progress {
	if now == nil {
		now = time.Now
	}
	return &Progress{st: st, now: now, status: map[string]statusEntry{}}
}

var _ delivery.Progress = (*Progress)(nil)

// BatchDone implements delivery.Progress. A device is counted once: its
// first attempt counts it among devices; retryable failures count as failed
// only when no attempt follows.
func (p *Progress) BatchDone(ctx context.Context, b delivery.Batch, resp *delivery.Response, final bool) error {
	devices, sent, skipped, failed, invalid := resp.Counts(final)
	d := store.JobCounts{Sent: int64(sent), Skipped: int64(skipped), Failed: int64(failed), InvalidTokens: int64(invalid)}
	if b.Attempt == 1 {
		d.Devices = int64(devices)
	} else {
		// A retry's devices were counted by the first attempt, whose
		// retryable failures were not counted as anything yet.
		d.Devices = 0
	}
	if final {
		d.BatchesDone = 1
	}
	j, err := p.st.AddJobCounts(ctx, b.JobID, d)
	if err != nil {
		return err
	}
	return complete(ctx, p.st, j, p.now())
}

// statusTTL is how long a worker trusts a job's status before reading it
// again: a cancel reaches every worker within it.
const statusTTL = 5 * time.Second

// Active reports whether a job's batches should still be delivered (not
// cancelled or failed), reading the status at most every statusTTL.
func (p *Progress) Active(ctx context.Context, jobID string) bool {
	now := p.now()
	p.mu.Lock()
	e, ok := p.status[jobID]
	p.mu.Unlock()
	if ok && now.Sub(e.at) < statusTTL {
		return e.active
	}
	j, err := p.st.GetJob(ctx, jobID)
	if err != nil {
		return !ok || e.active // keep going on a passing read error
	}
	e = statusEntry{active: j.Status != store.JobCancelled && j.Status != store.JobFailed, at: now}
	p.mu.Lock()
	p.status[jobID] = e
	p.mu.Unlock()
	return e.active
}
