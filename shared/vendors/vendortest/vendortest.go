// Package vendortest holds strict mock servers of the eight vendor push APIs
// for tests and benchmarks: each checks auth, signatures, required fields,
// limits and batch sizes as the vendor documents them, and answers by a
// script keyed on token prefixes. It is imported only by tests.
//
// Token prefixes (the rest of the token is free):
//
//	invalid-…   the vendor's dead-token answer
//	busy<N>-…   a retryable busy answer the first N times, then success
//	quota-…     the vendor's quota-exceeded answer
//
// Any other token succeeds.
package vendortest

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Behaviour is what the script says a token gets.
type Behaviour int

// Behaviours.
const (
	OK Behaviour = iota
	Invalid
	Busy
	Quota
)

// Script answers by token prefix and remembers how often each busy token
// has been refused.
type Script struct {
	mu   sync.Mutex
	busy map[string]int
}

// For returns the behaviour for token, counting busy answers.
func (s *Script) For(token string) Behaviour {
	switch {
	case strings.HasPrefix(token, "invalid-"):
		return Invalid
	case strings.HasPrefix(token, "quota-"):
		return Quota
	case strings.HasPrefix(token, "busy"):
		rest := strings.TrimPrefix(token, "busy")
		n, err := strconv.Atoi(rest[:strings.IndexByte(rest+"-", '-')])
		if err != nil {
			return OK
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.busy == nil {
			s.busy = map[string]int{}
		}
		if s.busy[token] < n {
			s.busy[token]++
			return Busy
		}
	}
	return OK
}

// Received is one request a mock accepted past its auth and field checks.
type Received struct {
	Path    string
	Header  http.Header
	Body    []byte
	Targets []string
}

// Log records what a mock received and every check it failed.
type Log struct {
	mu       sync.Mutex
	received []Received
	failures []string
}

// Add records an accepted request.
func (l *Log) Add(r Received) {
	l.mu.Lock()
	l.received = append(l.received, r)
	l.mu.Unlock()
}

// Fail records a check the client's request failed; the mock also answers
// it with the vendor's error.
func (l *Log) Fail(format string, args ...any) {
	l.mu.Lock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// Received returns a copy of the accepted requests.
func (l *Log) Received() []Received {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Received(nil), l.received...)
}

// Failures returns the failed checks.
func (l *Log) Failures() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.failures...)
}

// Targets returns every target of every accepted request, in order.
func (l *Log) Targets() []string {
	var out []string
	for _, r := range l.Received() {
		out = append(out, r.Targets...)
	}
	return out
}

// CheckClean fails t if the mock saw a request that broke the vendor's rules
// and the test did not expect it.
func (l *Log) CheckClean(t testing.TB) {
	t.Helper()
	for _, f := range l.Failures() {
		t.Errorf("vendor mock: %s", f)
	}
}

// Options configure a mock server.
type Options struct {
	// Latency delays every answer, as a real vendor's round trip does
	// (benchmarks use 30 ms).
	Latency time.Duration
}

// Delay sleeps for the configured latency, or until the request ends.
func (o Options) Delay(r *http.Request) {
	if o.Latency <= 0 {
		return
	}
	t := time.NewTimer(o.Latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

// NewTLSServer starts h on an HTTPS server speaking HTTP/2 and HTTP/1.1,
// closed when the test ends.
func NewTLSServer(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.Config.MaxHeaderBytes = 1 << 20
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	return srv
}

// CAFile writes the server's certificate as a PEM bundle for
// OFFPUSH_VENDOR_CA_FILE and returns its path.
func CAFile(tb testing.TB, srv *httptest.Server) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "vendor-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// ClientTLS is a TLS configuration trusting srv, for clients built by hand.
func ClientTLS(srv *httptest.Server) *tls.Config {
	return srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
}
