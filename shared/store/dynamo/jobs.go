package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
)

// Jobs-table items of bulk jobs (broadcast runs).
const (
	// jobPrefix starts the pk of a job item: job#<id>, sk "-".
	jobPrefix = "job#"
	// jobListPK is the pk of the job listing: one item per job, sk
	// <createdAt ms, zero-padded>#<id>, so a Query reads jobs newest first
	// without reading the rest of the jobs table.
	jobListPK = "jobs"
	// ckptPrefix starts the pk of a planner checkpoint: ckpt#<jobId>, sk the
	// zero-padded segment.
	ckptPrefix = "ckpt#"
	// jobUsersPrefix starts the pk of an explicit audience chunk:
	// jobusers#<jobId>, sk the zero-padded chunk number.
	jobUsersPrefix = "jobusers#"

	attrJobID       = "jobId"
	attrStatus      = "status"
	attrPlanned     = "planned"
	attrStartedAt   = "startedAt"
	attrCompletedAt = "completedAt"
	attrCursor      = "cursor"
	attrNextBatch   = "nextBatch"
	attrUsers       = "users"
)

// jobCounters are the job item's counters, top-level numbers so that
// AddJobCounts is one atomic ADD.
var jobCounters = []struct {
	attr  string
	field func(*store.JobCounts) *int64
}{
	{"users", func(c *store.JobCounts) *int64 { return &c.Users }},
	{"batches", func(c *store.JobCounts) *int64 { return &c.Batches }},
	{"batchesDone", func(c *store.JobCounts) *int64 { return &c.BatchesDone }},
	{"devices", func(c *store.JobCounts) *int64 { return &c.Devices }},
	{"sent", func(c *store.JobCounts) *int64 { return &c.Sent }},
	{"skipped", func(c *store.JobCounts) *int64 { return &c.Skipped }},
	{"failed", func(c *store.JobCounts) *int64 { return &c.Failed }},
	{"invalidTokens", func(c *store.JobCounts) *int64 { return &c.InvalidTokens }},
}

func jobKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(jobPrefix + id), attrSK: str(singleSK)}
}

// jobListSK orders the listing by creation time, then ID, as the embedded
// store does.
func jobListSK(created time.Time, id string) string {
	return fmt.Sprintf("%013d#%s", max(created.UnixMilli(), 0), id)
}

// jobContent is the part of a job that never changes after PutJob, stored
// as JSON in data. The field names are store.Job's, so data decodes into
// either.
type jobContent struct {
	ID        string       `json:"id"`
	Message   push.Message `json:"message"`
	Spec      []byte       `json:"spec,omitempty"`
	CreatedAt time.Time    `json:"createdAt"`
}

// PutJob stores a job whole: its content as JSON in data, and its status,
// planned flag, timestamps and counters as top-level attributes, which
// SetJobStatus, FinishPlanning and AddJobCounts change in place. With it
// goes the job's listing item, in one transaction. Both are deleted by the
// TTL store.JobRetention after the job was created — except a scheduled
// job, which waits for its time (a campaign for ever): it gets its TTL when
// it leaves scheduled (SetJobStatus), and its listing item keeps none.
//
// PutJob is for creating a job: it is called once, and a second call
// replaces the counters and status changed since, as the contract says. A
// second call with another CreatedAt leaves the first listing item behind;
// ListJobs shows the job once.
func (s *Store) PutJob(ctx context.Context, j store.Job) error {
	created := j.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	data, err := json.Marshal(jobContent{ID: j.ID, Message: j.Message, Spec: j.Spec, CreatedAt: j.CreatedAt})
	if err != nil {
		return fmt.Errorf("put job %s: %w", j.ID, err)
	}
	expires := num(ttlSeconds(created.Add(store.JobRetention)))
	item := jobKey(j.ID)
	item[attrData] = str(string(data))
	item[attrStatus] = str(string(j.Status))
	item[attrPlanned] = &types.AttributeValueMemberBOOL{Value: j.Planned}
	for _, c := range jobCounters {
		item[c.attr] = num(*c.field(&j.Counts))
	}
	if j.StartedAt != nil {
		item[attrStartedAt] = millis(*j.StartedAt)
	}
	if j.CompletedAt != nil {
		item[attrCompletedAt] = millis(*j.CompletedAt)
	}
	listing := map[string]types.AttributeValue{
		attrPK:    str(jobListPK),
		attrSK:    str(jobListSK(created, j.ID)),
		attrJobID: str(j.ID),
	}
	if j.Status != store.JobScheduled {
		item[attrExpiresAt] = expires
		listing[attrExpiresAt] = expires
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.jobs, Item: item}},
		{Put: &types.Put{TableName: &s.jobs, Item: listing}},
	}})
	if err != nil {
		return fmt.Errorf("put job %s: %w", j.ID, err)
	}
	return nil
}

