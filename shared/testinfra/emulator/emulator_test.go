package emulator

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("RepoRoot() = %s without go.mod: %v", root, err)
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 4}
	b.Write([]byte("abc"))
	b.Write([]byte("defg"))
	if got := b.String(); got != "defg" {
		t.Fatalf("tail = %q; want %q", got, "defg")
	}
}

// An emulator that exits at once fails with its output, after a few ports.
func TestExitedEmulatorFails(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	launches := 0
	e := &Emulator{
		Name:        "broken",
		EnvDir:      "OFFPUSH_EMULATOR_TEST_DIR",
		TempWorkDir: "emulator-test-",
		Locate: func(string) (func(int) *exec.Cmd, string) {
			return func(int) *exec.Cmd {
				launches++
				return exec.Command(sh, "-c", "echo boom; exit 3")
			}, ""
		},
		Ready: func(context.Context, string) error { return errors.New("not yet") },
	}
	t.Setenv("OFFPUSH_EMULATOR_TEST_DIR", t.TempDir())
	e.start()
	defer e.Stop()
	if e.skip != "" || !errors.Is(e.err, errExited) || !strings.Contains(e.err.Error(), "boom") {
		t.Fatalf("skip %q, err %v; want an exit error with the output", e.skip, e.err)
	}
	if launches != 3 {
		t.Fatalf("%d launches; want 3", launches)
	}
}

// A missing installation is a skip, not an error.
func TestNotInstalledSkips(t *testing.T) {
	e := &Emulator{
		Name:   "absent",
		EnvDir: "OFFPUSH_EMULATOR_TEST_DIR",
		Locate: func(dir string) (func(int) *exec.Cmd, string) { return nil, dir + " not found" },
	}
	t.Setenv("OFFPUSH_EMULATOR_TEST_DIR", "/nowhere")
	e.start()
	if e.skip != "/nowhere not found" || e.err != nil {
		t.Fatalf("skip %q, err %v", e.skip, e.err)
	}
}
