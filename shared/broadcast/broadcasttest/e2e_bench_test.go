//go:build linux

package broadcasttest

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/broadcast"
	"github.com/offpush/offpush/shared/delivery"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/queue"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/store/embedded"
	"github.com/offpush/offpush/shared/vendors"
	"github.com/offpush/offpush/shared/vendors/vendortest"
)

const (
	e2eUsers   = 100_000
	e2eLatency = 30 * time.Millisecond
	// e2eWorkers is the in-process bulk queue's concurrency: batches in
	// flight at once, each waiting 30 ms on the vendor.
	e2eWorkers = 16
)

// benchMocksEnv makes TestBenchHuaweiMock serve the benchmark's Huawei mock
// in a child process, so that this process's CPU is offpush's alone.
const benchMocksEnv = "OFFPUSH_BENCH_HUAWEI_MOCK"

// mockLine prefixes the child's protocol lines on its stdout.
const mockLine = "BENCHMOCK "

type mockReady struct {
	URL string
	CA  string // PEM
}

type mockReport struct {
	Requests int           // send requests accepted
	Targets  int           // tokens in them
	Distinct int           // distinct tokens
	Failures []string      // vendor rules broken
	CPU      time.Duration // the mock process's user+system CPU
}

// TestBenchHuaweiMock is not a test: it serves BenchmarkEndToEnd100k's
// Huawei mock (30 ms latency) in the child process, answering a report line
// for each line read on stdin, until stdin closes. It skips otherwise.
func TestBenchHuaweiMock(t *testing.T) {
	if os.Getenv(benchMocksEnv) == "" {
		t.Skip("serves BenchmarkEndToEnd100k's vendor mock in its child process")
	}
	m := vendortest.NewHuawei(t, vendortest.Options{Latency: e2eLatency}, hwAppID, hwSecret)
	ca, err := os.ReadFile(m.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	write := func(v any) {
		raw, _ := json.Marshal(v)
		fmt.Fprintf(os.Stdout, "%s%s\n", mockLine, raw)
	}
	write(mockReady{URL: m.URL(), CA: string(ca)})
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		r := mockReport{Failures: m.Log.Failures(), CPU: processCPU()}
		seen := map[string]bool{}
		for _, rec := range m.Log.Received() {
			r.Requests++
			r.Targets += len(rec.Targets)
			for _, tok := range rec.Targets {
				seen[tok] = true
			}
		}
		r.Distinct = len(seen)
		write(r)
	}
}

// processCPU is this process's user and system CPU so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// mockProcess is the child serving the mock, seen from the benchmark.
type mockProcess struct {
	mockReady
	caFile string
	stdin  io.WriteCloser
	lines  *bufio.Scanner
}

