package vendorutil

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// recordingConn is a net.Conn whose writes are recorded, one entry a call.
type recordingConn struct {
	net.Conn // nil: only what is overridden may be called
	mu       sync.Mutex
	writes   [][]byte
	fail     error
	closed   bool
	wrote    chan struct{}
}

func newRecordingConn() *recordingConn { return &recordingConn{wrote: make(chan struct{}, 1000)} }

func (r *recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	r.writes = append(r.writes, bytes.Clone(p))
	r.wrote <- struct{}{}
	return len(p), nil
}

func (r *recordingConn) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

func (r *recordingConn) SetWriteDeadline(time.Time) error { return nil }

func (r *recordingConn) snapshot() (writes [][]byte, closed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.writes...), r.closed
}

func (r *recordingConn) waitWrite(t *testing.T) {
	t.Helper()
	select {
	case <-r.wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("nothing was written within 5 s")
	}
}

func TestCoalesceWritesGathersWithinDelay(t *testing.T) {
	rec := newRecordingConn()
	c := CoalesceWrites(rec, 50*time.Millisecond)
	for _, s := range []string{"HEADERS", "DATA", "HEADERS2", "DATA2"} {
		if n, err := c.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if w, _ := rec.snapshot(); len(w) != 0 {
		t.Fatalf("written before the delay: %q", w)
	}
	rec.waitWrite(t)
	w, _ := rec.snapshot()
	if len(w) != 1 || string(w[0]) != "HEADERSDATAHEADERS2DATA2" {
		t.Fatalf("writes = %q, want one write of all four in order", w)
	}
	// A later write arms the timer again.
	c.Write([]byte("PING"))
	rec.waitWrite(t)
	if w, _ := rec.snapshot(); len(w) != 2 || string(w[1]) != "PING" {
		t.Fatalf("writes = %q, want PING second", w)
	}
}

// TestCoalesceWritesDelayIsABound: a steady stream of writes, each within
// the delay of the last, still leaves every delay, not when it stops.
func TestCoalesceWritesDelayIsABound(t *testing.T) {
	rec := newRecordingConn()
	c := CoalesceWrites(rec, 20*time.Millisecond)
	defer c.Close()
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		c.Write([]byte("frame"))
		time.Sleep(5 * time.Millisecond)
	}
	if w, _ := rec.snapshot(); len(w) == 0 {
		t.Fatal("nothing left while writes kept coming: the delay must bound the wait, not restart with each write")
	}
}

func TestCoalesceWritesLargeWriteGoesAtOnce(t *testing.T) {
	rec := newRecordingConn()
	c := CoalesceWrites(rec, time.Hour)
	c.Write([]byte("small"))
	big := bytes.Repeat([]byte{'x'}, coalesceFlushAt)
	if n, err := c.Write(big); err != nil || n != len(big) {
		t.Fatalf("Write(big) = %d, %v", n, err)
	}
	w, _ := rec.snapshot()
	if len(w) != 1 || !bytes.Equal(w[0], append([]byte("small"), big...)) {
		t.Fatalf("got %d writes, want the waiting bytes and the large write together at once", len(w))
	}
}

// TestCoalesceWritesKeepsOrder writes a numbered stream from one goroutine
// in pieces of random sizes, with flushes by timer and by size mixed in,
// and checks the stream arrives whole and in order.
func TestCoalesceWritesKeepsOrder(t *testing.T) {
	rec := newRecordingConn()
	c := CoalesceWrites(rec, 20*time.Microsecond)
	var want bytes.Buffer
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		p := bytes.Repeat([]byte{byte(i)}, 1+r.IntN(200))
		if i%500 == 0 {
			p = bytes.Repeat([]byte{byte(i)}, coalesceFlushAt)
		}
		want.Write(p)
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	w, closed := rec.snapshot()
	if got := bytes.Join(w, nil); !bytes.Equal(got, want.Bytes()) || !closed {
		t.Fatalf("received %d bytes in %d writes (closed %v), want the %d written, in order", len(got), len(w), closed, want.Len())
	}
	if len(w) < 6 || len(w) > 3000 {
		t.Fatalf("%d writes for 3000 pieces: want them gathered, with the six large ones at least apart", len(w))
	}
}

// TestCoalesceWritesConcurrentWriters: frames written from many goroutines
// each arrive whole.
func TestCoalesceWritesConcurrentWriters(t *testing.T) {
	rec := newRecordingConn()
	c := CoalesceWrites(rec, 100*time.Microsecond)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				frame := bytes.Repeat([]byte{byte('a' + g)}, 10+i%7)
				if _, err := c.Write(frame); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	c.Close()
	w, _ := rec.snapshot()
	all := bytes.Join(w, nil)
	counts := map[byte]int{}
	for len(all) > 0 {
		b, n := all[0], 0
		for n < len(all) && all[n] == b {
			n++
		}
		counts[b] += n
		all = all[n:]
	}
	for g := range 16 {
		want := 0
		for i := range 200 {
			want += 10 + i%7
		}
		if counts[byte('a'+g)] != want {
			t.Fatalf("writer %c: %d bytes arrived, want %d", 'a'+g, counts[byte('a'+g)], want)
		}
	}
}

func TestCoalesceWritesFailureIsSticky(t *testing.T) {
	rec := newRecordingConn()
	broken := errors.New("connection reset by peer")
	rec.fail = broken
	c := CoalesceWrites(rec, time.Millisecond)
	if _, err := c.Write([]byte("lost")); err != nil {
		t.Fatalf("first Write = %v: the failure is only known at the flush", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.Write([]byte("next"))
		if errors.Is(err, broken) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Write after a failed flush = %v, want %v", err, broken)
		}
		time.Sleep(time.Millisecond)
	}
	if _, closed := rec.snapshot(); !closed {
		t.Fatal("a failed flush must close the connection, so its reader fails too")
	}
	// A large write reports the failure itself.
	if _, err := c.Write(make([]byte, coalesceFlushAt)); !errors.Is(err, broken) {
		t.Fatalf("large Write = %v, want %v", err, broken)
	}
}

func TestCoalesceWritesClose(t *testing.T) {
	rec := newRecordingConn()
	c := CoalesceWrites(rec, time.Hour)
	c.Write([]byte("GOAWAY"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	w, closed := rec.snapshot()
	if len(w) != 1 || string(w[0]) != "GOAWAY" || !closed {
		t.Fatalf("Close wrote %q (closed %v), want what was waiting sent and the connection closed", w, closed)
	}
	if _, err := c.Write([]byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v, want net.ErrClosed", err)
	}
}

func TestCoalesceWritesKeepsTLSState(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "example.com", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	c := CoalesceWrites(conn, time.Millisecond)
	defer c.Close()
	st, ok := c.(interface{ ConnectionState() tls.ConnectionState })
	if !ok {
		t.Fatal("the coalesced TLS connection hides ConnectionState from HTTP/2 transports")
	}
	if got := st.ConnectionState(); got.NegotiatedProtocol != "h2" || !got.HandshakeComplete {
		t.Fatalf("ConnectionState = %+v", got)
	}
	if _, ok := CoalesceWrites(newRecordingConn(), time.Millisecond).(interface{ ConnectionState() tls.ConnectionState }); ok {
		t.Fatal("a plain connection must not claim a TLS state")
	}
}
