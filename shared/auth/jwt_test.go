package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// Test keys are generated once: RSA generation is slow.
var (
	rsaA = sync.OnceValue(func() *rsa.PrivateKey { return genRSA(2048) })
	rsaB = sync.OnceValue(func() *rsa.PrivateKey { return genRSA(2048) })
	ecA  = sync.OnceValue(func() *ecdsa.PrivateKey { return genEC(elliptic.P256()) })
	ecB  = sync.OnceValue(func() *ecdsa.PrivateKey { return genEC(elliptic.P256()) })
)

func genRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func genEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rsaJWK is the public JWK of k, written by hand as an identity provider
// would publish it.
func rsaJWK(kid string, k *rsa.PrivateKey) map[string]any {
	return map[string]any{
		"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
	}
}

func ecJWK(kid, crv string, k *ecdsa.PrivateKey) map[string]any {
	pub, err := k.PublicKey.ECDH()
	if err != nil {
		panic(err)
	}
	raw := pub.Bytes() // 0x04 || X || Y
	n := (len(raw) - 1) / 2
	return map[string]any{
		"kty": "EC", "kid": kid, "crv": crv, "use": "sig",
		"x": b64(raw[1 : 1+n]), "y": b64(raw[1+n:]),
	}
}

// jwksServer serves a JWK Set that a test can change, and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	keys   []map[string]any
	status int
	hits   atomic.Int64
}

func newJWKSServer(t *testing.T, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != http.StatusOK {
			w.WriteHeader(s.status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(status int, keys ...map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.keys = status, keys
}

// sign builds a token with the given method, key, kid (omitted when empty)
// and claims.
func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// claims returns a valid claim set for user alice, with extra entries set
// or, when their value is nil, removed.
func claims(extra map[string]any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func publicPEM(t *testing.T, k crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func newVerifier(t *testing.T, cfg JWTConfig) *Verifier {
	t.Helper()
	v, err := NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

type verifyCase struct {
	name   string
	token  string
	user   string // expected user ID when reason is empty
	reason string // expected rejection reason
}

func runVerify(t *testing.T, v *Verifier, cases []verifyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user, err := v.Verify(context.Background(), tc.token)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if user != tc.user {
					t.Fatalf("user = %q, want %q", user, tc.user)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token as %q, want rejection %q", user, tc.reason)
			}
			if user != "" {
				t.Errorf("user = %q on error, want empty", user)
			}
			if !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("error %v does not wrap ErrUnauthenticated", err)
			}
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if ae.Reason != tc.reason {
				t.Errorf("reason = %q, want %q (error %v)", ae.Reason, tc.reason, err)
			}
			if strings.Contains(err.Error(), string(testSecret)) {
				t.Errorf("error message leaks the secret: %v", err)
			}
		})
	}
}

func TestVerifyHS256(t *testing.T) {
	v := newVerifier(t, JWTConfig{HS256Secret: testSecret})
	now := time.Now()
	minted, err := MintHS256(testSecret, "alice", time.Hour, now, "", "")
	if err != nil {
		t.Fatal(err)
	}
	expired, err := MintHS256(testSecret, "alice", time.Hour, now.Add(-2*time.Hour), "", "")
	if err != nil {
		t.Fatal(err)
	}
	hs := func(extra map[string]any) string {
		return sign(t, jwt.SigningMethodHS256, testSecret, "", claims(extra))
	}
	noneToken := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims(nil))
	unknownAlg := b64([]byte(`{"alg":"XX9","typ":"JWT"}`)) + "." + b64([]byte(`{"sub":"alice"}`)) + "." + b64([]byte("sig"))

	runVerify(t, v, []verifyCase{
		{name: "minted", token: minted, user: "alice"},
		{name: "iss and aud ignored when not configured", token: hs(map[string]any{"iss": "someone", "aud": "elsewhere"}), user: "alice"},
		{name: "unicode sub", token: hs(map[string]any{"sub": "用户-1"}), user: "用户-1"},
		{name: "sub of 128 bytes", token: hs(map[string]any{"sub": strings.Repeat("a", 128)}), user: strings.Repeat("a", 128)},
		{name: "expired within leeway", token: hs(map[string]any{"exp": now.Add(-10 * time.Second).Unix()}), user: "alice"},
		{name: "expired", token: expired, reason: "token expired"},
		{name: "missing exp", token: hs(map[string]any{"exp": nil}), reason: "missing exp"},
		{name: "not valid yet", token: hs(map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}), reason: "token not valid yet"},
		{name: "issued in the future", token: hs(map[string]any{"iat": now.Add(10 * time.Minute).Unix()}), reason: "token issued in the future"},
		{name: "wrong secret", token: sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), "", claims(nil)), reason: "bad signature"},
		{name: "tampered payload", token: tamper(t, minted), reason: "bad signature"},
		{name: "alg none", token: noneToken, reason: "unsupported algorithm"},
		{name: "HS384 not configured", token: sign(t, jwt.SigningMethodHS384, testSecret, "", claims(nil)), reason: "unsupported algorithm"},
		{name: "RS256 not configured", token: sign(t, jwt.SigningMethodRS256, rsaA(), "a", claims(nil)), reason: "unsupported algorithm"},
		{name: "unknown alg", token: unknownAlg, reason: "unsupported algorithm"},
		{name: "empty", token: "", reason: "missing token"},
		{name: "not a JWT", token: "abc", reason: "malformed token"},
		{name: "bad base64", token: "a.b.c", reason: "malformed token"},
		{name: "too large", token: hs(map[string]any{"pad": strings.Repeat("x", maxTokenLen)}), reason: "token too large"},
		{name: "missing sub", token: hs(map[string]any{"sub": nil}), reason: "missing sub"},
		{name: "empty sub", token: hs(map[string]any{"sub": ""}), reason: "missing sub"},
		{name: "sub not a string", token: hs(map[string]any{"sub": 42}), reason: "malformed token"},
		{name: "sub too long", token: hs(map[string]any{"sub": strings.Repeat("a", 129)}), reason: "invalid sub"},
		{name: "sub with slash", token: hs(map[string]any{"sub": "a/b"}), reason: "invalid sub"},
		{name: "sub with hash", token: hs(map[string]any{"sub": "a#b"}), reason: "invalid sub"},
		{name: "sub with control char", token: hs(map[string]any{"sub": "a\nb"}), reason: "invalid sub"},
		{name: "sub with DEL", token: hs(map[string]any{"sub": "a\x7fb"}), reason: "invalid sub"},
	})
}

