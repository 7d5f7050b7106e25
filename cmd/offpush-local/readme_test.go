package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestREADMEWalkthrough runs the README's curl walk-through, as written,
// against a fresh local server: every curl in it uses -f, so any non-2xx
// answer fails the script.
func TestREADMEWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	script := walkthrough(t, string(readme))

	dir := t.TempDir()
	env := map[string]string{"OFFPUSH_ADDR": "127.0.0.1:0", "OFFPUSH_LOCAL_DIR": dir, "OFFPUSH_STORE": "file:" + filepath.Join(dir, "data.db")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, &bytes.Buffer{}, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("server ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}

	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "API=http://"+addr, "OFFPUSH_LOCAL_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walk-through failed: %v\n%s", err, out)
	}
	// The second push check shows alice logged out after bob took the token.
	if !strings.Contains(string(out), `"status":"logged_out"`) {
		t.Fatalf("walk-through never showed alice logged out:\n%s", out)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// walkthrough returns the shell block that follows the README's
// <!-- walkthrough --> marker.
func walkthrough(t *testing.T, readme string) string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "<!-- walkthrough -->")
	if !ok {
		t.Fatal("README has no <!-- walkthrough --> marker")
	}
	_, body, ok := strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatal("no ```sh block after the walkthrough marker")
	}
	block, _, ok := strings.Cut(body, "```")
	if !ok || !strings.Contains(block, "curl") {
		t.Fatal("walkthrough block is unterminated or has no curl")
	}
	return block
}