// parseJob reads a job item.
func parseJob(item map[string]types.AttributeValue) (store.Job, error) {
	r := reader{m: item}
	var c jobContent
	data := r.str(attrData)
	if r.err == nil {
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return store.Job{}, err
		}
	}
	j := store.Job{
		ID:        c.ID,
		Message:   c.Message,
		Spec:      c.Spec,
		Status:    store.JobStatus(r.str(attrStatus)),
		Planned:   r.bool(attrPlanned),
		CreatedAt: c.CreatedAt,
	}
	for _, f := range jobCounters {
		*f.field(&j.Counts) = r.int(f.attr)
	}
	if r.has(attrStartedAt) {
		t := r.time(attrStartedAt)
		j.StartedAt = &t
	}
	if r.has(attrCompletedAt) {
		t := r.time(attrCompletedAt)
		j.CompletedAt = &t
	}
	if r.err != nil {
		return store.Job{}, r.err
	}
	return j, nil
}

// GetJob reads a job, consistently: the batches of a job may run the moment
// it is stored.
func (s *Store) GetJob(ctx context.Context, id string) (store.Job, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.jobs, Key: jobKey(id), ConsistentRead: ptr(true)})
	if err != nil {
		return store.Job{}, fmt.Errorf("get job %s: %w", id, err)
	}
	if out.Item == nil {
		return store.Job{}, fmt.Errorf("get job %s: %w", id, store.ErrNotFound)
	}
	j, err := parseJob(out.Item)
	if err != nil {
		return store.Job{}, fmt.Errorf("get job %s: %w", id, err)
	}
	return j, nil
}