// tamper swaps the payload of token for one naming another user.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	payload, err := json.Marshal(claims(map[string]any{"sub": "mallory"}))
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + b64(payload) + "." + parts[2]
}

func TestVerifyIssuerAudience(t *testing.T) {
	const iss, aud = "https://id.example.com", "offpush"
	v := newVerifier(t, JWTConfig{HS256Secret: testSecret, Issuer: iss, Audience: aud})
	minted, err := MintHS256(testSecret, "bob", time.Hour, time.Now(), iss, aud)
	if err != nil {
		t.Fatal(err)
	}
	hs := func(extra map[string]any) string {
		return sign(t, jwt.SigningMethodHS256, testSecret, "", claims(extra))
	}
	runVerify(t, v, []verifyCase{
		{name: "minted with iss and aud", token: minted, user: "bob"},
		{name: "aud string", token: hs(map[string]any{"iss": iss, "aud": aud}), user: "alice"},
		{name: "aud list containing ours", token: hs(map[string]any{"iss": iss, "aud": []string{"other", aud}}), user: "alice"},
		{name: "wrong iss", token: hs(map[string]any{"iss": "https://evil.example.com", "aud": aud}), reason: "wrong issuer"},
		{name: "missing iss", token: hs(map[string]any{"aud": aud}), reason: "missing iss"},
		{name: "wrong aud", token: hs(map[string]any{"iss": iss, "aud": "other"}), reason: "wrong audience"},
		{name: "missing aud", token: hs(map[string]any{"iss": iss}), reason: "missing aud"},
		{name: "expired beats wrong aud", token: hs(map[string]any{"iss": iss, "aud": "other", "exp": time.Now().Add(-time.Hour).Unix()}), reason: "token expired"},
	})
}

