package embedded

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// kv is the small transactional key-value seam the store logic runs on:
// an in-memory map for OFFPUSH_STORE=memory, bbolt for file:<path>.
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
}

var buckets = []string{bucketUsers, bucketIndex, bucketCerts, bucketMeta, bucketCaptured}

const (
	bucketUsers    = "users"
	bucketIndex    = "index"
	bucketCerts    = "certs"
	bucketMeta     = "meta"
	bucketCaptured = "captured"
)

// memKV keeps everything in maps. Writers are serialised; a transaction
// stages its writes and applies them only if fn succeeds.
type memKV struct {
	mu   sync.RWMutex
	data map[string]map[string][]byte
}

func newMemKV() *memKV {
	m := &memKV{data: map[string]map[string][]byte{}}
	for _, b := range buckets {
		m.data[b] = map[string][]byte{}
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
		for k, v := range w {
			if v == nil {
				delete(m.data[b], k)
			} else {
				m.data[b][k] = v
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
	return t.kv.data[bucket][key]
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
	seen := map[string]bool{}
	var keys []string
	for k := range t.writes[bucket] {
		seen[k] = true
		keys = append(keys, k)
	}
	for k := range t.kv.data[bucket] {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(k) < len(prefix) || k[:len(prefix)] != prefix {
			continue
		}
		if v := t.get(bucket, k); v != nil {
			if err := fn(k, v); err != nil {
				return err
			}
		}
	}
	return nil
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
	c := t.t.Bucket([]byte(bucket)).Cursor()
	p := []byte(prefix)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if err := fn(string(k), v); err != nil {
			return err
		}
	}
	return nil
}
