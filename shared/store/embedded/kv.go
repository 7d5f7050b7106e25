package embedded

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"
	bolt "go.etcd.io/bbolt"
)

// kv is the small transactional key-value seam the store logic runs on:
// maps with ordered key B-trees for OFFPUSH_STORE=memory, bbolt for
// file:<path>.
type kv interface {
	update(fn func(tx) error) error
	view(fn func(tx) error) error
	close() error
}

// tx is one transaction. Values passed to put are owned by the transaction;
// values returned by get are valid only inside it.
type tx interface {
	get(bucket, key string) []byte
	put(bucket, key string, value []byte) error
	del(bucket, key string) error
	// each visits the bucket's keys with prefix in ascending order.
	each(bucket, prefix string, fn func(key string, value []byte) error) error
	// eachFrom visits the bucket's keys with prefix from start (inclusive)
	// in ascending order. It seeks to start: the keys before it are not
	// read, so a page after a cursor costs O(log n + k).
	eachFrom(bucket, prefix, start string, fn func(key string, value []byte) error) error
	// eachReverse visits the bucket's keys with prefix in descending order.
	eachReverse(bucket, prefix string, fn func(key string, value []byte) error) error
}

var buckets = []string{bucketUsers, bucketIndex, bucketCerts, bucketMeta, bucketCaptured}

const (
	bucketUsers    = "users"
	bucketIndex    = "index"
	bucketCerts    = "certs"
	bucketMeta     = "meta"
	bucketCaptured = "captured"
)

// memDegree is the B-tree degree of the in-memory buckets' key order.
const memDegree = 32

// memBucket is one in-memory bucket: its values in a map, for O(1) reads,
// and its keys in an ordered B-tree, so iteration from a key seeks rather
// than sorting every key.
type memBucket struct {
	values map[string][]byte
	keys   *btree.BTreeG[string]
}

// memKV keeps everything in memBuckets. Writers are serialised; a
// transaction stages its writes and applies them only if fn succeeds.
type memKV struct {
	mu   sync.RWMutex
	data map[string]*memBucket
}

func newMemKV() *memKV {
	m := &memKV{data: map[string]*memBucket{}}
	for _, b := range buckets {
		m.data[b] = &memBucket{values: map[string][]byte{}, keys: btree.NewOrderedG[string](memDegree)}
	}
	return m
}

type memTx struct {
	kv      *memKV
	writes  map[string]map[string][]byte // nil value: deleted
	writing bool
}

