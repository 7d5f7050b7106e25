package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeAndToken starts the local server as `make run` does, mints a
// token as `make token` does in another process, and walks the API.
func TestServeAndToken(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"OFFPUSH_ADDR":      "127.0.0.1:0",
		"OFFPUSH_LOCAL_DIR": dir,
		"OFFPUSH_STORE":     "file:" + filepath.Join(dir, "data.db"),
	}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var banner bytes.Buffer
	go func() { done <- run(ctx, nil, getenv, &banner, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("server ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "local-secrets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var secrets secretsFile
	json.Unmarshal(raw, &secrets)
	if !strings.Contains(banner.String(), secrets.AdminKey) || !strings.Contains(banner.String(), "make token USER=alice") || !strings.Contains(banner.String(), "file:") {
		t.Fatalf("banner lacks the admin key, store or token hint:\n%s", banner.String())
	}
	var tok bytes.Buffer
	if err := run(context.Background(), []string{"token", "alice"}, getenv, &tok, nil); err != nil {
		t.Fatal(err)
	}

	call := func(method, path, bearer, body string) *http.Response {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+bearer)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := call("POST", "/v1/certificates", secrets.AdminKey, `{"id":10002,"vendor":"huawei","name":"hw","huawei":{"appId":"104000001","appSecret":"s3cret-value"}}`); r.StatusCode != 201 {
		t.Fatalf("create certificate: %d", r.StatusCode)
	}
	if r := call("PUT", "/v1/devices/p1", strings.TrimSpace(tok.String()), `{"certificateId":10002,"token":"hw-token-1","platform":"android"}`); r.StatusCode != 200 {
		t.Fatalf("upload with the minted token: %d", r.StatusCode)
	}
	if r := call("GET", "/healthz", "", ""); r.StatusCode != 200 {
		t.Fatalf("healthz: %d", r.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	// The same secrets come back on restart: the minted token stays valid.
	again, err := localSecrets(getenv)
	if err != nil || again != secrets {
		t.Fatalf("secrets changed across restarts: %v", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	env := map[string]string{"OFFPUSH_LOCAL_DIR": t.TempDir()}
	if err := run(context.Background(), []string{"frobnicate"}, func(k string) string { return env[k] }, &bytes.Buffer{}, nil); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := run(context.Background(), []string{"token"}, func(k string) string { return env[k] }, &bytes.Buffer{}, nil); err == nil {
		t.Fatal("token without a user accepted")
	}
}
