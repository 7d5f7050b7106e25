package apns

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"
	"golang.org/x/net/http2"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/vendortest"
)

func TestSendSuccessReusesJWT(t *testing.T) {
	c, mock := mockClient(t, vendortest.Options{})
	ctx := ctxT(t)
	var targets []push.Target
	for i := range 40 {
		targets = append(targets, push.Target{Token: hexToken(i), Badge: intp(i % 3)})
	}
	m := message()
	for round := range 3 {
		results := c.Send(ctx, m, targets)
		for i, r := range results {
			if r.Outcome != push.Sent {
				t.Fatalf("round %d target %d: %+v", round, i, r)
			}
			if want := NotificationID(m.ID, targets[i].Token); r.MessageID != want {
				t.Errorf("target %d: message ID %q, want the apns-id %q", i, r.MessageID, want)
			}
		}
	}
	if n := mock.JWTs(); n != 1 {
		t.Errorf("the mock saw %d provider tokens over 120 pushes, want 1 reused", n)
	}
	if n := mock.Requests(); n != 120 {
		t.Errorf("%d requests, want 120", n)
	}
	mock.Log.CheckClean(t)
}

// TestRequestsEqualWire checks that Requests reports exactly what Send puts
// on the wire: path, meaningful headers and body bytes.
func TestRequestsEqualWire(t *testing.T) {
	c, mock := mockClient(t, vendortest.Options{})
	m := message()
	m.Info.APNsInfo = push.APNsInfo{SubTitle: "<b>&</b> \u2028", Image: "https://img.example.com/a.png?x=1&y=2"}
	targets := []push.Target{{Token: hexToken(1), Badge: intp(12)}, {Token: hexToken(2)}, {Token: hexToken(3), Badge: intp(0)}}
	reqs, _ := c.Requests(m, targets)
	results := c.Send(ctxT(t), m, targets)
	for i, r := range results {
		if r.Outcome != push.Sent {
			t.Fatalf("target %d: %+v", i, r)
		}
	}
	got := map[string]vendortest.Received{}
	for _, r := range mock.Log.Received() {
		got[r.Targets[0]] = r
	}
	for _, req := range reqs {
		rec, ok := got[req.Target]
		if !ok {
			t.Fatalf("no request received for %s", device.Mask(req.Target))
		}
		if !strings.HasSuffix(req.URL, rec.Path) {
			t.Errorf("URL %s, path received %s", req.URL, rec.Path)
		}
		if !bytes.Equal(rec.Body, req.Payload) {
			t.Errorf("body received\n%s\nRequests reported\n%s", rec.Body, req.Payload)
		}
		for k, v := range req.Header {
			if k == "apns-expiration" {
				continue // Requests and Send ran a moment apart
			}
			if rv := rec.Header.Get(k); rv != v {
				t.Errorf("header %s received %q, reported %q", k, rv, v)
			}
		}
		if rec.Header.Get("apns-collapse-id") != "" {
			t.Error("apns-collapse-id sent")
		}
		if !strings.HasPrefix(rec.Header.Get("Authorization"), "bearer ") {
			t.Error("no bearer token")
		}
	}
	mock.Log.CheckClean(t)
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		prefix     string
		outcome    push.Outcome
		reason     string
		retryAfter time.Duration
	}{
		{"invalid-", push.InvalidToken, "410 Unregistered since ", 0},
		{"apns410-ExpiredToken-", push.InvalidToken, "410 ExpiredToken", 0},
		{"apns400-BadDeviceToken-", push.InvalidToken, "400 BadDeviceToken", 0},
		{"apns400-DeviceTokenNotForTopic-", push.InvalidToken, "400 DeviceTokenNotForTopic", 0},
		{"apns400-BadCollapseId-", push.Rejected, "400 BadCollapseId", 0},
		{"apns400-TopicDisallowed-", push.Rejected, "400 TopicDisallowed", 0},
		{"apns403-InvalidProviderToken-", push.Auth, "403 InvalidProviderToken", 0},
		{"apns403-MissingProviderToken-", push.Auth, "403 MissingProviderToken", 0},
		{"apns403-BadCertificate-", push.Auth, "403 BadCertificate", 0},
		{"apns403-BadCertificateEnvironment-", push.Auth, "403 BadCertificateEnvironment", 0},
		{"apns403-Forbidden-", push.Auth, "403 Forbidden", 0},
		{"apns404-BadPath-", push.Rejected, "404 BadPath", 0},
		{"apns405-MethodNotAllowed-", push.Rejected, "405 MethodNotAllowed", 0},
		{"apns413-PayloadTooLarge-", push.Rejected, "413 PayloadTooLarge", 0},
		{"busy1-", push.Retryable, "429 TooManyRequests", time.Second},
		{"quota-", push.Retryable, "429 TooManyRequests", 0},
		{"apns429-TooManyRequests-ra9-", push.Retryable, "429 TooManyRequests", 9 * time.Second},
		{"apns429-TooManyProviderTokenUpdates-", push.Auth, "429 TooManyProviderTokenUpdates", 0},
		{"apns500-InternalServerError-", push.Retryable, "500 InternalServerError", 0},
		{"apns503-ServiceUnavailable-ra30-", push.Retryable, "503 ServiceUnavailable", 30 * time.Second},
		{"apns503-Shutdown-", push.Retryable, "503 Shutdown", 0},
	}
	c, mock := mockClient(t, vendortest.Options{})
	var targets []push.Target
	for i, tt := range tests {
		targets = append(targets, push.Target{Token: tt.prefix + hexToken(i)})
	}
	targets = append(targets, push.Target{Token: hexToken(99)})
	results := c.Send(ctxT(t), message(), targets)
	for i, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			r := results[i]
			if r.Outcome != tt.outcome || !strings.HasPrefix(r.Reason, tt.reason) || r.RetryAfter != tt.retryAfter {
				t.Errorf("got %+v, want %s %q retry after %s", r, tt.outcome, tt.reason, tt.retryAfter)
			}
			if strings.Contains(r.Reason, hexToken(i)) {
				t.Errorf("reason %q holds the token", r.Reason)
			}
		})
	}
	if r := results[len(tests)]; r.Outcome != push.Sent {
		t.Errorf("plain token after the scripted ones: %+v", r)
	}
	mock.Log.CheckClean(t)
}