func (m *memKV) update(fn func(tx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &memTx{kv: m, writes: map[string]map[string][]byte{}, writing: true}
	if err := fn(t); err != nil {
		return err
	}
	for b, w := range t.writes {
		mb := m.data[b]
		for k, v := range w {
			_, had := mb.values[k]
			switch {
			case v == nil && had:
				delete(mb.values, k)
				mb.keys.Delete(k)
			case v != nil:
				mb.values[k] = v
				if !had {
					mb.keys.ReplaceOrInsert(k)
				}
			}
		}
	}
	return nil
}

func (m *memKV) view(fn func(tx) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return fn(&memTx{kv: m})
}

func (m *memKV) close() error { return nil }

func (t *memTx) get(bucket, key string) []byte {
	if w, ok := t.writes[bucket]; ok {
		if v, ok := w[key]; ok {
			return v
		}
	}
	if mb := t.kv.data[bucket]; mb != nil {
		return mb.values[key]
	}
	return nil
}

func (t *memTx) stage(bucket, key string, v []byte) error {
	if !t.writing {
		return errors.New("write in a read-only transaction")
	}
	w := t.writes[bucket]
	if w == nil {
		w = map[string][]byte{}
		t.writes[bucket] = w
	}
	w[key] = v
	return nil
}

func (t *memTx) put(bucket, key string, value []byte) error {
	return t.stage(bucket, key, bytes.Clone(value))
}

func (t *memTx) del(bucket, key string) error { return t.stage(bucket, key, nil) }

func (t *memTx) each(bucket, prefix string, fn func(string, []byte) error) error {
	return t.eachFrom(bucket, prefix, prefix, fn)
}

// staged returns the keys this transaction wrote in bucket that have prefix
// and pass keep, sorted ascending (descending with desc). Iterations take
// them once, at their start, as they take the stored keys: keys written by
// fn during an iteration are not visited; keys deleted by it are skipped.
func (t *memTx) staged(bucket, prefix string, keep func(string) bool, desc bool) []string {
	var keys []string
	for k := range t.writes[bucket] {
		if strings.HasPrefix(k, prefix) && keep(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if desc {
		slices.Reverse(keys)
	}
	return keys
}

// memWalk merges a tree walk with the transaction's staged keys (both in
// the walk's order; before reports whether a comes first) and calls fn on
// each key's current value, skipping deleted keys.
type memWalk struct {
	t      *memTx
	bucket string
	staged []string
	before func(a, b string) bool
	fn     func(string, []byte) error
	err    error
}

func (w *memWalk) visit(k string) bool {
	if v := w.t.get(w.bucket, k); v != nil {
		if err := w.fn(k, v); err != nil {
			w.err = err
			return false
		}
	}
	return true
}

// stored is called for each stored key in order; it returns false to stop.
func (w *memWalk) stored(k string) bool {
	for len(w.staged) > 0 && !w.before(k, w.staged[0]) {
		s := w.staged[0]
		w.staged = w.staged[1:]
		if s == k {
			break // visited below, with the staged value
		}
		if !w.visit(s) {
			return false
		}
	}
	return w.visit(k)
}

// rest visits the staged keys after the last stored one.
func (w *memWalk) rest() error {
	if w.err != nil {
		return w.err
	}
	for _, s := range w.staged {
		if !w.visit(s) {
			return w.err
		}
	}
	return nil
}

func (t *memTx) eachFrom(bucket, prefix, start string, fn func(string, []byte) error) error {
	if start < prefix {
		start = prefix
	}
	w := &memWalk{t: t, bucket: bucket, fn: fn, before: func(a, b string) bool { return a < b },
		staged: t.staged(bucket, prefix, func(k string) bool { return k >= start }, false)}
	if mb := t.kv.data[bucket]; mb != nil {
		mb.keys.AscendGreaterOrEqual(start, func(k string) bool {
			return strings.HasPrefix(k, prefix) && w.stored(k)
		})
	}
	return w.rest()
}

func (t *memTx) eachReverse(bucket, prefix string, fn func(string, []byte) error) error {
	w := &memWalk{t: t, bucket: bucket, fn: fn, before: func(a, b string) bool { return a > b },
		staged: t.staged(bucket, prefix, func(string) bool { return true }, true)}
	if mb := t.kv.data[bucket]; mb != nil {
		iter := func(k string) bool { return strings.HasPrefix(k, prefix) && w.stored(k) }
		if end, ok := prefixEnd(prefix); ok {
			mb.keys.DescendLessOrEqual(end, func(k string) bool {
				return k == end || iter(k) // end is the first key after the prefix's range
			})
		} else {
			mb.keys.Descend(iter)
		}
	}
	return w.rest()
}

// prefixEnd is the least key greater than every key with prefix; ok is
// false when there is none (an empty prefix, or one of 0xff bytes only).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// boltKV keeps everything in one bbolt file.
type boltKV struct{ db *bolt.DB }

func openBolt(path string) (*boltKV, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create store directory: %w", err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(btx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := btx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare %s: %w", path, err)
	}
	return &boltKV{db: db}, nil
}

type boltTx struct{ t *bolt.Tx }

func (b *boltKV) update(fn func(tx) error) error {
	return b.db.Update(func(t *bolt.Tx) error { return fn(boltTx{t}) })
}

func (b *boltKV) view(fn func(tx) error) error {
	return b.db.View(func(t *bolt.Tx) error { return fn(boltTx{t}) })
}

func (b *boltKV) close() error { return b.db.Close() }

func (t boltTx) get(bucket, key string) []byte {
	return t.t.Bucket([]byte(bucket)).Get([]byte(key))
}

func (t boltTx) put(bucket, key string, value []byte) error {
	return t.t.Bucket([]byte(bucket)).Put([]byte(key), value)
}

func (t boltTx) del(bucket, key string) error {
	return t.t.Bucket([]byte(bucket)).Delete([]byte(key))
}

func (t boltTx) each(bucket, prefix string, fn func(string, []byte) error) error {
	return t.eachFrom(bucket, prefix, prefix, fn)
}

func (t boltTx) eachFrom(bucket, prefix, start string, fn func(string, []byte) error) error {
	if start < prefix {
		start = prefix
	}
	c := t.t.Bucket([]byte(bucket)).Cursor()
	p := []byte(prefix)
	for k, v := c.Seek([]byte(start)); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if err := fn(string(k), v); err != nil {
			return err
		}
	}
	return nil
}

func (t boltTx) eachReverse(bucket, prefix string, fn func(string, []byte) error) error {
	c := t.t.Bucket([]byte(bucket)).Cursor()
	p := []byte(prefix)
	var k, v []byte
	if end, ok := prefixEnd(prefix); ok {
		if k, v = c.Seek([]byte(end)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	} else {
		k, v = c.Last()
	}
	for ; k != nil && bytes.HasPrefix(k, p); k, v = c.Prev() {
		if err := fn(string(k), v); err != nil {
			return err
		}
	}
	return nil
}