// ListJobs queries the job listing newest first, a page of up to 100 IDs
// at a time, reads those jobs with one BatchGetItem and keeps the ones of
// the status asked, until it has limit jobs or the listing ends. Status is
// read from the job items, its one home.
func (s *Store) ListJobs(ctx context.Context, status store.JobStatus, limit int) ([]store.Job, error) {
	out := []store.Job{}
	e := newExpr()
	keyCond := e.name(attrPK) + " = " + e.value(str(jobListPK))
	in := &dynamodb.QueryInput{
		TableName:                 &s.jobs,
		KeyConditionExpression:    &keyCond,
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
		ScanIndexForward:          ptr(false),
		ConsistentRead:            ptr(true),
	}
	seen := map[string]bool{}
	for len(out) < limit {
		n := batchGetKeys
		if status == "" {
			n = min(n, limit-len(out))
		}
		in.Limit = ptr(int32(n))
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		var ids []string
		for _, item := range page.Items {
			r := reader{m: item}
			if id := r.str(attrJobID); id != "" && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		jobs, err := s.getJobs(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		for _, id := range ids {
			// A job the TTL deleted before its listing item is skipped.
			if j, ok := jobs[id]; ok && (status == "" || j.Status == status) && len(out) < limit {
				out = append(out, j)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	return out, nil
}

// getJobs reads up to 100 jobs with one BatchGetItem.
func (s *Store) getJobs(ctx context.Context, ids []string) (map[string]store.Job, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]map[string]types.AttributeValue, len(ids))
	for i, id := range ids {
		keys[i] = jobKey(id)
	}
	got, err := s.batchGet(ctx, map[string]types.KeysAndAttributes{s.jobs: {Keys: keys, ConsistentRead: ptr(true)}})
	if err != nil {
		return nil, err
	}
	jobs := make(map[string]store.Job, len(ids))
	for _, item := range got[s.jobs] {
		j, err := parseJob(item)
		if err != nil {
			return nil, err
		}
		jobs[j.ID] = j
	}
	return jobs, nil
}

// SetJobStatus moves a job with one conditional UpdateItem. When the
// condition fails, DynamoDB returns the item as it stands
// (ReturnValuesOnConditionCheckFailure), which tells a job in another state
// (ErrConflict) from a missing one (ErrNotFound) without another read.
func (s *Store) SetJobStatus(ctx context.Context, id string, from []store.JobStatus, to store.JobStatus, at time.Time) (store.Job, error) {
	e := newExpr()
	var upd update
	upd.Set(e.name(attrStatus), e.value(str(string(to))))
	// A scheduled job has no TTL while it waits; it gets one when it moves on.
	expiry := e.name(attrExpiresAt)
	upd.Set(expiry, "if_not_exists("+expiry+", "+e.value(num(ttlSeconds(s.now().Add(store.JobRetention))))+")")
	if !at.IsZero() {
		at = at.UTC().Truncate(time.Millisecond)
		switch to {
		case store.JobPlanning, store.JobSending:
			started := e.name(attrStartedAt)
			upd.Set(started, "if_not_exists("+started+", "+e.value(millis(at))+")")
		case store.JobCompleted, store.JobCancelled, store.JobFailed:
			upd.Set(e.name(attrCompletedAt), e.value(millis(at)))
		}
	}
	var cond string
	if len(from) == 0 {
		// Nothing to move from: a condition that never holds still
		// returns the item, to tell a conflict from a missing job.
		cond = "attribute_exists(" + e.name(attrPK) + ") AND attribute_not_exists(" + e.name(attrPK) + ")"
	} else {
		vals := make([]string, len(from))
		for i, f := range from {
			vals[i] = e.value(str(string(f)))
		}
		cond = e.name(attrStatus) + " IN (" + strings.Join(vals, ", ") + ")"
	}
	j, err := s.updateJob(ctx, id, upd.String(), cond, e)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		old := failed.Item
		if old == nil {
			// A DynamoDB that does not return the item: read it.
			out, gerr := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.jobs, Key: jobKey(id), ConsistentRead: ptr(true)})
			if gerr != nil {
				return store.Job{}, fmt.Errorf("set status of job %s: %w", id, gerr)
			}
			old = out.Item
		}
		if old == nil {
			return store.Job{}, fmt.Errorf("set status of job %s: %w", id, store.ErrNotFound)
		}
		return store.Job{}, fmt.Errorf("set status of job %s to %s: %w", id, to, store.ErrConflict)
	}
	if err != nil {
		return store.Job{}, fmt.Errorf("set status of job %s: %w", id, err)
	}
	return j, nil
}

// AddJobCounts adds the non-zero deltas with one UpdateItem (ADD, atomic)
// and returns the job after it.
func (s *Store) AddJobCounts(ctx context.Context, id string, delta store.JobCounts) (store.Job, error) {
	e := newExpr()
	var upd update
	for _, c := range jobCounters {
		if d := *c.field(&delta); d != 0 {
			upd.Add(e.name(c.attr), e.value(num(d)))
		}
	}
	if len(upd.add) == 0 {
		return s.GetJob(ctx, id)
	}
	j, err := s.updateJob(ctx, id, upd.String(), "attribute_exists("+e.name(attrPK)+")", e)
	if conditionFailed(err) {
		return store.Job{}, fmt.Errorf("add to the counts of job %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Job{}, fmt.Errorf("add to the counts of job %s: %w", id, err)
	}
	return j, nil
}

// FinishPlanning sets planned with one UpdateItem.
func (s *Store) FinishPlanning(ctx context.Context, id string) (store.Job, error) {
	e := newExpr()
	var upd update
	upd.Set(e.name(attrPlanned), e.value(&types.AttributeValueMemberBOOL{Value: true}))
	j, err := s.updateJob(ctx, id, upd.String(), "attribute_exists("+e.name(attrPK)+")", e)
	if conditionFailed(err) {
		return store.Job{}, fmt.Errorf("finish planning job %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Job{}, fmt.Errorf("finish planning job %s: %w", id, err)
	}
	return j, nil
}

// updateJob runs one conditional UpdateItem on a job item and returns the
// job after it. It is sent again only while PutJob's transaction holds the
// item (nothing was applied then).
func (s *Store) updateJob(ctx context.Context, id, update, cond string, e *expr) (store.Job, error) {
	var out *dynamodb.UpdateItemOutput
	err := retryConflicts(ctx, func() (err error) {
		out, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                           &s.jobs,
			Key:                                 jobKey(id),
			UpdateExpression:                    &update,
			ConditionExpression:                 &cond,
			ExpressionAttributeNames:            e.Names(),
			ExpressionAttributeValues:           e.Values(),
			ReturnValues:                        types.ReturnValueAllNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		return err
	})
	if err != nil {
		return store.Job{}, err
	}
	return parseJob(out.Attributes)
}

func checkpointKey(jobID string, segment int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(ckptPrefix + jobID), attrSK: str(fmt.Sprintf("%08d", segment))}
}

// GetCheckpoint reads a checkpoint, consistently.
func (s *Store) GetCheckpoint(ctx context.Context, jobID string, segment int) (store.Checkpoint, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.jobs, Key: checkpointKey(jobID, segment), ConsistentRead: ptr(true)})
	if err != nil {
		return store.Checkpoint{}, fmt.Errorf("get checkpoint %s/%d: %w", jobID, segment, err)
	}
	r := reader{m: out.Item}
	cp := store.Checkpoint{Cursor: r.str(attrCursor), NextBatch: r.int(attrNextBatch), Done: r.bool(attrDone)}
	if r.err != nil {
		return store.Checkpoint{}, fmt.Errorf("get checkpoint %s/%d: %w", jobID, segment, r.err)
	}
	return cp, nil
}