func TestRetryAfterDate(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	c := &Client{now: func() time.Time { return now }}
	if d := c.retryAfter(now.Add(90 * time.Second).Format(http.TimeFormat)); d != 90*time.Second {
		t.Errorf("HTTP-date Retry-After: %s, want 90s", d)
	}
	for _, v := range []string{"", "-3", "soon", now.Add(-time.Minute).Format(http.TimeFormat)} {
		if d := c.retryAfter(v); d != 0 {
			t.Errorf("Retry-After %q: %s, want 0", v, d)
		}
	}
}

// TestExpiredProviderToken: APNs calls the JWT expired; the client makes a
// new one and retries that push once, and does not force another within 20
// minutes.
func TestExpiredProviderToken(t *testing.T) {
	c, mock := mockClient(t, vendortest.Options{})
	ctx := ctxT(t)
	targets := []push.Target{{Token: hexToken(1)}, {Token: hexToken(2)}, {Token: hexToken(3)}}
	if r := c.Send(ctx, message(), targets[:1]); r[0].Outcome != push.Sent {
		t.Fatalf("first push: %+v", r[0])
	}
	mock.ExpireJWTs()
	before := mock.Requests()
	for i, r := range c.Send(ctx, message(), targets) {
		if r.Outcome != push.Sent {
			t.Errorf("after expiry, target %d: %+v", i, r)
		}
	}
	if n := mock.JWTs(); n != 2 {
		t.Errorf("%d provider tokens, want 2 (one renewal shared by the three pushes)", n)
	}
	if n := mock.Requests() - before; n > 6 {
		t.Errorf("%d requests for 3 pushes, want each retried at most once", n)
	}
	mock.ExpireJWTs()
	r := c.Send(ctx, message(), targets[:1])
	if r[0].Outcome != push.Auth || !strings.Contains(r[0].Reason, "ExpiredProviderToken") {
		t.Errorf("second expiry within 20 minutes: %+v, want auth without a new token", r[0])
	}
	if n := mock.JWTs(); n != 2 {
		t.Errorf("%d provider tokens, want no renewal within 20 minutes", n)
	}
	mock.Log.CheckClean(t)
}

