package embedded

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// kvs returns both kv implementations, empty.
func kvs(t *testing.T) map[string]kv {
	b, err := openBolt(filepath.Join(t.TempDir(), "kv.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.close() })
	return map[string]kv{"memory": newMemKV(), "bolt": b}
}

// collect runs an iteration and returns the keys and values it visited.
func collect(t *testing.T, run func(fn func(string, []byte) error) error) []string {
	t.Helper()
	var out []string
	if err := run(func(k string, v []byte) error {
		out = append(out, k+"="+string(v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// model is what the iterations must visit: the keys of m with prefix, from
// start, ascending or descending.
func model(m map[string]string, prefix, start string, desc bool) []string {
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, prefix) && k >= start {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if desc {
		slices.Reverse(keys)
	}
	var out []string
	for _, k := range keys {
		out = append(out, k+"="+m[k])
	}
	return out
}

// TestKVIteration checks each, eachFrom and eachReverse of both kv
// implementations against a model, in read-only transactions and in
// writing ones whose staged puts and deletes must show.
func TestKVIteration(t *testing.T) {
	for name, store := range kvs(t) {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			m := map[string]string{}
			key := func() string {
				// Short keys over a small alphabet, 0xff included, so prefixes,
				// ends of prefix ranges and seeks land on and between keys.
				const alphabet = "ab\x00\xff"
				n := 1 + rng.IntN(4)
				b := make([]byte, n)
				for i := range b {
					b[i] = alphabet[rng.IntN(len(alphabet))]
				}
				return string(b)
			}
			for round := 0; round < 60; round++ {
				staged := map[string]string{}
				for k, v := range m {
					staged[k] = v
				}
				err := store.update(func(t2 tx) error {
					for i := 0; i < 1+rng.IntN(12); i++ {
						k := key()
						if rng.IntN(3) == 0 {
							delete(staged, k)
							if err := t2.del(bucketIndex, k); err != nil {
								return err
							}
							continue
						}
						v := fmt.Sprint(round, "-", i)
						staged[k] = v
						if err := t2.put(bucketIndex, k, []byte(v)); err != nil {
							return err
						}
					}
					// Inside the writing transaction the staged writes show.
					for i := 0; i < 8; i++ {
						prefix, start := key()[:rng.IntN(2)], key()
						if got, want := collect(t, func(fn func(string, []byte) error) error { return t2.each(bucketIndex, prefix, fn) }), model(staged, prefix, prefix, false); !slices.Equal(got, want) {
							return fmt.Errorf("staged each(%q): %q, want %q", prefix, got, want)
						}
						if got, want := collect(t, func(fn func(string, []byte) error) error { return t2.eachFrom(bucketIndex, prefix, start, fn) }), model(staged, prefix, max(start, prefix), false); !slices.Equal(got, want) {
							return fmt.Errorf("staged eachFrom(%q, %q): %q, want %q", prefix, start, got, want)
						}
						if got, want := collect(t, func(fn func(string, []byte) error) error { return t2.eachReverse(bucketIndex, prefix, fn) }), model(staged, prefix, prefix, true); !slices.Equal(got, want) {
							return fmt.Errorf("staged eachReverse(%q): %q, want %q", prefix, got, want)
						}
					}
					if rng.IntN(4) == 0 {
						return errStop // rolled back
					}
					return nil
				})
				switch err {
				case nil:
					m = staged
				case errStop:
				default:
					t.Fatal(err)
				}
				store.view(func(t2 tx) error {
					for _, prefix := range []string{"", "a", "b", "\xff", "a\xff", "\xff\xff", "ab"} {
						for i := 0; i < 4; i++ {
							start := key()
							if got, want := collect(t, func(fn func(string, []byte) error) error { return t2.eachFrom(bucketIndex, prefix, start, fn) }), model(m, prefix, max(start, prefix), false); !slices.Equal(got, want) {
								t.Fatalf("eachFrom(%q, %q): %q, want %q", prefix, start, got, want)
							}
						}
						if got, want := collect(t, func(fn func(string, []byte) error) error { return t2.each(bucketIndex, prefix, fn) }), model(m, prefix, prefix, false); !slices.Equal(got, want) {
							t.Fatalf("each(%q): %q, want %q", prefix, got, want)
						}
						if got, want := collect(t, func(fn func(string, []byte) error) error { return t2.eachReverse(bucketIndex, prefix, fn) }), model(m, prefix, prefix, true); !slices.Equal(got, want) {
							t.Fatalf("eachReverse(%q): %q, want %q", prefix, got, want)
						}
					}
					return nil
				})
			}
		})
	}
}

// TestKVIterationStopsAndWrites checks that an iteration ends at the first
// error fn returns, and that fn may write and delete while iterating: keys
// it deletes ahead are not visited, keys it adds are not (the iteration
// works on the keys as they were when it started), as before the B-tree.
func TestKVIterationStopsAndWrites(t *testing.T) {
	for name, store := range kvs(t) {
		t.Run(name, func(t *testing.T) {
			if err := store.update(func(t2 tx) error {
				for _, k := range []string{"k1", "k2", "k3", "k4"} {
					if err := t2.put(bucketMeta, k, []byte(k)); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var seen []string
			err := store.view(func(t2 tx) error {
				return t2.eachFrom(bucketMeta, "k", "k2", func(k string, _ []byte) error {
					seen = append(seen, k)
					if k == "k3" {
						return errStop
					}
					return nil
				})
			})
			if err != errStop || fmt.Sprint(seen) != "[k2 k3]" {
				t.Fatalf("stopped iteration: %v, %v", seen, err)
			}
			if name == "bolt" {
				return // bbolt's cursor semantics under writes are bbolt's own
			}
			seen = nil
			if err := store.update(func(t2 tx) error {
				return t2.each(bucketMeta, "k", func(k string, _ []byte) error {
					seen = append(seen, k)
					if k == "k1" {
						if err := t2.del(bucketMeta, "k3"); err != nil {
							return err
						}
						return t2.put(bucketMeta, "k25", []byte("new"))
					}
					return nil
				})
			}); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(seen) != "[k1 k2 k4]" {
				t.Fatalf("writes during iteration: visited %v", seen)
			}
			var after []string
			store.view(func(t2 tx) error {
				return t2.each(bucketMeta, "", func(k string, _ []byte) error { after = append(after, k); return nil })
			})
			if fmt.Sprint(after) != "[k1 k2 k25 k4]" {
				t.Fatalf("after the transaction: %v", after)
			}
		})
	}
}