// SaveCheckpoint writes a checkpoint with one PutItem, conditioned on the
// stored nextBatch (a missing checkpoint counts as 0). It expires
// store.JobRetention after it was written.
func (s *Store) SaveCheckpoint(ctx context.Context, jobID string, segment int, expected int64, cp store.Checkpoint) error {
	item := checkpointKey(jobID, segment)
	if cp.Cursor != "" {
		item[attrCursor] = str(cp.Cursor)
	}
	item[attrNextBatch] = num(cp.NextBatch)
	item[attrDone] = &types.AttributeValueMemberBOOL{Value: cp.Done}
	item[attrExpiresAt] = num(ttlSeconds(s.now().Add(store.JobRetention)))
	e := newExpr()
	cond := e.name(attrNextBatch) + " = " + e.value(num(expected))
	if expected == 0 {
		cond = "attribute_not_exists(" + e.name(attrPK) + ") OR " + cond
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &s.jobs,
		Item:                      item,
		ConditionExpression:       &cond,
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
	})
	if conditionFailed(err) {
		return fmt.Errorf("save checkpoint %s/%d: %w", jobID, segment, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("save checkpoint %s/%d: %w", jobID, segment, err)
	}
	return nil
}

func jobUsersKey(jobID string, n int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(jobUsersPrefix + jobID), attrSK: str(fmt.Sprintf("%08d", n))}
}

// PutJobUsers stores a chunk as a list of strings, in order. It expires
// store.ListRetention after it was written: a scheduled broadcast or a
// campaign reads its list when it fires.
func (s *Store) PutJobUsers(ctx context.Context, jobID string, n int, users []string) error {
	list := make([]types.AttributeValue, len(users))
	for i, u := range users {
		list[i] = str(u)
	}
	item := jobUsersKey(jobID, n)
	item[attrUsers] = &types.AttributeValueMemberL{Value: list}
	item[attrExpiresAt] = num(ttlSeconds(s.now().Add(store.ListRetention)))
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.jobs, Item: item}); err != nil {
		return fmt.Errorf("put users chunk %d of job %s: %w", n, jobID, err)
	}
	return nil
}

// GetJobUsers reads a chunk, consistently; nil if there is none.
func (s *Store) GetJobUsers(ctx context.Context, jobID string, n int) ([]string, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.jobs, Key: jobUsersKey(jobID, n), ConsistentRead: ptr(true)})
	if err != nil {
		return nil, fmt.Errorf("get users chunk %d of job %s: %w", n, jobID, err)
	}
	if out.Item == nil {
		return nil, nil
	}
	l, ok := out.Item[attrUsers].(*types.AttributeValueMemberL)
	if !ok {
		return nil, fmt.Errorf("get users chunk %d of job %s: users is %T, not a list", n, jobID, out.Item[attrUsers])
	}
	users := make([]string, len(l.Value))
	for i, v := range l.Value {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return nil, fmt.Errorf("get users chunk %d of job %s: element %d is %T", n, jobID, i, v)
		}
		users[i] = s.Value
	}
	return users, nil
}
