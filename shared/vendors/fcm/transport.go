package fcm

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/offpush/offpush/shared/vendors/accesstoken"
)

// attempt is the context of one FCM request and the record of what its
// HTTP exchange saw.
//
// The SDK retries network errors and HTTP 503 by itself (up to 4 times,
// after 0, 1, 2 and 4 s, or after Retry-After when that is longer and at
// most 2 minutes), and offers no option to turn that off. That would spend the
// caller's deadline inside one push and hold a concurrency slot meanwhile,
// while offpush retries retryable pushes itself with backoff and jitter
// across the whole batch (design §4). So authTransport ends the attempt
// after the first such answer: it records the answer here and cancels this
// context, and the SDK, which waits for its retry on the context, returns at
// once. Send then classifies the recorded answer. The SDK never sees a
// changed response: a 503 body is read into memory first, so the SDK can
// still read it.
type attempt struct {
	context.Context
	cancel context.CancelFunc

	// token is the access token the request carried.
	token string
	// stopped is set when authTransport ended the attempt.
	stopped bool
	// tokenErr is a failure to get an access token.
	tokenErr error
	// netErr is a transport error (connection, TLS, timeout).
	netErr error
	// status, header and body are the 503 answer that ended the attempt.
	status int
	header http.Header
	body   []byte
}

type attemptKey struct{}

// newAttempt starts an attempt that ends after timeout (none if 0).
func newAttempt(parent context.Context, timeout time.Duration) *attempt {
	var ctx context.Context
	var cancel context.CancelFunc
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(parent, timeout)
	} else {
		ctx, cancel = context.WithCancel(parent)
	}
	return &attempt{Context: ctx, cancel: cancel}
}

// Value makes the attempt reachable from the request's context.
func (a *attempt) Value(key any) any {
	if key == (attemptKey{}) {
		return a
	}
	return a.Context.Value(key)
}

func (a *attempt) stop() {
	a.stopped = true
	a.cancel()
}

// authTransport adds the OAuth bearer token to every FCM request and ends
// the attempt on an answer the SDK would retry (see attempt). It runs in the
// goroutine of the push's Send, so the attempt needs no lock.
type authTransport struct {
	base   http.RoundTripper
	tokens *accesstoken.Source
	// bearer caches the Authorization value of the current token, saving
	// a string per request.
	bearer atomic.Pointer[bearer]
}

type bearer struct{ token, header string }

func (t *authTransport) authorization(tok string) string {
	if b := t.bearer.Load(); b != nil && b.token == tok {
		return b.header
	}
	b := &bearer{token: tok, header: "Bearer " + tok}
	t.bearer.Store(b)
	return b.header
}

// maxErrorBody bounds the 503 body kept in memory.
const maxErrorBody = 64 << 10

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	a, _ := req.Context().Value(attemptKey{}).(*attempt)
	tok, err := t.tokens.Token(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		if a != nil {
			a.tokenErr = err
			a.stop()
		}
		return nil, err
	}
	// A RoundTripper must not change the caller's request: send a copy with
	// its own header map.
	r := new(http.Request)
	*r = *req
	r.Header = make(http.Header, len(req.Header)+1)
	for k, v := range req.Header {
		r.Header[k] = v
	}
	r.Header["Authorization"] = []string{t.authorization(tok)}
	if a != nil {
		a.token = tok
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		if a != nil {
			a.netErr = err
			a.stop()
		}
		return nil, err
	}
	if resp.StatusCode == http.StatusServiceUnavailable && a != nil {
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if rerr != nil {
			a.netErr = rerr
		}
		a.status, a.header, a.body = resp.StatusCode, resp.Header, body
		a.stop()
	}
	return resp, nil
}
