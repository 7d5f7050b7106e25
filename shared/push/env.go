package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Variables that override a vendor's base URL (scheme, host and an optional
// path prefix; the vendor's own path follows). Tests and proxies use them.
const (
	URLAPNs       = "OFFPUSH_APNS_URL"
	URLFCM        = "OFFPUSH_FCM_URL"
	URLHuawei     = "OFFPUSH_HUAWEI_URL"
	URLHuaweiAuth = "OFFPUSH_HUAWEI_AUTH_URL"
	URLHonor      = "OFFPUSH_HONOR_URL"
	URLHonorAuth  = "OFFPUSH_HONOR_AUTH_URL"
	URLXiaomi     = "OFFPUSH_XIAOMI_URL"
	URLOPPO       = "OFFPUSH_OPPO_URL"
	URLVivo       = "OFFPUSH_VIVO_URL"
	URLMeizu      = "OFFPUSH_MEIZU_URL"
	// CAFile names a PEM bundle trusted for vendor HTTPS besides the system
	// roots (tests with a local TLS mock).
	CAFile = "OFFPUSH_VENDOR_CA_FILE"
)

var urlVars = []string{URLAPNs, URLFCM, URLHuawei, URLHuaweiAuth, URLHonor, URLHonorAuth, URLXiaomi, URLOPPO, URLVivo, URLMeizu}

// TokenStore shares vendor access tokens (Huawei, Honor, OPPO, vivo) between
// containers, so a cold start does not spend one of the vendor's auth calls.
type TokenStore interface {
	// GetVendorToken returns the stored token, or "" if there is none.
	GetVendorToken(ctx context.Context, key string) (token string, expiresAt time.Time, err error)
	PutVendorToken(ctx context.Context, key, token string, expiresAt time.Time) error
}

// Env is what the vendor clients of one process share: built once per
// container, never per invocation.
type Env struct {
	// HTTPClient is the HTTP client of the JSON and form vendors; it keeps
	// connections alive and trusts the extra CA bundle.
	HTTPClient *http.Client
	// TLS is the TLS configuration for clients that build their own
	// transport (APNs, with a client certificate): the same roots.
	TLS *tls.Config
	// URLs are the base URL overrides, by variable name.
	URLs map[string]string
	// Tokens shares access tokens; nil keeps them in memory only.
	Tokens TokenStore
	Now    func() time.Time
	Log    *slog.Logger
	// Wrap, if set, wraps every HTTP client the vendor clients build (for
	// tracing).
	Wrap func(*http.Client) *http.Client
	// Shared holds what the vendor clients of this process share beyond
	// HTTP and tokens, by key: vivo's auth rate limiter, for example, must
	// bound every client of one vivo app together (10 auth calls a second
	// per app), and clients are built per certificate. NewEnv sets it; nil
	// gives each client its own.
	Shared *Shared
}

// Shared is a per-process registry of values the vendor clients share by
// key. Keeping it in Env rather than in package variables scopes it to one
// Env, so tests with their own Env do not share state.
type Shared struct {
	mu sync.Mutex
	m  map[string]any
}

// Get returns the value stored under key, storing create() first if there
// is none. On a nil *Shared it returns create(), unshared.
func (s *Shared) Get(key string, create func() any) any {
	if s == nil {
		return create()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[key]; ok {
		return v
	}
	if s.m == nil {
		s.m = map[string]any{}
	}
	v := create()
	s.m[key] = v
	return v
}

// EnvConfig is what NewEnv reads besides the environment.
type EnvConfig struct {
	Tokens TokenStore
	Log    *slog.Logger
	Wrap   func(*http.Client) *http.Client
}

// NewEnv reads the URL overrides and the CA bundle from getenv.
func NewEnv(getenv func(string) string, cfg EnvConfig) (*Env, error) {
	e := &Env{URLs: map[string]string{}, Tokens: cfg.Tokens, Now: time.Now, Log: cfg.Log, Wrap: cfg.Wrap, Shared: &Shared{}}
	if e.Log == nil {
		e.Log = slog.Default()
	}
	for _, v := range urlVars {
		if u := strings.TrimSpace(getenv(v)); u != "" {
			if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
				return nil, fmt.Errorf("%s: must be an http or https URL, not %q", v, u)
			}
			e.URLs[v] = strings.TrimRight(u, "/")
		}
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if f := strings.TrimSpace(getenv(CAFile)); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", CAFile, err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate in %s", CAFile, f)
		}
	}
	e.TLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	e.HTTPClient = e.WrapClient(&http.Client{Transport: NewTransport(e.TLS), Timeout: 30 * time.Second})
	return e, nil
}

// NewTransport is the vendor HTTP transport: HTTP/2 where the server offers
// it, generous idle pools (a push fan-out reuses connections), bounded
// handshakes and header waits.
func NewTransport(tlsConfig *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsConfig.Clone(),
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 512,
		// A cold fan-out would otherwise dial one TLS connection per
		// request before HTTP/2 multiplexing takes over.
		MaxConnsPerHost:       32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// WrapClient applies Wrap to c.
func (e *Env) WrapClient(c *http.Client) *http.Client {
	if e.Wrap == nil {
		return c
	}
	return e.Wrap(c)
}

// BaseURL is the vendor base URL: the override in variable name, else def.
// Vendor paths are appended to it.
func (e *Env) BaseURL(name, def string) string {
	if u, ok := e.URLs[name]; ok {
		return u
	}
	return def
}

// Overridden reports whether variable name overrides a base URL.
func (e *Env) Overridden(name string) bool {
	_, ok := e.URLs[name]
	return ok
}

// ErrNoCredential is returned by a vendor's New for a certificate without
// that vendor's credential.
var ErrNoCredential = errors.New("certificate has no credential for this vendor")

// HTTP is the HTTP client vendor clients use: HTTPClient, or, when it is
// nil, a new client with a 30-second timeout passed through Wrap.
func (e *Env) HTTP() *http.Client {
	if e.HTTPClient != nil {
		return e.HTTPClient
	}
	return e.WrapClient(&http.Client{Timeout: 30 * time.Second})
}

// Logger is Log, or slog.Default() when it is nil.
func (e *Env) Logger() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

// Clock is Now, or time.Now when it is nil.
func (e *Env) Clock() func() time.Time {
	if e.Now != nil {
		return e.Now
	}
	return time.Now
}