func TestVerifyJWKS(t *testing.T) {
	small := genRSA(1024)
	p384 := genEC(elliptic.P384())
	srv := newJWKSServer(t,
		rsaJWK("rsa-a", rsaA()),
		ecJWK("ec-a", "P-256", ecA()),
		rsaJWK("rsa-small", small),
		ecJWK("ec-384", "P-384", p384),
	)
	v := newVerifier(t, JWTConfig{JWKSURL: srv.URL, HTTPClient: srv.Client()})

	rs := func(key any, kid string, extra map[string]any) string {
		return sign(t, jwt.SigningMethodRS256, key, kid, claims(extra))
	}
	es := func(key any, kid string, extra map[string]any) string {
		return sign(t, jwt.SigningMethodES256, key, kid, claims(extra))
	}
	pemA := publicPEM(t, &rsaA().PublicKey)

	runVerify(t, v, []verifyCase{
		{name: "RS256", token: rs(rsaA(), "rsa-a", nil), user: "alice"},
		{name: "ES256", token: es(ecA(), "ec-a", map[string]any{"sub": "carol"}), user: "carol"},
		{name: "RS256 without kid", token: rs(rsaA(), "", nil), user: "alice"},
		{name: "ES256 without kid", token: es(ecA(), "", nil), user: "alice"},
		{name: "RS256 expired", token: rs(rsaA(), "rsa-a", map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), reason: "token expired"},
		{name: "RS256 missing exp", token: rs(rsaA(), "rsa-a", map[string]any{"exp": nil}), reason: "missing exp"},
		{name: "RS256 signed by another key", token: rs(rsaB(), "rsa-a", nil), reason: "bad signature"},
		{name: "RS256 without kid by unknown key", token: rs(rsaB(), "", nil), reason: "bad signature"},
		{name: "ES256 signed by another key", token: es(ecB(), "ec-a", nil), reason: "bad signature"},
		{name: "unknown kid", token: rs(rsaB(), "rsa-b", nil), reason: "unknown signing key"},
		{name: "ES256 naming an RSA key", token: es(ecA(), "rsa-a", nil), reason: "unknown signing key"},
		{name: "RSA key under 2048 bits", token: rs(small, "rsa-small", nil), reason: "unusable signing key"},
		{name: "ES256 naming a P-384 key", token: es(ecA(), "ec-384", nil), reason: "unusable signing key"},
		{name: "HS256 signed with the public key PEM", token: sign(t, jwt.SigningMethodHS256, pemA, "rsa-a", claims(nil)), reason: "unsupported algorithm"},
		{name: "HS256 signed with the modulus", token: sign(t, jwt.SigningMethodHS256, rsaA().N.Bytes(), "rsa-a", claims(nil)), reason: "unsupported algorithm"},
		{name: "HS256 with the configured-nowhere secret", token: sign(t, jwt.SigningMethodHS256, testSecret, "", claims(nil)), reason: "unsupported algorithm"},
		{name: "alg none", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa-a", claims(nil)), reason: "unsupported algorithm"},
		{name: "PS256 not configured", token: sign(t, jwt.SigningMethodPS256, rsaA(), "rsa-a", claims(nil)), reason: "unsupported algorithm"},
	})
}

func TestVerifyHS256AndJWKS(t *testing.T) {
	srv := newJWKSServer(t, rsaJWK("rsa-a", rsaA()))
	v := newVerifier(t, JWTConfig{HS256Secret: testSecret, JWKSURL: srv.URL, HTTPClient: srv.Client()})
	minted, err := MintHS256(testSecret, "alice", time.Hour, time.Now(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	runVerify(t, v, []verifyCase{
		{name: "HS256", token: minted, user: "alice"},
		{name: "RS256", token: sign(t, jwt.SigningMethodRS256, rsaA(), "rsa-a", claims(map[string]any{"sub": "bob"})), user: "bob"},
		{name: "HS256 signed with the public key PEM", token: sign(t, jwt.SigningMethodHS256, publicPEM(t, &rsaA().PublicKey), "rsa-a", claims(nil)), reason: "bad signature"},
		{name: "ES256 unknown kid", token: sign(t, jwt.SigningMethodES256, ecA(), "ec-a", claims(nil)), reason: "unknown signing key"},
	})
}

func TestVerifyKeyRotation(t *testing.T) {
	srv := newJWKSServer(t, rsaJWK("rsa-a", rsaA()))
	v := newVerifier(t, JWTConfig{JWKSURL: srv.URL, HTTPClient: srv.Client()})
	ctx := context.Background()
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("JWKS fetched %d times at start, want 1", got)
	}
	oldTok := sign(t, jwt.SigningMethodRS256, rsaA(), "rsa-a", claims(nil))
	newTok := sign(t, jwt.SigningMethodES256, ecB(), "ec-b", claims(map[string]any{"sub": "bob"}))

	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatalf("old key before rotation: %v", err)
	}
	if srv.hits.Load() != 1 {
		t.Fatalf("a known kid refetched the JWKS")
	}

	// The issuer publishes a new key beside the old one.
	srv.set(http.StatusOK, rsaJWK("rsa-a", rsaA()), ecJWK("ec-b", "P-256", ecB()))
	user, err := v.Verify(ctx, newTok)
	if err != nil {
		t.Fatalf("new kid after rotation: %v", err)
	}
	if user != "bob" {
		t.Fatalf("user = %q, want bob", user)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("JWKS fetched %d times, want 2 (one refresh for the unknown kid)", got)
	}
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatalf("old key still published: %v", err)
	}

	// Another unknown kid within the rate limit must not refetch, nor wait.
	start := time.Now()
	_, err = v.Verify(ctx, sign(t, jwt.SigningMethodRS256, rsaB(), "rsa-b", claims(nil)))
	var ae *Error
	if !errors.As(err, &ae) || ae.Reason != "unknown signing key" {
		t.Fatalf("rate-limited unknown kid: err = %v, want unknown signing key", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("JWKS fetched %d times, want 2: unknown-kid refresh is not rate limited", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("rate-limited unknown kid took %v", d)
	}
}

func TestVerifyBackgroundRefresh(t *testing.T) {
	srv := newJWKSServer(t, rsaJWK("rsa-a", rsaA()))
	v := newVerifier(t, JWTConfig{
		JWKSURL:                   srv.URL,
		HTTPClient:                srv.Client(),
		RefreshInterval:           20 * time.Millisecond,
		UnknownKIDRefreshInterval: time.Hour,
	})
	ctx := context.Background()
	oldTok := sign(t, jwt.SigningMethodRS256, rsaA(), "rsa-a", claims(nil))
	newTok := sign(t, jwt.SigningMethodRS256, rsaB(), "rsa-b", claims(nil))

	// Use up the single unknown-kid refresh so that only the background
	// refresh can bring the new key in.
	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, rsaB(), "spent", claims(nil))); err == nil {
		t.Fatal("unknown kid accepted")
	}

	// Rotate: the new key replaces the old one.
	srv.set(http.StatusOK, rsaJWK("rsa-b", rsaB()))
	waitFor(t, "new key accepted", func() bool {
		_, err := v.Verify(ctx, newTok)
		return err == nil
	})
	_, err := v.Verify(ctx, oldTok)
	var ae *Error
	if !errors.As(err, &ae) || ae.Reason != "unknown signing key" {
		t.Fatalf("withdrawn key: err = %v, want unknown signing key", err)
	}
}

