package broadcast

import (
	"context"
	"sort"
	"strconv"

	"github.com/offpush/offpush/shared/store"
)

// PageSize is the most users a page of an audience holds: one queue batch.
const PageSize = 500

// Reader is what reading an audience needs of the store.
type Reader interface {
	ScanUserIDs(ctx context.Context, segment, segments int, cursor string, limit int) ([]string, string, error)
	IndexUserIDs(ctx context.Context, key, after string, limit int) ([]string, string, error)
	GetJobUsers(ctx context.Context, jobID string, n int) ([]string, error)
}

// source reads one segment of an audience in pages, resuming from a cursor.
// A page may be empty while more follow; next is "" at the end.
type source interface {
	page(ctx context.Context, cursor string) (ids []string, next string, err error)
}

// segmentsOf is how many segments an audience is planned in: everyone is
// read by a parallel scan; the other audiences are one ordered stream.
func segmentsOf(a Audience, all int) int {
	if a.All {
		return all
	}
	return 1
}

// sourceFor returns the reader of a job's audience segment. listJob is the
// job whose stored list an explicit audience reads (a campaign's runs share
// the campaign's list).
func sourceFor(r Reader, spec Spec, listJob string, segment, segments int) source {
	a := spec.Audience
	switch {
	case a.All:
		return scanSource{r: r, segment: segment, segments: segments}
	case spec.ListChunks > 0:
		return listSource{r: r, job: listJob, chunks: spec.ListChunks}
	case len(a.TagsOr) > 0:
		return mergeSource{r: r, keys: tagKeys(a.TagsOr)}
	case len(a.TagsAnd) > 0:
		return mergeSource{r: r, keys: tagKeys(a.TagsAnd), all: true}
	case len(a.AttributesOr) > 0:
		return mergeSource{r: r, keys: attrKeys(a.AttributesOr)}
	case len(a.AttributesAnd) > 0:
		return mergeSource{r: r, keys: attrKeys(a.AttributesAnd), all: true}
	}
	return emptySource{}
}

func tagKeys(tags []string) []string {
	keys := make([]string, len(tags))
	for i, t := range tags {
		keys[i] = store.TagKey(t)
	}
	return keys
}

func attrKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		keys = append(keys, store.AttributeKey(k, v))
	}
	sort.Strings(keys)
	return keys
}

type emptySource struct{}

func (emptySource) page(context.Context, string) ([]string, string, error) { return nil, "", nil }

// scanSource reads one segment of every user.
type scanSource struct {
	r                 Reader
	segment, segments int
}

func (s scanSource) page(ctx context.Context, cursor string) ([]string, string, error) {
	return s.r.ScanUserIDs(ctx, s.segment, s.segments, cursor, PageSize)
}

// listSource reads an explicit list's stored chunks; the cursor is the
// next chunk's number.
type listSource struct {
	r      Reader
	job    string
	chunks int
}

func (s listSource) page(ctx context.Context, cursor string) ([]string, string, error) {
	n := 0
	if cursor != "" {
		var err error
		if n, err = strconv.Atoi(cursor); err != nil {
			return nil, "", err
		}
	}
	ids, err := s.r.GetJobUsers(ctx, s.job, n)
	if err != nil {
		return nil, "", err
	}
	if n+1 >= s.chunks {
		return ids, "", nil
	}
	return ids, strconv.Itoa(n + 1), nil
}

// mergeSource reads the union (or, with all, the intersection) of index
// keys. Each key's members come in ascending user-ID order, so a page is
// exact up to the smallest last ID among the keys that have more: the
// cursor is the last user ID settled, and nothing is held in memory beyond
// one page per key.
type mergeSource struct {
	r    Reader
	keys []string
	all  bool
}

func (s mergeSource) page(ctx context.Context, cursor string) ([]string, string, error) {
	pages := make([][]string, len(s.keys))
	bound, more := "", false
	for i, k := range s.keys {
		ids, next, err := s.r.IndexUserIDs(ctx, k, cursor, PageSize)
		if err != nil {
			return nil, "", err
		}
		pages[i] = ids
		if next != "" {
			if !more || next < bound {
				bound = next
			}
			more = true
		}
	}
	count := map[string]int{}
	for _, ids := range pages {
		for _, id := range ids {
			if !more || id <= bound {
				count[id]++
			}
		}
	}
	out := make([]string, 0, len(count))
	for id, n := range count {
		if !s.all || n == len(s.keys) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	if len(out) > PageSize {
		// The rest of the settled range comes next time, after the cursor.
		return out[:PageSize], out[PageSize-1], nil
	}
	if !more {
		return out, "", nil
	}
	return out, bound, nil
}
