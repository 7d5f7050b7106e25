package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/store"
)

func jobKey(id string) string { return "job#" + id }

func getJob(t tx, id string) (store.Job, error) {
	var j store.Job
	raw := t.get(bucketMeta, jobKey(id))
	if raw == nil {
		return j, store.ErrNotFound
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return j, fmt.Errorf("decode job %s: %w", id, err)
	}
	return j, nil
}

// PutJob implements store.Store.
func (s *Store) PutJob(_ context.Context, j store.Job) error {
	err := s.kv.update(func(t tx) error { return writeJSON(t, bucketMeta, jobKey(j.ID), j) })
	if err != nil {
		return fmt.Errorf("put job %s: %w", j.ID, err)
	}
	return nil
}

// GetJob implements store.Store.
func (s *Store) GetJob(_ context.Context, id string) (store.Job, error) {
	var j store.Job
	err := s.kv.view(func(t tx) error {
		var err error
		j, err = getJob(t, id)
		return err
	})
	if err == store.ErrNotFound {
		return j, err
	}
	if err != nil {
		return j, fmt.Errorf("get job %s: %w", id, err)
	}
	return j, nil
}

// ListJobs implements store.Store.
func (s *Store) ListJobs(_ context.Context, status store.JobStatus, limit int) ([]store.Job, error) {
	var all []store.Job
	err := s.kv.view(func(t tx) error {
		return t.each(bucketMeta, "job#", func(_ string, raw []byte) error {
			var j store.Job
			if err := json.Unmarshal(raw, &j); err != nil {
				return err
			}
			if status == "" || j.Status == status {
				all = append(all, j)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	sort.SliceStable(all, func(a, b int) bool {
		if !all[a].CreatedAt.Equal(all[b].CreatedAt) {
			return all[a].CreatedAt.After(all[b].CreatedAt)
		}
		return all[a].ID > all[b].ID
	})
	if len(all) > limit {
		all = all[:limit]
	}
	if all == nil {
		all = []store.Job{}
	}
	return all, nil
}

// updateJob applies fn to a job in one transaction.
func (s *Store) updateJob(id string, fn func(j *store.Job) error) (store.Job, error) {
	var out store.Job
	err := s.kv.update(func(t tx) error {
		j, err := getJob(t, id)
		if err != nil {
			return err
		}
		if err := fn(&j); err != nil {
			return err
		}
		out = j
		return writeJSON(t, bucketMeta, jobKey(id), j)
	})
	return out, err
}

// SetJobStatus implements store.Store.
func (s *Store) SetJobStatus(_ context.Context, id string, from []store.JobStatus, to store.JobStatus, at time.Time) (store.Job, error) {
	j, err := s.updateJob(id, func(j *store.Job) error {
		ok := false
		for _, f := range from {
			ok = ok || j.Status == f
		}
		if !ok {
			return store.ErrConflict
		}
		j.Status = to
		if !at.IsZero() {
			at := at.UTC().Truncate(time.Millisecond)
			switch to {
			case store.JobPlanning, store.JobSending:
				if j.StartedAt == nil {
					j.StartedAt = &at
				}
			case store.JobCompleted, store.JobCancelled, store.JobFailed:
				j.CompletedAt = &at
			}
		}
		return nil
	})
	if err != nil && err != store.ErrNotFound && err != store.ErrConflict {
		err = fmt.Errorf("set status of job %s: %w", id, err)
	}
	return j, err
}

// AddJobCounts implements store.Store.
func (s *Store) AddJobCounts(_ context.Context, id string, d store.JobCounts) (store.Job, error) {
	return s.updateJob(id, func(j *store.Job) error {
		c := &j.Counts
		c.Users += d.Users
		c.Batches += d.Batches
		c.BatchesDone += d.BatchesDone
		c.Devices += d.Devices
		c.Sent += d.Sent
		c.Skipped += d.Skipped
		c.Failed += d.Failed
		c.InvalidTokens += d.InvalidTokens
		return nil
	})
}

// FinishPlanning implements store.Store.
func (s *Store) FinishPlanning(_ context.Context, id string) (store.Job, error) {
	return s.updateJob(id, func(j *store.Job) error {
		j.Planned = true
		return nil
	})
}

func checkpointKey(jobID string, segment int) string {
	return "ckpt#" + jobID + "#" + strconv.Itoa(segment)
}

// GetCheckpoint implements store.Store.
func (s *Store) GetCheckpoint(_ context.Context, jobID string, segment int) (store.Checkpoint, error) {
	var cp store.Checkpoint
	err := s.kv.view(func(t tx) error {
		if raw := t.get(bucketMeta, checkpointKey(jobID, segment)); raw != nil {
			return json.Unmarshal(raw, &cp)
		}
		return nil
	})
	return cp, err
}

// SaveCheckpoint implements store.Store.
func (s *Store) SaveCheckpoint(_ context.Context, jobID string, segment int, expected int64, cp store.Checkpoint) error {
	return s.kv.update(func(t tx) error {
		var cur store.Checkpoint
		if raw := t.get(bucketMeta, checkpointKey(jobID, segment)); raw != nil {
			if err := json.Unmarshal(raw, &cur); err != nil {
				return err
			}
		}
		if cur.NextBatch != expected {
			return store.ErrConflict
		}
		return writeJSON(t, bucketMeta, checkpointKey(jobID, segment), cp)
	})
}

func jobUsersKey(jobID string, n int) string { return fmt.Sprintf("jobusers#%s#%08d", jobID, n) }

// PutJobUsers implements store.Store.
func (s *Store) PutJobUsers(_ context.Context, jobID string, n int, users []string) error {
	return s.kv.update(func(t tx) error { return writeJSON(t, bucketMeta, jobUsersKey(jobID, n), users) })
}

// GetJobUsers implements store.Store.
func (s *Store) GetJobUsers(_ context.Context, jobID string, n int) ([]string, error) {
	var users []string
	err := s.kv.view(func(t tx) error {
		if raw := t.get(bucketMeta, jobUsersKey(jobID, n)); raw != nil {
			return json.Unmarshal(raw, &users)
		}
		return nil
	})
	return users, err
}

// indexEntryKey is a user's entry under an index key; NUL separates them
// because tags and attribute values may hold any other character.
func indexEntryKey(key, userID string) string { return "idx\x00" + key + "\x00" + userID }

// UpdateTags implements store.Store.
func (s *Store) UpdateTags(_ context.Context, userID string, add, remove []string) ([]string, error) {
	var out []string
	err := s.kv.update(func(t tx) error {
		u, err := readUser(t, userID)
		if err != nil {
			return err
		}
		if u == nil {
			u = &userRecord{Devices: map[string]device.Device{}}
		}
		set := map[string]bool{}
		for _, tg := range u.Tags {
			set[tg] = true
		}
		for _, tg := range remove {
			if set[tg] {
				delete(set, tg)
				if err := t.del(bucketIndex, indexEntryKey(store.TagKey(tg), userID)); err != nil {
					return err
				}
			}
		}
		for _, tg := range add {
			if !set[tg] {
				set[tg] = true
				if err := t.put(bucketIndex, indexEntryKey(store.TagKey(tg), userID), []byte{1}); err != nil {
					return err
				}
			}
		}
		if len(set) > store.MaxTags {
			return store.ErrLimit
		}
		u.Tags = u.Tags[:0]
		for tg := range set {
			u.Tags = append(u.Tags, tg)
		}
		sort.Strings(u.Tags)
		out = append([]string{}, u.Tags...)
		return writeJSON(t, bucketUsers, userID, u)
	})
	if err != nil && err != store.ErrLimit {
		return nil, fmt.Errorf("update tags of %s: %w", userID, err)
	}
	return out, err
}

// UpdateAttributes implements store.Store.
func (s *Store) UpdateAttributes(_ context.Context, userID string, set map[string]*string) (map[string]string, error) {
	var out map[string]string
	err := s.kv.update(func(t tx) error {
		u, err := readUser(t, userID)
		if err != nil {
			return err
		}
		if u == nil {
			u = &userRecord{Devices: map[string]device.Device{}}
		}
		if u.Attrs == nil {
			u.Attrs = map[string]string{}
		}
		var names []string
		if raw := t.get(bucketMeta, "attrnames"); raw != nil {
			if err := json.Unmarshal(raw, &names); err != nil {
				return err
			}
		}
		known := map[string]bool{}
		for _, n := range names {
			known[n] = true
		}
		for name, v := range set {
			if old, ok := u.Attrs[name]; ok {
				if err := t.del(bucketIndex, indexEntryKey(store.AttributeKey(name, old), userID)); err != nil {
					return err
				}
				delete(u.Attrs, name)
			}
			if v == nil {
				continue
			}
			if !known[name] {
				known[name] = true
				names = append(names, name)
			}
			u.Attrs[name] = *v
			if err := t.put(bucketIndex, indexEntryKey(store.AttributeKey(name, *v), userID), []byte{1}); err != nil {
				return err
			}
		}
		if len(names) > store.MaxAttributeNames {
			return store.ErrLimit
		}
		sort.Strings(names)
		if err := writeJSON(t, bucketMeta, "attrnames", names); err != nil {
			return err
		}
		out = make(map[string]string, len(u.Attrs))
		for k, v := range u.Attrs {
			out[k] = v
		}
		return writeJSON(t, bucketUsers, userID, u)
	})
	if err != nil && err != store.ErrLimit {
		return nil, fmt.Errorf("update attributes of %s: %w", userID, err)
	}
	return out, err
}

// ScanUserIDs implements store.Store.
func (s *Store) ScanUserIDs(_ context.Context, segment, segments int, cursor string, limit int) ([]string, string, error) {
	var ids []string
	var more bool
	err := s.kv.view(func(t tx) error {
		return t.eachFrom(bucketUsers, "", keyAfter(cursor), func(k string, _ []byte) error {
			if k <= cursor || store.Segment(k, segments) != segment {
				return nil
			}
			if len(ids) == limit {
				more = true
				return errStop
			}
			ids = append(ids, k)
			return nil
		})
	})
	if err != nil && err != errStop {
		return nil, "", fmt.Errorf("scan users: %w", err)
	}
	if !more || len(ids) == 0 {
		return ids, "", nil
	}
	return ids, ids[len(ids)-1], nil
}

// IndexUserIDs implements store.Store.
func (s *Store) IndexUserIDs(_ context.Context, key, after string, limit int) ([]string, string, error) {
	prefix := indexEntryKey(key, "")
	var ids []string
	var more bool
	err := s.kv.view(func(t tx) error {
		return t.eachFrom(bucketIndex, prefix, prefix+keyAfter(after), func(k string, _ []byte) error {
			id := strings.TrimPrefix(k, prefix)
			if id <= after {
				return nil
			}
			if len(ids) == limit {
				more = true
				return errStop
			}
			ids = append(ids, id)
			return nil
		})
	})
	if err != nil && err != errStop {
		return nil, "", fmt.Errorf("read index %s: %w", key, err)
	}
	if !more || len(ids) == 0 {
		return ids, "", nil
	}
	return ids, ids[len(ids)-1], nil
}

// keyAfter is the least key greater than cursor ("" for none): where a page
// after cursor starts.
func keyAfter(cursor string) string {
	if cursor == "" {
		return ""
	}
	return cursor + "\x00"
}

// errStop ends an iteration early.
var errStop = fmt.Errorf("stop")
