package vendorutil

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// CoalesceDelay is how long the APNs and FCM clients let a request's bytes
// wait to leave with others' (CoalesceWrites). At thousands of pushes a
// second it gathers several requests into one write, which cut the APNs
// client's CPU per push by about a fifth in its benchmark, for at most a
// quarter millisecond more on a vendor round trip of tens.
const CoalesceDelay = 250 * time.Microsecond

// coalesceFlushAt is how many buffered bytes make a write go out at once
// rather than wait for the delay.
const coalesceFlushAt = 64 << 10

// CoalesceWrites returns conn with its writes gathered: bytes written wait
// up to delay (or until 64 KiB are waiting) and go out together, in one
// TLS record and one system call.
//
// An HTTP/2 client flushes after every request's HEADERS frame and again
// after its DATA: at thousands of requests a second those two small writes
// a request are most of the client's CPU (a TLS seal and a write(2) each).
// Gathered, a burst's frames leave in a few writes, for at most delay more
// latency on each request, far below a vendor's round trip.
//
// Write never blocks on the network. A failed flush closes the connection,
// so its reader fails at once, and every later Write returns the error.
// ConnectionState is passed through for a *tls.Conn, as HTTP/2 transports
// look for it.
func CoalesceWrites(conn net.Conn, delay time.Duration) net.Conn {
	c := &coalescedConn{Conn: conn}
	c.timer = time.AfterFunc(time.Hour, func() { c.flush() })
	c.timer.Stop()
	c.delay = delay
	if tc, ok := conn.(*tls.Conn); ok {
		return &coalescedTLSConn{coalescedConn: c, tls: tc}
	}
	return c
}

type coalescedConn struct {
	net.Conn
	delay time.Duration
	timer *time.Timer

	// wmu is held while a flush writes to Conn, so flushes leave in the
	// order their bytes were written.
	wmu sync.Mutex

	mu    sync.Mutex
	buf   []byte // bytes waiting
	spare []byte // the other buffer, while no flush holds it
	armed bool   // the timer will flush buf
	err   error  // the first write error, or net.ErrClosed
}

func (c *coalescedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if err := c.err; err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.buf = append(c.buf, p...)
	full := len(c.buf) >= coalesceFlushAt
	if !full && !c.armed {
		c.armed = true
		c.timer.Reset(c.delay)
	}
	c.mu.Unlock()
	if full {
		if err := c.flush(); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// flush writes everything waiting.
func (c *coalescedConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

func (c *coalescedConn) flushLocked() error {
	c.mu.Lock()
	buf := c.buf
	c.buf, c.spare = c.spare[:0], nil
	c.armed = false
	err := c.err
	c.mu.Unlock()
	if err == nil && len(buf) > 0 {
		_, err = c.Conn.Write(buf)
	}
	c.mu.Lock()
	c.spare = buf[:0]
	if err != nil && c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	if err != nil {
		c.Conn.Close()
	}
	return err
}

// closeFlushWait bounds how long Close tries to send what is waiting.
const closeFlushWait = 100 * time.Millisecond

// Close sends what is waiting if no flush is stuck on the network (within
// closeFlushWait), then closes the connection.
func (c *coalescedConn) Close() error {
	c.timer.Stop()
	if c.wmu.TryLock() {
		c.Conn.SetWriteDeadline(time.Now().Add(closeFlushWait))
		c.flushLocked()
		c.wmu.Unlock()
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = net.ErrClosed
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// coalescedTLSConn keeps a TLS connection's state visible.
type coalescedTLSConn struct {
	*coalescedConn
	tls *tls.Conn
}

func (c *coalescedTLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }
