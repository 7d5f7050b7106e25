package apns

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/vendortest"
)

const (
	testBundle = "com.example.chat"
	testTeam   = "TEAM123456"
	testKeyID  = "KEY1234567"
)

// TestMain doubles as the benchmark's mock server process (see
// bench_test.go), so the client's CPU time is measured without the mock's.
func TestMain(m *testing.M) {
	if os.Getenv(mockProcessEnv) != "" {
		os.Exit(runMockProcess())
	}
	os.Exit(m.Run())
}

// newKey makes a .p8-style key: PKCS#8 PEM of a P-256 key.
func newKey(t testing.TB) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func tokenCert(keyPEM string, voip bool) cert.Certificate {
	return cert.Certificate{ID: 10001, Vendor: device.APNs, Name: "ios", APNs: &cert.APNs{
		Environment: cert.Sandbox, BundleID: testBundle, TeamID: testTeam, KeyID: testKeyID, PrivateKey: keyPEM, VoIP: voip,
	}}
}

// tokenMock starts a mock accepting provider tokens of key.
func tokenMock(t testing.TB, key *ecdsa.PrivateKey, opts vendortest.Options) *vendortest.APNsMock {
	return vendortest.NewAPNs(t, opts, vendortest.APNsConfig{BundleID: testBundle, TeamID: testTeam, KeyID: testKeyID, Key: &key.PublicKey})
}

// envFor is the Env a deployment with OFFPUSH_APNS_URL and
// OFFPUSH_VENDOR_CA_FILE pointing at the mock gets.
func envFor(t testing.TB, m *vendortest.APNsMock) *push.Env {
	t.Helper()
	vars := map[string]string{push.URLAPNs: m.URL(), push.CAFile: m.CAFile}
	env, err := push.NewEnv(func(k string) string { return vars[k] }, push.EnvConfig{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// mockClient is a token-auth client against a fresh mock.
func mockClient(t testing.TB, opts vendortest.Options) (*Client, *vendortest.APNsMock) {
	t.Helper()
	key, keyPEM := newKey(t)
	m := tokenMock(t, key, opts)
	c, err := New(tokenCert(keyPEM, false), envFor(t, m))
	if err != nil {
		t.Fatal(err)
	}
	return c, m
}

// hexToken is a device-token-like hex string, distinct per n.
func hexToken(n int) string {
	b := make([]byte, 32)
	copy(b, fmt.Sprintf("device-%d", n))
	return hex.EncodeToString(b)
}

func message() *push.Message {
	return &push.Message{
		ID: "msg-1", Type: push.Text, From: "alice", FromNickname: "Alice",
		Info: push.OfflinePushInfo{Title: "Hi", Desc: "You have a new message", Ext: `{"conversationID":"c2c_alice"}`},
		TTL:  24 * time.Hour,
	}
}

func intp(n int) *int { return &n }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
