package dynamo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/offpush/offpush/shared/store"
)

// jobPrefix starts the pk of a bulk job's jobs-table item: job#<id>.
const jobPrefix = "job#"

func jobKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(jobPrefix + id), attrSK: str(singleSK)}
}

// PutJob stores the job as JSON, deleted by the TTL store.JobRetention after
// it was created.
func (s *Store) PutJob(ctx context.Context, j store.Job) error {
	data, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("put job %s: %w", j.ID, err)
	}
	created := j.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	item := jobKey(j.ID)
	item[attrData] = str(string(data))
	item[attrExpiresAt] = num(ttlSeconds(created.Add(store.JobRetention)))
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.jobs, Item: item}); err != nil {
		return fmt.Errorf("put job %s: %w", j.ID, err)
	}
	return nil
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
	r := reader{m: out.Item}
	data := r.str(attrData)
	if r.err != nil {
		return store.Job{}, fmt.Errorf("get job %s: %w", id, r.err)
	}
	var j store.Job
	if err := json.Unmarshal([]byte(data), &j); err != nil {
		return store.Job{}, fmt.Errorf("get job %s: %w", id, err)
	}
	return j, nil
}
