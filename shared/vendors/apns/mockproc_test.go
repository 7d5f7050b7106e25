//go:build unix

package apns

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/vendors/vendortest"
)

// mockProcessEnv, when set (to the JSON of a mockProcessConfig), makes the
// test binary serve the APNs mock instead of running tests: the throughput
// benchmark runs its mock in that second process so that the CPU time it
// measures is the client's alone.
const mockProcessEnv = "OFFPUSH_APNS_MOCK_PROCESS"

type mockProcessConfig struct {
	PublicKey []byte // PKIX DER of the .p8's public key
	Latency   time.Duration
}

// mockProcessReady is the child's first line on stdout.
type mockProcessReady struct {
	URL string
	CA  string
}

// mockProcessSummary is the child's last line, written when its stdin
// closes.
type mockProcessSummary struct {
	Requests int64
	JWTs     int
	Failures []string
	// Peak is the most requests the mock answered at once.
	Peak int64
	// CPU is the mock process's own user and system CPU time.
	CPU time.Duration
}

// runMockProcess serves the mock until stdin closes, then reports.
func runMockProcess() int {
	var cfg mockProcessConfig
	if err := json.Unmarshal([]byte(os.Getenv(mockProcessEnv)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "apns mock process: config:", err)
		return 2
	}
	pub, err := x509.ParsePKIXPublicKey(cfg.PublicKey)
	key, ok := pub.(*ecdsa.PublicKey)
	if err != nil || !ok {
		fmt.Fprintln(os.Stderr, "apns mock process: public key:", err)
		return 2
	}
	m := vendortest.NewAPNsServer(vendortest.Options{Latency: cfg.Latency},
		vendortest.APNsConfig{BundleID: testBundle, TeamID: testTeam, KeyID: testKeyID, Key: key, Discard: true})
	defer m.Close()
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(mockProcessReady{URL: m.URL(), CA: string(m.CAPEM())}); err != nil {
		return 2
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := enc.Encode(mockProcessSummary{Requests: m.Requests(), JWTs: m.JWTs(), Failures: m.Log.Failures(), CPU: processCPU(), Peak: m.PeakInFlight()}); err != nil {
		return 2
	}
	return 0
}

// mockProcess is the mock running in a child process.
type mockProcess struct {
	URL    string
	CAFile string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *json.Decoder
}

// startMockProcess re-runs the test binary as the mock server.
func startMockProcess(tb testing.TB, key *ecdsa.PublicKey, latency time.Duration) *mockProcess {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := json.Marshal(mockProcessConfig{PublicKey: der, Latency: latency})
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	// The mock is not what is measured, and shares the machine with the
	// client: a lazier collector leaves it more of its core.
	cmd.Env = append(os.Environ(), mockGOGC, mockProcessEnv+"="+string(cfg))
	cmd.Stderr = os.Stderr
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
	p := &mockProcess{cmd: cmd, stdin: stdin, out: json.NewDecoder(bufio.NewReader(stdout))}
	tb.Cleanup(func() { _, _ = p.stop() })
	var ready mockProcessReady
	if err := p.out.Decode(&ready); err != nil {
		tb.Fatalf("mock process did not start: %v", err)
	}
	p.URL = ready.URL
	p.CAFile = filepath.Join(tb.TempDir(), "apns-ca.pem")
	if err := os.WriteFile(p.CAFile, []byte(ready.CA), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// stop ends the child and returns what it saw.
func (p *mockProcess) stop() (mockProcessSummary, error) {
	var s mockProcessSummary
	if p.stdin == nil {
		return s, fmt.Errorf("mock process already stopped")
	}
	p.stdin.Close()
	p.stdin = nil
	err := p.out.Decode(&s)
	if werr := p.cmd.Wait(); err == nil {
		err = werr
	}
	return s, err
}

// mockGOGC is the mock process's garbage-collector setting.
const mockGOGC = "GOGC=400"
