package broadcast

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/offpush/offpush/shared/store"
)

// Scheduler fires broadcasts later: EventBridge Scheduler on AWS, an
// in-process scheduler locally. A firing calls Service.Fire with the ID.
type Scheduler interface {
	// Schedule creates (or replaces) the schedule of a broadcast: an
	// at(...), cron(...) or rate(...) expression in a time zone.
	Schedule(ctx context.Context, broadcastID, expression, timezone string) error
	// Unschedule removes it; a missing schedule is not an error.
	Unschedule(ctx context.Context, broadcastID string) error
}

// Service is the broadcast API.
type Service struct {
	st      Store
	planner *Planner
	sched   Scheduler
	now     func() time.Time
}

// NewService returns the broadcast API over st.
func NewService(st Store, planner *Planner, sched Scheduler, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, planner: planner, sched: sched, now: now}
}

// View is a broadcast as the API shows it.
type View struct {
	BroadcastID string          `json:"broadcastId"`
	Status      store.JobStatus `json:"status"`
	Audience    AudienceView    `json:"audience"`
	SendAt      *time.Time      `json:"sendAt"`
	Cron        string          `json:"cron"`
	Timezone    string          `json:"timezone"`
	// CampaignID is the recurring broadcast this is a run of.
	CampaignID  string          `json:"campaignId,omitempty"`
	Counts      store.JobCounts `json:"counts"`
	CreatedAt   time.Time       `json:"createdAt"`
	StartedAt   *time.Time      `json:"startedAt"`
	CompletedAt *time.Time      `json:"completedAt"`
	Duplicate   bool            `json:"duplicate,omitempty"`
}

// AudienceView is the audience as shown: an explicit list by its size.
type AudienceView struct {
	Audience
	UsersCount int `json:"usersCount,omitempty"`
}

func view(j store.Job) (View, error) {
	s, err := spec(j)
	if err != nil {
		return View{}, err
	}
	v := View{BroadcastID: j.ID, Status: j.Status, Audience: AudienceView{Audience: s.Audience, UsersCount: s.ListUsers},
		SendAt: s.SendAt, Cron: s.Cron, Timezone: s.Timezone, CampaignID: s.CampaignID, Counts: j.Counts,
		CreatedAt: j.CreatedAt.UTC(), StartedAt: j.StartedAt, CompletedAt: j.CompletedAt}
	return v, nil
}

// ErrInProgress: an identical broadcast (same from and msgRandom) is being
// created right now.
var ErrInProgress = errors.New("an identical broadcast (same from and msgRandom) is being created")

// dedupWindow is how long the same (from, msgRandom) creates nothing new.
const dedupWindow = 7 * 24 * time.Hour

// Create validates and stores a broadcast, then starts it now or schedules
// it. The same (from, msgRandom) within seven days returns the first
// broadcast with Duplicate set.
func (s *Service) Create(ctx context.Context, r Request) (_ View, err error) {
	now := s.now()
	m, sp, err := r.Validate(now)
	if err != nil {
		return View{}, err
	}
	id := randomID()
	if r.MsgRandom != nil {
		key := "broadcast#" + r.From + "#" + strconv.FormatUint(uint64(*r.MsgRandom), 10)
		id = stableID(key)
		c, cerr := s.st.Claim(ctx, key, now.Add(time.Minute))
		if cerr != nil {
			return View{}, cerr
		}
		if !c.Claimed {
			if !c.Done {
				return View{}, ErrInProgress
			}
			v, gerr := s.Get(ctx, string(c.Value))
			v.Duplicate = true
			return v, gerr
		}
		defer func() {
			if err == nil {
				_ = s.st.Complete(ctx, key, []byte(id), now.Add(dedupWindow))
			} else {
				// Nothing was created: free the msgRandom for a retry.
				_ = s.st.Complete(ctx, key, nil, s.now())
			}
		}()
	}
	m.ID = id
	job := store.Job{ID: id, Message: *m, Status: store.JobPlanning, CreatedAt: now.UTC().Truncate(time.Millisecond)}
	if sp.SendAt != nil || sp.Cron != "" {
		job.Status = store.JobScheduled
	}
	if users := sp.Audience.Users; users != nil {
		// The list is stored in chunks of one batch each, not in the spec.
		for n := 0; n*PageSize < len(users); n++ {
			if err = s.st.PutJobUsers(ctx, id, n, users[n*PageSize:min((n+1)*PageSize, len(users))]); err != nil {
				return View{}, err
			}
			sp.ListChunks = n + 1
		}
		sp.ListUsers = len(users)
		sp.Audience.Users = []string{}
	}
	if job.Spec, err = json.Marshal(sp); err != nil {
		return View{}, err
	}
	if err = s.st.PutJob(ctx, job); err != nil {
		return View{}, err
	}
	switch {
	case sp.SendAt != nil:
		err = s.sched.Schedule(ctx, id, AtExpression(*sp.SendAt), "UTC")
	case sp.Cron != "":
		err = s.sched.Schedule(ctx, id, sp.Cron, sp.Timezone)
	default:
		err = s.planner.Start(ctx, id)
	}
	if err != nil {
		if _, ferr := s.st.SetJobStatus(ctx, id, []store.JobStatus{store.JobScheduled, store.JobPlanning}, store.JobFailed, s.now()); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return View{}, fmt.Errorf("start broadcast %s: %w", id, err)
	}
	return view(job)
}