func TestVerifyJWKSUnavailableAtStart(t *testing.T) {
	srv := newJWKSServer(t)
	srv.set(http.StatusInternalServerError)
	v := newVerifier(t, JWTConfig{JWKSURL: srv.URL, HTTPClient: srv.Client()})
	tok := sign(t, jwt.SigningMethodRS256, rsaA(), "rsa-a", claims(nil))

	// The key server recovers; the first token with its kid fetches it.
	srv.set(http.StatusOK, rsaJWK("rsa-a", rsaA()))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the key server recovered: %v", err)
	}
}

func TestVerifierStopsRefreshing(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(v *Verifier, cancel context.CancelFunc)
	}{
		{"Close", func(v *Verifier, _ context.CancelFunc) { v.Close(); v.Close() }},
		{"context cancelled", func(_ *Verifier, cancel context.CancelFunc) { cancel() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, rsaJWK("rsa-a", rsaA()))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			v, err := NewVerifier(ctx, JWTConfig{JWKSURL: srv.URL, HTTPClient: srv.Client(), RefreshInterval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			waitFor(t, "background refreshes", func() bool { return srv.hits.Load() >= 3 })

			tc.stop(v, cancel)
			time.Sleep(50 * time.Millisecond) // let an in-flight refresh finish
			before := srv.hits.Load()
			time.Sleep(150 * time.Millisecond)
			if after := srv.hits.Load(); after != before {
				t.Fatalf("JWKS fetched %d more times after stopping", after-before)
			}
			// Keys already fetched keep working.
			if _, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodRS256, rsaA(), "rsa-a", claims(nil))); err != nil {
				t.Fatalf("Verify after stopping: %v", err)
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewVerifierConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  JWTConfig
	}{
		{"nothing configured", JWTConfig{Issuer: "x"}},
		{"short secret", JWTConfig{HS256Secret: []byte("short")}},
		{"JWKS URL without scheme", JWTConfig{JWKSURL: "keys.example.com/jwks.json"}},
		{"JWKS URL with another scheme", JWTConfig{JWKSURL: "ftp://keys.example.com/jwks.json"}},
		{"JWKS URL without host", JWTConfig{JWKSURL: "https:///jwks.json"}},
		{"negative leeway", JWTConfig{HS256Secret: testSecret, Leeway: -time.Second}},
		{"negative refresh interval", JWTConfig{JWKSURL: "https://keys.example.com/jwks.json", RefreshInterval: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(context.Background(), tc.cfg)
			if err == nil {
				v.Close()
				t.Fatal("NewVerifier accepted the config")
			}
			if errors.Is(err, ErrUnauthenticated) {
				t.Errorf("config error %v wraps ErrUnauthenticated", err)
			}
			if len(tc.cfg.HS256Secret) > 0 && strings.Contains(err.Error(), string(tc.cfg.HS256Secret)) {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	tok := sign(t, jwt.SigningMethodHS256, testSecret, "", claims(map[string]any{"exp": time.Now().Add(-90 * time.Second).Unix()}))
	for _, tc := range []struct {
		name   string
		leeway time.Duration
		ok     bool
	}{
		{"default 30s", 0, false},
		{"2 minutes", 2 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, JWTConfig{HS256Secret: testSecret, Leeway: tc.leeway})
			_, err := v.Verify(context.Background(), tok)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestMintHS256(t *testing.T) {
	now := time.Now()
	t.Run("claims", func(t *testing.T) {
		s, err := MintHS256(testSecret, "alice", 10*time.Minute, now, "iss-1", "aud-1")
		if err != nil {
			t.Fatal(err)
		}
		var c jwt.RegisteredClaims
		tok, err := jwt.ParseWithClaims(s, &c, func(*jwt.Token) (any, error) { return testSecret, nil })
		if err != nil {
			t.Fatal(err)
		}
		if tok.Method.Alg() != "HS256" {
			t.Errorf("alg = %s", tok.Method.Alg())
		}
		if c.Subject != "alice" || c.Issuer != "iss-1" || len(c.Audience) != 1 || c.Audience[0] != "aud-1" {
			t.Errorf("claims = %+v", c)
		}
		if c.ExpiresAt == nil || c.ExpiresAt.Unix() != now.Add(10*time.Minute).Unix() {
			t.Errorf("exp = %v", c.ExpiresAt)
		}
		if c.IssuedAt == nil || c.IssuedAt.Unix() != now.Unix() {
			t.Errorf("iat = %v", c.IssuedAt)
		}
	})
	t.Run("no iss or aud", func(t *testing.T) {
		s, err := MintHS256(testSecret, "alice", time.Minute, now, "", "")
		if err != nil {
			t.Fatal(err)
		}
		var c jwt.MapClaims
		if _, err := jwt.ParseWithClaims(s, &c, func(*jwt.Token) (any, error) { return testSecret, nil }); err != nil {
			t.Fatal(err)
		}
		if _, ok := c["iss"]; ok {
			t.Errorf("iss present: %v", c)
		}
		if _, ok := c["aud"]; ok {
			t.Errorf("aud present: %v", c)
		}
	})
	for _, tc := range []struct {
		name   string
		secret []byte
		user   string
		ttl    time.Duration
	}{
		{"short secret", []byte("short"), "alice", time.Hour},
		{"empty user", testSecret, "", time.Hour},
		{"user with slash", testSecret, "a/b", time.Hour},
		{"user too long", testSecret, strings.Repeat("u", 129), time.Hour},
		{"zero ttl", testSecret, "alice", 0},
		{"negative ttl", testSecret, "alice", -time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := MintHS256(tc.secret, tc.user, tc.ttl, now, "", ""); err == nil {
				t.Fatalf("MintHS256 = %q, want error", s)
			}
		})
	}
}