// TestTooManyProviderTokenUpdates: after APNs says tokens change too often,
// an ExpiredProviderToken no longer makes a new one.
func TestTooManyProviderTokenUpdates(t *testing.T) {
	c, mock := mockClient(t, vendortest.Options{})
	ctx := ctxT(t)
	r := c.Send(ctx, message(), []push.Target{{Token: "apns429-TooManyProviderTokenUpdates-ab12"}})
	if r[0].Outcome != push.Auth {
		t.Fatalf("TooManyProviderTokenUpdates: %+v", r[0])
	}
	mock.ExpireJWTs()
	r = c.Send(ctx, message(), []push.Target{{Token: hexToken(1)}})
	if r[0].Outcome != push.Auth {
		t.Errorf("expired token after TooManyProviderTokenUpdates: %+v, want auth", r[0])
	}
	if n := mock.JWTs(); n != 1 {
		t.Errorf("%d provider tokens, want 1: renewal must stop", n)
	}
	mock.Log.CheckClean(t)
}

// TestMockCatchesJWTPerRequest shows the mock failing a client that signs a
// new JWT for every request, as APNs refuses it.
func TestMockCatchesJWTPerRequest(t *testing.T) {
	key, _ := newKey(t)
	mock := tokenMock(t, key, vendortest.Options{})
	env := envFor(t, mock)
	tok := &token.Token{AuthKey: key, KeyID: testKeyID, TeamID: testTeam}
	cl := &apns2.Client{Host: mock.URL(), Token: tok, HTTPClient: env.HTTPClient}
	var statuses []int
	for i := range 2 {
		tok.Generate() // what a careless client does
		res, err := cl.PushWithContext(ctxT(t), &apns2.Notification{
			DeviceToken: hexToken(i), Topic: testBundle, Priority: 10, Expiration: time.Now().Add(time.Hour),
			Payload: []byte(`{"aps":{"alert":{"body":"x"}}}`),
		})
		if err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, res.StatusCode)
	}
	if statuses[0] != 200 || statuses[1] != 429 {
		t.Errorf("statuses %v, want [200 429] (TooManyProviderTokenUpdates)", statuses)
	}
	if f := mock.Log.Failures(); len(f) != 1 || !strings.Contains(f[0], "provider token") {
		t.Errorf("mock failures %q, want one about the renewed provider token", f)
	}
}

func TestSharedSigner(t *testing.T) {
	key, keyPEM := newKey(t)
	mock := tokenMock(t, key, vendortest.Options{})
	env := envFor(t, mock)
	sandbox := tokenCert(keyPEM, false)
	other := tokenCert(keyPEM, true)
	other.ID = 10002
	a, err := New(sandbox, env)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(other, env)
	if err != nil {
		t.Fatal(err)
	}
	if a.signer != b.signer {
		t.Fatal("two certificates of one team and key do not share the provider token")
	}
	ctx := ctxT(t)
	for _, cl := range []*Client{a, b} {
		if r := cl.Send(ctx, message(), []push.Target{{Token: hexToken(1)}}); r[0].Outcome != push.Sent {
			t.Fatalf("%+v", r[0])
		}
	}
	if n := mock.JWTs(); n != 1 {
		t.Errorf("%d provider tokens for one team, want 1", n)
	}
	mock.Log.CheckClean(t)
}

func TestInvalidArgumentBeforeSending(t *testing.T) {
	key, keyPEM := newKey(t)
	mock := tokenMock(t, key, vendortest.Options{})
	env := envFor(t, mock)
	alert, err := New(tokenCert(keyPEM, false), env)
	if err != nil {
		t.Fatal(err)
	}
	voip, err := New(tokenCert(keyPEM, true), env)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)

	big := message()
	big.Info.Desc = strings.Repeat("x", 5000)
	targets := []push.Target{{Token: hexToken(1)}, {Token: "ab/../cd"}, {Token: ""}}
	reqs, results := alert.Requests(big, targets)
	if len(reqs) != 0 || results[0].Outcome != push.InvalidArgument || !strings.Contains(results[0].Reason, "4096") {
		t.Errorf("oversize payload: %d requests, result %+v", len(reqs), results[0])
	}
	for i, r := range alert.Send(ctx, big, targets) {
		want := push.InvalidToken
		if i == 0 {
			want = push.InvalidArgument
		}
		if r.Outcome != want {
			t.Errorf("target %d: %+v, want %s", i, r, want)
		}
	}

	// A call between 4096 and 5120 bytes fits as VoIP only.
	call := message()
	call.Type = push.Call
	call.Info.Desc = strings.Repeat("y", 4500)
	if r := alert.Send(ctx, call, targets[:1]); r[0].Outcome != push.InvalidArgument {
		t.Errorf("4.5 KB call as an alert: %+v, want invalid_argument", r[0])
	}
	if r := voip.Send(ctx, call, targets[:1]); r[0].Outcome != push.Sent {
		t.Errorf("4.5 KB call as VoIP: %+v, want sent", r[0])
	}
	call.Info.Desc = strings.Repeat("y", 5200)
	if r := voip.Send(ctx, call, targets[:1]); r[0].Outcome != push.InvalidArgument || !strings.Contains(r[0].Reason, "5120") {
		t.Errorf("5.2 KB call as VoIP: %+v, want invalid_argument", r[0])
	}
	if n := mock.Requests(); n != 1 {
		t.Errorf("%d requests reached APNs, want only the VoIP call", n)
	}
	recv := mock.Log.Received()
	if len(recv) != 1 || recv[0].Header.Get("apns-push-type") != "voip" || recv[0].Header.Get("apns-topic") != testBundle+".voip" {
		t.Errorf("VoIP request headers: %+v", recv)
	}
	mock.Log.CheckClean(t)
}

func TestDryRun(t *testing.T) {
	c, mock := mockClient(t, vendortest.Options{})
	m := message()
	m.DryRun = true
	for _, r := range c.Send(ctxT(t), m, []push.Target{{Token: hexToken(1)}, {Token: "invalid-ab12"}}) {
		if r.Outcome != push.Sent || r.Reason != "dry_run" {
			t.Errorf("dry run: %+v", r)
		}
	}
	if n := mock.Requests(); n != 0 {
		t.Errorf("dry run sent %d requests", n)
	}
}

func TestURLOverrideKeepsPath(t *testing.T) {
	key, keyPEM := newKey(t)
	mock := vendortest.NewAPNs(t, vendortest.Options{}, vendortest.APNsConfig{BundleID: testBundle, TeamID: testTeam, KeyID: testKeyID, Key: &key.PublicKey, PathPrefix: "/apns"})
	c, err := New(tokenCert(keyPEM, false), envFor(t, mock))
	if err != nil {
		t.Fatal(err)
	}
	tok := hexToken(1)
	reqs, _ := c.Requests(message(), []push.Target{{Token: tok}})
	if want := mock.URL() + "/3/device/" + tok; reqs[0].URL != want || !strings.Contains(want, "/apns/3/device/") {
		t.Errorf("URL %s, want %s", reqs[0].URL, want)
	}
	if r := c.Send(ctxT(t), message(), []push.Target{{Token: tok}}); r[0].Outcome != push.Sent {
		t.Errorf("%+v", r[0])
	}
	mock.Log.CheckClean(t)
}

func TestCertificateAuth(t *testing.T) {
	caKey, ca := newCA(t)
	p12 := clientP12(t, caKey, ca, "secret")
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	mock := vendortest.NewAPNs(t, vendortest.Options{}, vendortest.APNsConfig{BundleID: testBundle, ClientCAs: pool})
	c := cert.Certificate{ID: 10003, Vendor: device.APNs, APNs: &cert.APNs{Environment: cert.Production, BundleID: testBundle, P12: p12, Password: "secret"}}
	cl, err := New(c, envFor(t, mock))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range cl.Send(ctxT(t), message(), []push.Target{{Token: hexToken(1)}, {Token: "invalid-ab12"}}) {
		want := []push.Outcome{push.Sent, push.InvalidToken}[i]
		if r.Outcome != want {
			t.Errorf("target %d: %+v, want %s", i, r, want)
		}
	}
	for _, r := range mock.Log.Received() {
		if r.Header.Get("Authorization") != "" {
			t.Error("certificate auth sent an authorization header")
		}
	}
	mock.Log.CheckClean(t)

	// A client without the certificate is refused, and the tokens are fine.
	key, keyPEM := newKey(t)
	_ = key
	noCert, err := New(tokenCert(keyPEM, false), envFor(t, mock))
	if err != nil {
		t.Fatal(err)
	}
	r := noCert.Send(ctxT(t), message(), []push.Target{{Token: hexToken(2)}})
	if r[0].Outcome != push.Auth {
		t.Errorf("wrong credential: %+v, want auth", r[0])
	}
}

func TestTransportErrors(t *testing.T) {
	_, keyPEM := newKey(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	env := &push.Env{URLs: map[string]string{push.URLAPNs: "https://" + addr}}
	c, err := New(tokenCert(keyPEM, false), env)
	if err != nil {
		t.Fatal(err)
	}
	tok := hexToken(1)
	r := c.Send(ctxT(t), message(), []push.Target{{Token: tok}})
	if r[0].Outcome != push.Retryable || !strings.HasPrefix(r[0].Reason, "transport: ") || strings.Contains(r[0].Reason, tok) {
		t.Errorf("connection refused: %+v, want retryable without the token", r[0])
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, r := range c.Send(ctx, message(), []push.Target{{Token: tok}, {Token: ""}}) {
		if r.Outcome != push.Retryable && r.Outcome != push.InvalidToken {
			t.Errorf("cancelled: %+v", r)
		}
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	key, keyPEM := newKey(t)
	mock := tokenMock(t, key, vendortest.Options{Latency: 2 * time.Second})
	c, err := NewWithOptions(tokenCert(keyPEM, false), envFor(t, mock), Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Send(ctxT(t), message(), []push.Target{{Token: hexToken(1)}})
	if r[0].Outcome != push.Retryable {
		t.Errorf("timeout: %+v, want retryable", r[0])
	}
}

// TestInFlightBound: concurrent Send calls share the client's bound, and
// the workers it starts exit once idle.
func TestInFlightBound(t *testing.T) {
	key, keyPEM := newKey(t)
	mock := tokenMock(t, key, vendortest.Options{Latency: 50 * time.Millisecond})
	c, err := NewWithOptions(tokenCert(keyPEM, false), envFor(t, mock), Options{MaxInFlight: 4})
	if err != nil {
		t.Fatal(err)
	}
	c.idle = 100 * time.Millisecond
	ctx := ctxT(t)
	var targets []push.Target
	for i := range 8 {
		targets = append(targets, push.Target{Token: hexToken(i)})
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, r := range c.Send(ctx, message(), targets) {
				if r.Outcome != push.Sent {
					t.Errorf("%+v", r)
				}
			}
		}()
	}
	wg.Wait()
	if p := mock.PeakInFlight(); p > 4 || p < 2 {
		t.Errorf("peak of %d requests in flight, want at most 4 (and more than 1)", p)
	}
	if n := len(c.slots); n == 0 || n > 4 {
		t.Errorf("%d workers after the pushes, want 1 to 4", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(c.slots) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(c.slots); n != 0 {
		t.Errorf("%d workers still running after they went idle", n)
	}
	mock.Log.CheckClean(t)
}

func TestTransportSettings(t *testing.T) {
	_, keyPEM := newKey(t)
	var wrapped int
	env := &push.Env{Wrap: func(c *http.Client) *http.Client { wrapped++; return c }}
	c, err := New(tokenCert(keyPEM, false), env)
	if err != nil {
		t.Fatal(err)
	}
	if wrapped != 1 {
		t.Errorf("env.Wrap called %d times, want once", wrapped)
	}
	tr := c.push.HTTPClient.Transport.(observer).next.(*http2.Transport)
	if tr.ReadIdleTimeout <= 0 || tr.PingTimeout <= 0 || !tr.StrictMaxConcurrentStreams {
		t.Errorf("transport: ReadIdleTimeout %s, PingTimeout %s, strict streams %v; want health checks on one connection", tr.ReadIdleTimeout, tr.PingTimeout, tr.StrictMaxConcurrentStreams)
	}
	if cap(c.slots) != DefaultMaxInFlight || c.timeout != DefaultTimeout {
		t.Errorf("defaults: %d in flight, timeout %s", cap(c.slots), c.timeout)
	}
}

// TestResultsInInputOrder mixes outcomes over many targets.
func TestResultsInInputOrder(t *testing.T) {
	c, mock := mockClient(t, vendortest.Options{})
	var targets []push.Target
	for i := range 300 {
		tok := hexToken(i)
		if i%7 == 0 {
			tok = "invalid-" + tok
		}
		targets = append(targets, push.Target{Token: tok})
	}
	for i, r := range c.Send(ctxT(t), message(), targets) {
		want := push.Sent
		if i%7 == 0 {
			want = push.InvalidToken
		}
		if r.Outcome != want {
			t.Errorf("target %d: %+v, want %s", i, r, want)
		}
	}
	mock.Log.CheckClean(t)
}

func newCA(t *testing.T) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Apple WWDR CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return k, ca
}

// clientP12 issues an APNs-style client certificate and returns it as a
// base64 .p12, as an admin uploads it.
func clientP12(t *testing.T, caKey *ecdsa.PrivateKey, ca *x509.Certificate, password string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Apple Push Services: " + testBundle},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	data, err := pkcs12.Modern.Encode(k, leaf, nil, password)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(data)
}
