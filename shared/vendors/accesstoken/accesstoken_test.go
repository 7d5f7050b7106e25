package accesstoken

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type memStore struct {
	mu   sync.Mutex
	toks map[string]struct {
		tok string
		exp time.Time
	}
	puts int
}

func (m *memStore) GetVendorToken(_ context.Context, key string) (string, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.toks[key]
	return v.tok, v.exp, nil
}

func (m *memStore) PutVendorToken(_ context.Context, key, tok string, exp time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.toks == nil {
		m.toks = map[string]struct {
			tok string
			exp time.Time
		}{}
	}
	m.toks[key] = struct {
		tok string
		exp time.Time
	}{tok, exp}
	m.puts++
	return nil
}

func fetcher(n *atomic.Int32, life time.Duration) Fetch {
	return func(ctx context.Context) (string, time.Duration, error) {
		return fmt.Sprintf("tok-%d", n.Add(1)), life, nil
	}
}

func TestTokenCachedAndRefreshedBeforeExpiry(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	var n atomic.Int32
	s := New("huawei#1", fetcher(&n, time.Hour), Options{Now: c.Now})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if tok, err := s.Token(ctx); err != nil || tok != "tok-1" {
			t.Fatalf("call %d: %q %v", i, tok, err)
		}
	}
	c.Add(54 * time.Minute) // one hour tokens: refreshed 6 minutes (a tenth) early at most
	if tok, _ := s.Token(ctx); tok != "tok-1" {
		t.Fatalf("refreshed too early: %q", tok)
	}
	c.Add(2 * time.Minute)
	if tok, _ := s.Token(ctx); tok != "tok-2" {
		t.Fatalf("not refreshed before expiry: %q", tok)
	}
	if n.Load() != 2 {
		t.Fatalf("%d fetches, want 2", n.Load())
	}
}

func TestSingleFlight(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	var n atomic.Int32
	release := make(chan struct{})
	slow := func(ctx context.Context) (string, time.Duration, error) {
		<-release
		return fmt.Sprintf("tok-%d", n.Add(1)), time.Hour, nil
	}
	s := New("vivo#1", slow, Options{Now: c.Now})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tok, err := s.Token(context.Background()); err != nil || tok != "tok-1" {
				t.Errorf("%q %v", tok, err)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if n.Load() != 1 {
		t.Fatalf("%d fetches for 20 concurrent callers, want 1", n.Load())
	}
}

func TestSharedThroughStore(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	st := &memStore{}
	var n atomic.Int32
	a := New("oppo#k", fetcher(&n, 24*time.Hour), Options{Now: c.Now, Store: st})
	b := New("oppo#k", fetcher(&n, 24*time.Hour), Options{Now: c.Now, Store: st})
	ta, _ := a.Token(context.Background())
	tb, _ := b.Token(context.Background())
	if ta != tb || n.Load() != 1 || st.puts != 1 {
		t.Fatalf("a second container fetched again: %q %q, %d fetches", ta, tb, n.Load())
	}
}

func TestInvalidateFetchesANewToken(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	st := &memStore{}
	var n atomic.Int32
	s := New("huawei#1", fetcher(&n, time.Hour), Options{Now: c.Now, Store: st})
	old, _ := s.Token(context.Background())
	s.Invalidate("not-the-current-token")
	if tok, _ := s.Token(context.Background()); tok != old {
		t.Fatal("invalidating another token dropped the current one")
	}
	s.Invalidate(old)
	tok, _ := s.Token(context.Background())
	if tok == old || tok != "tok-2" {
		t.Fatalf("after invalidation got %q (the store's copy of the refused token must not come back)", tok)
	}
}

func TestFetchErrorsAndLimit(t *testing.T) {
	boom := errors.New("vendor down")
	s := New("vivo#1", func(context.Context) (string, time.Duration, error) { return "", 0, boom }, Options{})
	if _, err := s.Token(context.Background()); !errors.Is(err, boom) || !errors.Is(err, ErrFetch) {
		t.Fatalf("error %v", err)
	}
	empty := New("vivo#2", func(context.Context) (string, time.Duration, error) { return "", time.Hour, nil }, Options{})
	if _, err := empty.Token(context.Background()); !errors.Is(err, ErrFetch) {
		t.Fatalf("empty token accepted: %v", err)
	}
	// A limiter with no tokens left and a cancelled context: the fetch waits
	// for the limiter and gives up.
	lim := rate.NewLimiter(rate.Every(time.Hour), 1)
	lim.Allow()
	var n atomic.Int32
	limited := New("vivo#3", fetcher(&n, time.Hour), Options{Limit: lim})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := limited.Token(ctx); err == nil || n.Load() != 0 {
		t.Fatalf("limited fetch went through: %v, %d fetches", err, n.Load())
	}
}