func startMockProcess(tb testing.TB) *mockProcess {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchHuaweiMock$", "-test.bench=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), benchMocksEnv+"=1")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start the mock process: %v", err)
	}
	p := &mockProcess{stdin: stdin, lines: bufio.NewScanner(stdout)}
	p.lines.Buffer(make([]byte, 1<<20), 16<<20)
	if err := p.read(&p.mockReady); err != nil {
		cmd.Process.Kill()
		tb.Fatalf("the mock process did not start: %v", err)
	}
	dir, err := os.MkdirTemp("", "offpush-bench-")
	if err != nil {
		tb.Fatal(err)
	}
	p.caFile = filepath.Join(dir, "vendor-ca.pem")
	if blk, _ := pem.Decode([]byte(p.CA)); blk == nil {
		tb.Fatal("the mock process sent no CA certificate")
	}
	if err := os.WriteFile(p.caFile, []byte(p.CA), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// read decodes the child's next protocol line.
func (p *mockProcess) read(v any) error {
	for p.lines.Scan() {
		if line, ok := strings.CutPrefix(p.lines.Text(), mockLine); ok {
			return json.Unmarshal([]byte(line), v)
		}
	}
	if err := p.lines.Err(); err != nil {
		return err
	}
	return io.EOF
}

func (p *mockProcess) report(tb testing.TB) mockReport {
	tb.Helper()
	var r mockReport
	if _, err := io.WriteString(p.stdin, "report\n"); err != nil {
		tb.Fatalf("mock process: %v", err)
	}
	if err := p.read(&r); err != nil {
		tb.Fatalf("mock process: %v", err)
	}
	return r
}

// e2eFixture is the local server's broadcast path over 100,000 users: the
// embedded in-memory store, in-process planning and bulk queues, the bulk
// worker with the live Huawei client against the mock process.
type e2eFixture struct {
	st    *embedded.Store
	svc   *broadcast.Service
	mock  *mockProcess
	bulk  *queue.Local
	plans *queue.Local
	seed  time.Duration
}

var e2eBench struct {
	once sync.Once
	f    *e2eFixture
}

func newE2EFixture(b *testing.B) *e2eFixture {
	f := &e2eFixture{mock: startMockProcess(b)}
	start := time.Now()
	f.st = embedded.OpenMemory(store.Options{})
	seedEmbedded(b, f.st, e2eUsers)
	f.seed = time.Since(start)

	quiet := slog.New(slog.DiscardHandler)
	vars := map[string]string{push.URLHuawei: f.mock.URL, push.URLHuaweiAuth: f.mock.URL, push.CAFile: f.mock.caFile}
	venv, err := push.NewEnv(func(k string) string { return vars[k] }, push.EnvConfig{Tokens: f.st, Log: quiet})
	os.RemoveAll(filepath.Dir(f.mock.caFile)) // read once, by NewEnv
	if err != nil {
		b.Fatal(err)
	}
	dl := delivery.New(delivery.Config{Store: f.st, Clients: vendors.NewClients(venv, nil), Log: quiet})
	var worker *delivery.Worker
	f.bulk = queue.NewLocal(func(ctx context.Context, body []byte) error { return worker.Handle(ctx, body) },
		queue.LocalOptions{Log: quiet, Workers: e2eWorkers, Visibility: 30 * time.Second, MaxReceive: 5})
	progress := broadcast.NewProgress(f.st, nil)
	worker = delivery.NewWorker(dl, delivery.WorkerConfig{Jobs: f.st, Queue: f.bulk, Progress: progress, Active: progress.Active})
	var planner *broadcast.Planner
	f.plans = queue.NewLocal(queue.TaskHandler(func(ctx context.Context, t broadcast.Task) error { return planner.Run(ctx, t) }),
		queue.LocalOptions{Log: quiet, Workers: 2, Visibility: 5 * time.Minute, MaxReceive: 5})
	planner = broadcast.NewPlanner(broadcast.PlannerConfig{Store: f.st, Batches: f.bulk, Tasks: f.plans, Log: quiet, Segments: 8})
	f.svc = broadcast.NewService(f.st, planner, noScheduler{}, nil)
	return f
}

// broadcast runs one broadcast to everyone and waits for it to complete.
func (f *e2eFixture) broadcast(b *testing.B, desc string) store.Job {
	ctx := context.Background()
	v, err := f.svc.Create(ctx, broadcast.Request{From: "admin", Audience: broadcast.Audience{All: true},
		OfflinePushInfo: push.OfflinePushInfo{Title: "Sale", Desc: desc}})
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		j, err := f.st.GetJob(ctx, v.BroadcastID)
		if err != nil {
			b.Fatal(err)
		}
		if j.Status == store.JobCompleted || j.Status == store.JobCancelled || j.Status == store.JobFailed {
			return j
		}
		if time.Now().After(deadline) {
			b.Fatalf("broadcast %s after 2 minutes: %s %+v", v.BroadcastID, j.Status, j.Counts)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkEndToEnd100k broadcasts to everyone among 100,000 users, one
// Huawei device each, as the local server does: planning and bulk batches
// through the in-process queue (queue.Local, 16 workers), the bulk worker
// reading the embedded in-memory store, the live Huawei client sending
// each 500-user batch as one request (Huawei takes 1,000 tokens a request,
// so per-device requests do not dominate) to the strict Huawei mock, which
// answers after 30 ms. The mock runs in a child process: cpu-µs/push is
// this process's user+system CPU (offpush alone: planning, store, worker,
// payloads, TLS, HTTP/2); mock-cpu-µs/push is the mock's, for scale.
// GOMAXPROCS is 1 while a broadcast runs, so pushes/s is one core's.
//
//	pushes/s             devices pushed per second of wall time, on one core
//	cpu-µs/push          this process's CPU per push
//	pushes/cpu-s         1e6 / cpu-µs/push: pushes per second of one core's
//	                     CPU, whatever the wall time
//	mock-cpu-µs/push     the mock process's CPU per push
//	vendor-requests/op   send requests the mock accepted per broadcast
func BenchmarkEndToEnd100k(b *testing.B) {
	e2eBench.once.Do(func() {
		e2eBench.f = newE2EFixture(b)
		// A first broadcast warms the container: vendor access token, TLS
		// and HTTP/2 connections, certificate cache.
		e2eBench.f.broadcast(b, "warm")
	})
	f := e2eBench.f
	if f == nil {
		b.Fatal("no fixture: its setup failed")
	}
	b.Logf("seeded %d users in %s (once per process)", e2eUsers, f.seed.Round(time.Millisecond))
	before := f.mock.report(b)
	prev := runtime.GOMAXPROCS(1)
	runtime.GC()
	cpu := processCPU()
	var wall time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		j := f.broadcast(b, fmt.Sprintf("bench-%d-%d", b.N, i))
		wall += time.Since(start)
		if c := j.Counts; j.Status != store.JobCompleted || c.Users != e2eUsers || c.Devices != e2eUsers || c.Sent != e2eUsers || c.BatchesDone != c.Batches {
			b.Fatalf("broadcast %d: %s %+v", i, j.Status, c)
		}
	}
	b.StopTimer()
	cpu = processCPU() - cpu
	runtime.GOMAXPROCS(prev)
	after := f.mock.report(b)
	for _, fail := range after.Failures {
		b.Errorf("vendor mock: %s", fail)
	}
	pushes := after.Targets - before.Targets
	if pushes != e2eUsers*b.N || after.Distinct != e2eUsers {
		b.Fatalf("the mock saw %d pushes (%d distinct tokens in all), want %d of %d", pushes, after.Distinct, e2eUsers*b.N, e2eUsers)
	}
	b.ReportMetric(float64(pushes)/wall.Seconds(), "pushes/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(pushes), "cpu-µs/push")
	b.ReportMetric(float64(pushes)/cpu.Seconds(), "pushes/cpu-s")
	b.ReportMetric(float64((after.CPU-before.CPU).Microseconds())/float64(pushes), "mock-cpu-µs/push")
	b.ReportMetric(float64(after.Requests-before.Requests)/float64(b.N), "vendor-requests/op")
}
