package fcm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/testinfra/lambdagc"
	"github.com/offpush/offpush/shared/vendors/vendortest"
)

// BenchmarkSendThroughput runs the client with its default settings (and the
// garbage collector as message-push sets it in its container: lambdagc)
// against the FCM mock with a 30 ms round trip, as one Send of b.N devices
// on one core (GOMAXPROCS 1). The mock runs in a child process (this test binary,
// re-run as TestMockProcess), so the CPU time measured with getrusage is the
// client's alone; the mock's own CPU time is reported beside it.
//
// Targets: at least 10,000 pushes/s and at most 80 µs of CPU per push.
// pushes/s also depends on the CPU the mock process gets (it spends about as
// much per push as the client): on a busy machine it drops while the
// client's CPU per push stays put.
//
//	go test -run '^$' -bench SendThroughput -benchtime 30000x ./shared/vendors/fcm/
func BenchmarkSendThroughput(b *testing.B) {
	p := benchProcess(b)
	m := testMessage()
	ts := make([]push.Target, b.N)
	for i := range ts {
		// Real FCM tokens are about 160 characters.
		ts[i].Token = fmt.Sprintf("bench-%08d:APA91b%s", i, strings.Repeat("x", 140))
	}
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	lambdagc.Apply(b, lambdagc.MessagePushMemoryMB)
	runtime.GC()
	dials0 := p.dials.Load()
	mock0 := p.mockCPU()
	cpu0 := selfCPU(b)
	b.ResetTimer()
	start := time.Now()
	res := p.client.Send(context.Background(), m, ts)
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := selfCPU(b) - cpu0
	mockCPU := p.mockCPU() - mock0
	for i, r := range res {
		if r.Outcome != push.Sent {
			b.Fatalf("push %d: %+v", i, r)
		}
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pushes/s")
	// New connections while measuring: 0 means steady state, with the
	// connections of the warm-up reused.
	b.ReportMetric(float64(p.dials.Load()-dials0), "dials")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/push")
	if mockCPU >= 0 {
		b.ReportMetric(float64(mockCPU.Microseconds())/float64(b.N), "mock-cpu-µs/push")
	}
}

// benchLatency is the mock's round trip in the throughput benchmark.
const benchLatency = 30 * time.Millisecond

const mockProcessEnv = "OFFPUSH_FCM_MOCK_PROCESS"

// mockInfo is what the mock process tells the benchmark.
type mockInfo struct {
	URL            string `json:"url"`
	CAFile         string `json:"caFile"`
	ServiceAccount string `json:"serviceAccount"`
}

const mockReady = "FCM-MOCK-READY "

// TestMockProcess is not a test: it is the mock server process of
// BenchmarkSendThroughput, started by it with OFFPUSH_FCM_MOCK_PROCESS set.
// It serves until its standard input closes.
func TestMockProcess(t *testing.T) {
	if os.Getenv(mockProcessEnv) == "" {
		t.Skip("the mock process of BenchmarkSendThroughput")
	}
	mock := vendortest.NewFCM(t, vendortest.Options{Latency: benchLatency})
	mock.Record(false)
	info, err := json.Marshal(mockInfo{URL: mock.URL(), CAFile: mock.CAFile, ServiceAccount: mock.ServiceAccountJSON})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s%s\n", mockReady, info)
	_, _ = io.Copy(io.Discard, os.Stdin)
	mock.Log.CheckClean(t)
}

// mockProcess is the running mock process and a warmed-up client of it,
// shared by every run of the benchmark.
type mockProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	client *Client
	dials  atomic.Int64
}

var bench struct {
	once sync.Once
	p    *mockProcess
	err  error
}

func benchProcess(b *testing.B) *mockProcess {
	b.Helper()
	bench.once.Do(func() { bench.p, bench.err = startMockProcess() })
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.p
}

func startMockProcess() (*mockProcess, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestMockProcess$", "-test.count=1")
	// The mock is not what is measured, and shares the machine with the
	// client: a lazier collector leaves it more of its core.
	cmd.Env = append(os.Environ(), mockGOGC, mockProcessEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mock process: %w", err)
	}
	p := &mockProcess{cmd: cmd, stdin: stdin}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var info mockInfo
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), mockReady); ok {
			if err := json.Unmarshal([]byte(line), &info); err != nil {
				p.stop()
				return nil, err
			}
			break
		}
	}
	if info.URL == "" {
		p.stop()
		return nil, fmt.Errorf("mock process did not start: %v", sc.Err())
	}
	go func() { _, _ = io.Copy(os.Stdout, stdout) }()

	vars := map[string]string{push.URLFCM: info.URL, push.CAFile: info.CAFile}
	env, err := push.NewEnv(func(k string) string { return vars[k] }, push.EnvConfig{})
	if err != nil {
		p.stop()
		return nil, err
	}
	// Count the dials of the transport the client will use.
	if tr, ok := sendTransport(env, env.HTTPClient).(*http.Transport); ok {
		dial := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			p.dials.Add(1)
			return dial(ctx, network, addr)
		}
	}
	c := cert.Certificate{ID: 1, Vendor: device.FCM, Name: "bench", FCM: &cert.FCM{ServiceAccountJSON: info.ServiceAccount}}
	p.client, err = New(c, env)
	if err != nil {
		p.stop()
		return nil, err
	}
	// Warm up: the access token and the HTTP/2 connections, as a container
	// has them after its first push.
	warm := make([]push.Target, 2*DefaultConcurrency)
	for i := range warm {
		warm[i].Token = "warm-" + strconv.Itoa(i)
	}
	for _, r := range p.client.Send(context.Background(), testMessage(), warm) {
		if r.Outcome != push.Sent {
			p.stop()
			return nil, fmt.Errorf("warm-up push: %+v", r)
		}
	}
	return p, nil
}

func (p *mockProcess) stop() {
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// mockCPU is the mock process's CPU time (user+system) from /proc, or -1.
func (p *mockProcess) mockCPU() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		return -1
	}
	// Fields after the ")" that ends the command name: state is field 3,
	// utime and stime are fields 14 and 15, in clock ticks (100 a second
	// on Linux).
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// selfCPU is this process's CPU time, user plus system.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestMain stops the benchmark's mock process when the tests end.
func TestMain(m *testing.M) {
	code := m.Run()
	if bench.p != nil {
		bench.p.stop()
	}
	os.Exit(code)
}

// mockGOGC is the mock process's garbage-collector setting.
const mockGOGC = "GOGC=400"
