// Package emulator runs a local emulator (DynamoDB Local, fauxqs, …) once per
// test process, for the packages that wrap one: it finds the installation,
// starts the emulator lazily on a free port, waits until it answers, skips
// the tests when it is not installed (or fails them when
// OFFPUSH_INTEGRATION=required) and stops it when the tests end.
//
// Only test helper packages and _test.go files import this package.
package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// EnvIntegration set to "required" turns a missing emulator (or its runtime)
// from a skip into a failure (CI and `make test` set it).
const EnvIntegration = "OFFPUSH_INTEGRATION"

// startTimeout bounds how long an emulator may take to answer.
const startTimeout = 30 * time.Second

// An Emulator describes one emulator and holds the one instance of it that
// runs in this test process. Declare it as a package variable and do not
// copy it.
type Emulator struct {
	// Name names the emulator in messages: "DynamoDB Local".
	Name string
	// EnvDir names the environment variable holding the installation
	// directory.
	EnvDir string
	// CacheDir is the installation directory used when EnvDir is unset,
	// relative to <repo root>/.cache, where `make tools` installs it.
	CacheDir string
	// Locate checks the installation in dir. When it is usable it returns
	// command, which builds the command running the emulator on a port;
	// otherwise it returns why not (for example "java not found on PATH").
	// Stdout, Stderr and SysProcAttr of the command are set by the Emulator.
	Locate func(dir string) (command func(port int) *exec.Cmd, skip string)
	// TempWorkDir, if not empty, runs the command in a new temporary
	// directory named after it, removed when the emulator stops.
	TempWorkDir string
	// Ready returns nil once the emulator at endpoint answers requests.
	Ready func(ctx context.Context, endpoint string) error

	once     sync.Once
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	workDir  string
	endpoint string
	skip     string // why the emulator cannot run here; set when it is not installed
	err      error  // why it failed to start although installed
}

// Main runs the tests of a package and stops the emulator afterwards, if any
// test started it. Use it in TestMain.
func (e *Emulator) Main(m *testing.M) int {
	code := m.Run()
	e.Stop()
	return code
}

// Endpoint returns the URL of the running emulator, starting it on first use.
// It skips the test (or fails it, when OFFPUSH_INTEGRATION=required) if the
// emulator is not installed.
func (e *Emulator) Endpoint(tb testing.TB) string {
	tb.Helper()
	e.once.Do(e.start)
	if e.skip != "" {
		if os.Getenv(EnvIntegration) == "required" {
			tb.Fatalf("%s is required (%s=required) but %s; run `make tools`", e.Name, EnvIntegration, e.skip)
		}
		tb.Skipf("%s not available: %s; run `make tools` to install it", e.Name, e.skip)
	}
	if e.err != nil {
		tb.Fatalf("%s: %v", e.Name, e.err)
	}
	return e.endpoint
}

// Stop stops the emulator if it runs. Main calls it.
func (e *Emulator) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd == nil {
		return
	}
	e.cmd.Process.Kill()
	<-e.exited
	if e.workDir != "" {
		os.RemoveAll(e.workDir)
	}
	e.cmd = nil
}

// Dir returns the directory the emulator is looked for in: $EnvDir, else
// <repo root>/.cache/CacheDir.
func (e *Emulator) Dir() (string, error) {
	if d := os.Getenv(e.EnvDir); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", e.CacheDir), nil
}

// RepoRoot walks up from the working directory (a package directory under
// go test) to the directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

func (e *Emulator) start() {
	dir, err := e.Dir()
	if err != nil {
		e.skip = err.Error()
		return
	}
	command, skip := e.Locate(dir)
	if skip != "" {
		e.skip = skip
		return
	}
	// Another process may take the free port between our check and the
	// emulator's bind, and the emulator then exits: try a few ports.
	for attempt := 0; attempt < 3; attempt++ {
		e.err = e.launch(command)
		if !errors.Is(e.err, errExited) {
			return
		}
	}
}

// errExited: the emulator stopped before it answered.
var errExited = errors.New("exited before answering")

func (e *Emulator) launch(command func(port int) *exec.Cmd) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	var workDir string
	if e.TempWorkDir != "" {
		if workDir, err = os.MkdirTemp("", e.TempWorkDir); err != nil {
			return fmt.Errorf("create work directory: %w", err)
		}
	}
	cleanup := func() {
		if workDir != "" {
			os.RemoveAll(workDir)
		}
	}
	out := &tailBuffer{max: 8 << 10}
	cmd := command(port)
	if workDir != "" {
		cmd.Dir = workDir
	}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		cleanup()
		return fmt.Errorf("start %s: %w", cmd, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := e.waitReady(endpoint, exited); err != nil {
		cmd.Process.Kill()
		<-exited
		cleanup()
		return fmt.Errorf("%w; emulator output:\n%s", err, out.String())
	}
	e.mu.Lock()
	e.cmd, e.exited, e.workDir, e.endpoint = cmd, exited, workDir, endpoint
	e.mu.Unlock()
	return nil
}

// waitReady polls Ready until the emulator answers.
func (e *Emulator) waitReady(endpoint string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := e.Ready(ctx, endpoint)
		cancel()
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-exited:
			return fmt.Errorf("%s %w on %s", e.Name, errExited, endpoint)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer on %s within %s: %v", e.Name, endpoint, startTimeout, lastErr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
