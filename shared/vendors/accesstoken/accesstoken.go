// Package accesstoken keeps a vendor's short-lived access token (Huawei and
// Honor OAuth, OPPO and vivo auth tokens): cached in memory per container and
// shared through the store with its expiry, refreshed before it expires, one
// refresh at a time, and dropped when the vendor says it has expired.
package accesstoken

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/offpush/offpush/shared/push"
)

// Fetch asks the vendor for a new token and its lifetime.
type Fetch func(ctx context.Context) (token string, lifetime time.Duration, err error)

// Options tune a Source; the zero value gives the defaults.
type Options struct {
	// Store shares tokens between containers; nil keeps them in memory.
	Store push.TokenStore
	// Margin is how long before expiry a token is refreshed (default 5
	// minutes, or a tenth of the lifetime if that is less).
	Margin time.Duration
	// Limit, if set, bounds calls to Fetch (vivo allows 10 auth calls a
	// second per app).
	Limit *rate.Limiter
	Now   func() time.Time
}

// Source hands out the current token of one vendor app.
type Source struct {
	key   string
	fetch Fetch
	opts  Options

	mu        sync.Mutex
	token     string
	refreshAt time.Time // the token is used until then, then refreshed
	invalid   string    // the last token the vendor refused
	group     singleflight.Group
}

// New returns a Source for the token stored under key (for example
// "huawei#<appId>").
func New(key string, fetch Fetch, opts Options) *Source {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Margin <= 0 {
		opts.Margin = 5 * time.Minute
	}
	return &Source{key: key, fetch: fetch, opts: opts}
}

// ErrFetch wraps failures to get a token from the vendor.
var ErrFetch = errors.New("get vendor access token")

// Token returns a token that is not about to expire, fetching a new one
// (once, however many callers wait) when the cached one is missing or due
// for refresh.
func (s *Source) Token(ctx context.Context) (string, error) {
	if tok := s.current(s.opts.Now()); tok != "" {
		return tok, nil
	}
	v, err, _ := s.group.Do("token", func() (any, error) { return s.refresh(ctx) })
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (s *Source) current(now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && now.Before(s.refreshAt) {
		return s.token
	}
	return ""
}

// refresh takes the token another container stored, if it is fresh, and
// otherwise fetches a new one and stores it.
func (s *Source) refresh(ctx context.Context) (string, error) {
	now := s.opts.Now()
	if tok := s.current(now); tok != "" {
		return tok, nil // refreshed while this caller waited
	}
	if s.opts.Store != nil {
		tok, exp, err := s.opts.Store.GetVendorToken(ctx, s.key)
		if err == nil && tok != "" && tok != s.dropped() && now.Before(exp.Add(-s.opts.Margin)) {
			s.set(tok, exp.Add(-s.opts.Margin))
			return tok, nil
		}
	}
	if s.opts.Limit != nil {
		if err := s.opts.Limit.Wait(ctx); err != nil {
			return "", fmt.Errorf("%w %s: %w", ErrFetch, s.key, err)
		}
	}
	tok, life, err := s.fetch(ctx)
	if err != nil {
		return "", fmt.Errorf("%w %s: %w", ErrFetch, s.key, err)
	}
	if tok == "" || life <= 0 {
		return "", fmt.Errorf("%w %s: the vendor returned no token or lifetime", ErrFetch, s.key)
	}
	// Refresh a margin before expiry, but use a short-lived token for at
	// least nine tenths of its life.
	margin := min(s.opts.Margin, life/10)
	s.set(tok, now.Add(life-margin))
	if s.opts.Store != nil {
		// Sharing saves other containers a fetch; failing to share costs
		// them one fetch, not this push, so the error is not returned.
		_ = s.opts.Store.PutVendorToken(ctx, s.key, tok, now.Add(life))
	}
	return tok, nil
}

func (s *Source) set(tok string, refreshAt time.Time) {
	s.mu.Lock()
	s.token, s.refreshAt, s.invalid = tok, refreshAt, ""
	s.mu.Unlock()
}

func (s *Source) dropped() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.invalid
}

// Invalidate drops token after the vendor called it expired or invalid, so
// the next Token fetches a new one rather than reuse it from the store. A
// token already replaced is left alone.
func (s *Source) Invalidate(token string) {
	s.mu.Lock()
	if s.token == token {
		s.token, s.refreshAt = "", time.Time{}
		s.invalid = token
	}
	s.mu.Unlock()
}