// Restore schedules again every broadcast still waiting for its time: the
// local scheduler keeps schedules in memory only.
func (s *Service) Restore(ctx context.Context) error {
	jobs, err := s.st.ListJobs(ctx, store.JobScheduled, MaxList)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		sp, err := spec(j)
		if err != nil {
			return err
		}
		switch {
		case sp.Cron != "":
			err = s.sched.Schedule(ctx, j.ID, sp.Cron, sp.Timezone)
		case sp.SendAt != nil && sp.SendAt.After(s.now()):
			err = s.sched.Schedule(ctx, j.ID, AtExpression(*sp.SendAt), "UTC")
		case sp.SendAt != nil:
			err = s.Fire(ctx, j.ID, *sp.SendAt) // its time passed while the server was down
		}
		if err != nil {
			return fmt.Errorf("restore the schedule of %s: %w", j.ID, err)
		}
	}
	return nil
}

// Get returns a broadcast, or store.ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	j, err := s.st.GetJob(ctx, id)
	if err != nil {
		return View{}, err
	}
	return view(j)
}

// MaxList is the most broadcasts a listing returns.
const MaxList = 100

// List returns recent broadcasts, of one status or all.
func (s *Service) List(ctx context.Context, status store.JobStatus) ([]View, error) {
	jobs, err := s.st.ListJobs(ctx, status, MaxList)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(jobs))
	for _, j := range jobs {
		v, err := view(j)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ErrFinished: the broadcast already completed, failed or was cancelled.
var ErrFinished = errors.New("broadcast already finished")

// Cancel stops a broadcast: batches not yet sent are dropped, its schedule
// is removed. A finished broadcast gives ErrFinished.
func (s *Service) Cancel(ctx context.Context, id string) (View, error) {
	j, err := s.st.SetJobStatus(ctx, id, []store.JobStatus{store.JobScheduled, store.JobPlanning, store.JobSending}, store.JobCancelled, s.now())
	if errors.Is(err, store.ErrConflict) {
		return View{}, ErrFinished
	}
	if err != nil {
		return View{}, err
	}
	if err := s.sched.Unschedule(ctx, id); err != nil {
		return View{}, fmt.Errorf("remove the schedule of %s: %w", id, err)
	}
	return view(j)
}

// Fire runs a scheduled broadcast: a one-time broadcast starts; a cron
// campaign starts a new run, a broadcast of its own whose ID the firing's
// scheduled time at makes unique (now, if at is zero), so a repeated or
// retried firing starts nothing twice.
func (s *Service) Fire(ctx context.Context, id string, at time.Time) error {
	j, err := s.st.GetJob(ctx, id)
	if err != nil {
		return fmt.Errorf("fire broadcast %s: %w", id, err)
	}
	if j.Status != store.JobScheduled {
		return nil // cancelled, or already started by an earlier firing
	}
	sp, err := spec(j)
	if err != nil {
		return err
	}
	if sp.Cron == "" {
		return s.planner.Start(ctx, id)
	}
	if at.IsZero() {
		at = s.now()
	}
	now := at.UTC().Truncate(time.Minute)
	runID := id + "-" + now.Format("20060102T1504")
	c, err := s.st.Claim(ctx, "run#"+runID, now.Add(dedupWindow))
	if err != nil || !c.Claimed {
		return err
	}
	run := sp
	run.CampaignID, run.Cron, run.SendAt = id, "", nil
	raw, err := json.Marshal(run)
	if err != nil {
		return err
	}
	m := j.Message
	m.ID = runID
	if err := s.st.PutJob(ctx, store.Job{ID: runID, Message: m, Spec: raw, Status: store.JobPlanning, CreatedAt: now}); err != nil {
		return err
	}
	return s.planner.Start(ctx, runID)
}

func stableID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "b" + hex.EncodeToString(sum[:10])
}

func randomID() string {
	var b [10]byte
	rand.Read(b[:])
	return "b" + hex.EncodeToString(b[:])
}
