//go:build unix

package apns

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"
	"golang.org/x/net/http2"

	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/testinfra/lambdagc"
)

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSendThroughput is the client as a user gets it (New with the
// default options, an Env from NewEnv, the garbage collector as message-push
// sets it in its container: lambdagc) against the mock answering after 30
// ms, on one core: GOMAXPROCS 1 for the benchmark's process. The mock runs
// in a second process (the test binary re-run, see mockproc_test.go), so
// cpu-µs/push, this process's user and system CPU time divided by the
// pushes, is the client's alone. b.N pushes go out as Send calls of 500
// devices, eight at once, as message-push sends its 500-user batches.
func BenchmarkSendThroughput(b *testing.B) {
	const (
		latency = 30 * time.Millisecond
		batch   = 500
		senders = 8
		tokens  = 20000
	)
	key, keyPEM := newKey(b)
	proc := startMockProcess(b, &key.PublicKey, latency)
	vars := map[string]string{push.URLAPNs: proc.URL, push.CAFile: proc.CAFile}
	env, err := push.NewEnv(func(k string) string { return vars[k] }, push.EnvConfig{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(tokenCert(keyPEM, false), env)
	if err != nil {
		b.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	lambdagc.Apply(b, lambdagc.MessagePushMemoryMB)

	var batches [][]push.Target
	var msgs []*push.Message
	for lo := 0; lo < tokens; lo += batch {
		ts := make([]push.Target, batch)
		for i := range ts {
			ts[i] = push.Target{Token: hexToken(lo + i), Badge: intp((lo + i) % 100)}
		}
		batches = append(batches, ts)
		m := message()
		m.ID = fmt.Sprintf("bench-%d", lo)
		msgs = append(msgs, m)
	}
	// A Lambda invocation's context carries its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Warm up: the connection, the first provider token, pooled buffers.
	for _, r := range c.Send(ctx, msgs[0], append(batches[0], batches[1]...)) {
		if r.Outcome != push.Sent {
			b.Fatalf("warm-up push: %+v", r)
		}
	}

	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	var next, failed atomic.Int64
	var firstFailure atomic.Value
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(batch)) - batch
				if lo >= b.N {
					return
				}
				k := lo / batch % len(batches)
				targets := batches[k][:min(batch, b.N-lo)]
				for _, r := range c.Send(ctx, msgs[k], targets) {
					if r.Outcome != push.Sent {
						failed.Add(1)
						firstFailure.CompareAndSwap(nil, r)
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()

	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pushes/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/push")
	if n := failed.Load(); n > 0 {
		b.Errorf("%d of %d pushes not sent, first: %+v", n, b.N, firstFailure.Load())
	}
	s, err := proc.stop()
	if err != nil {
		b.Fatalf("mock process: %v", err)
	}
	for _, f := range s.Failures {
		b.Errorf("vendor mock: %s", f)
	}
	b.ReportMetric(float64(s.CPU.Microseconds())/float64(s.Requests), "mock-cpu-µs/push")
	b.ReportMetric(float64(s.Peak), "peak-in-flight")
	if s.JWTs != 1 {
		b.Errorf("the mock saw %d provider tokens, want 1 reused", s.JWTs)
	}
}

// BenchmarkSendThroughputBareAPNs2 is the reference for the benchmark
// above, measured the same way at the same moment: apns2's own client as
// its README builds it (its x/net HTTP/2 transport with a 60 s
// http.Client timeout, trusting the mock), 1000 goroutines each pushing one
// prebuilt payload after another, no offpush code. The difference between
// the two cpu-µs/push is what offpush adds per push.
func BenchmarkSendThroughputBareAPNs2(b *testing.B) {
	const inFlight = 1000
	key, _ := newKey(b)
	proc := startMockProcess(b, &key.PublicKey, 30*time.Millisecond)
	pemCA, err := os.ReadFile(proc.CAFile)
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemCA)
	cl := apns2.NewTokenClient(&token.Token{AuthKey: key, KeyID: testKeyID, TeamID: testTeam})
	cl.Host = proc.URL
	cl.HTTPClient.Transport.(*http2.Transport).TLSClientConfig = &tls.Config{RootCAs: roots}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	payload := NewPayload(message(), push.Target{Badge: intp(3)})
	body := payload.AppendJSON(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pushOne := func(i int) bool {
		res, err := cl.PushWithContext(ctx, &apns2.Notification{
			DeviceToken: hexToken(i % 20000), Topic: testBundle, Priority: apns2.PriorityHigh,
			Expiration: time.Now().Add(time.Hour), Payload: body,
		})
		return err == nil && res.Sent()
	}
	if !pushOne(0) {
		b.Fatal("warm-up push failed")
	}

	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)); i <= b.N; i = int(next.Add(1)) {
				if !pushOne(i) {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()

	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pushes/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/push")
	if n := failed.Load(); n > 0 {
		b.Errorf("%d of %d pushes failed", n, b.N)
	}
	s, err := proc.stop()
	if err != nil {
		b.Fatalf("mock process: %v", err)
	}
	b.ReportMetric(float64(s.CPU.Microseconds())/float64(s.Requests), "mock-cpu-µs/push")
	for _, f := range s.Failures {
		b.Errorf("vendor mock: %s", f)
	}
}
