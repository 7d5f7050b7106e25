package vendortest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// APNs limits the mock enforces [C vendor-apis.md §2].
const (
	apnsMaxPayload     = 4096
	apnsMaxVoIPPayload = 5120
	apnsTokenLifetime  = time.Hour
	// apnsRenewInterval is the least time between two provider tokens of a
	// team; a faster renewal gets 429 TooManyProviderTokenUpdates.
	apnsRenewInterval = 20 * time.Minute
	// apnsStreams is the SETTINGS_MAX_CONCURRENT_STREAMS the mock
	// advertises: APNs connections have been seen with 500 to 1500 [T].
	apnsStreams = 1000
)

// APNsConfig is the app and credential an APNs mock accepts.
type APNsConfig struct {
	BundleID string
	TeamID   string
	KeyID    string
	// Key verifies provider tokens (the .p8 key's public half); nil refuses
	// token auth.
	Key *ecdsa.PublicKey
	// ClientCAs verifies client certificates (certificate auth); nil
	// refuses certificate auth.
	ClientCAs *x509.CertPool
	// PathPrefix is the path before /3/device/, as an OFFPUSH_APNS_URL with
	// a path puts it there.
	PathPrefix string
	// Discard keeps no copy of accepted requests: benchmarks send millions.
	Discard bool
	// Now is the mock's clock (default time.Now).
	Now func() time.Time
}

// APNsMock is a strict APNs provider API over HTTP/2 and TLS. It checks
// each request as vendor-apis.md §2 describes APNs: HTTP/2 only, POST to
// /3/device/<hex token>; a client certificate verified against the test's
// CA, or an ES256 provider token verified with the .p8's public key (kid,
// iss = team ID, iat within the hour), reused: a new token within 20
// minutes of the previous one gets 429 TooManyProviderTokenUpdates, as APNs
// answers a client that signs one per request; apns-topic the bundle ID
// (".voip" for voip pushes), apns-push-type alert or voip, apns-priority
// 10, an apns-expiration, a canonical apns-id, no apns-collapse-id; a JSON
// payload within 4096 bytes (5120 for VoIP) with Apple's aps keys and
// types. A broken rule is logged with Log.Fail and answered with APNs's
// error for it.
//
// Answers follow the token's prefix. The shared script's prefixes answer
// as APNs does: invalid- 410 Unregistered with its timestamp, busy<N>- 429
// TooManyRequests with Retry-After: 1, quota- 429 TooManyRequests without
// one (APNs has no quota; throttling one device is its nearest answer).
// "apns<status>-<Reason>-" gets that status and reason, and
// "apns<status>-<Reason>-ra<N>-" also Retry-After: N, for example
// "apns400-BadDeviceToken-ab12…" or "apns503-ServiceUnavailable-ra30-ab12…".
// Whatever follows a prefix must be hex, as a real device token is. Any
// other token gets 200 with the request's apns-id.
type APNsMock struct {
	// Log records accepted requests and broken rules.
	Log Log
	// CAFile is a PEM file trusting the server, for OFFPUSH_VENDOR_CA_FILE
	// (set by NewAPNs).
	CAFile string

	cfg    APNsConfig
	opts   Options
	srv    *httptest.Server
	script Script

	requests atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
	mu       sync.Mutex
	jwts     map[string]*apnsJWT
	latest   *apnsJWT
	// checked remembers payloads already checked, by push type, and what
	// was wrong with them: a benchmark sends the same few bodies millions
	// of times, and parsing each would make the mock slower than the
	// client it measures.
	checked map[string]map[string]string
}

type apnsJWT struct {
	iat     time.Time
	expired bool
}

// NewAPNs starts an APNs mock for the test: HTTPS with HTTP/2, advertising
// 1000 concurrent streams, requesting and verifying client certificates
// against cfg.ClientCAs when set. It closes when the test ends. It starts
// its own httptest server rather than NewTLSServer's because both settings
// must be in place before the server starts.
func NewAPNs(tb testing.TB, opts Options, cfg APNsConfig) *APNsMock {
	tb.Helper()
	m := NewAPNsServer(opts, cfg)
	tb.Cleanup(m.Close)
	m.CAFile = filepath.Join(tb.TempDir(), "apns-ca.pem")
	if err := os.WriteFile(m.CAFile, m.CAPEM(), 0o600); err != nil {
		tb.Fatal(err)
	}
	return m
}

// NewAPNsServer starts an APNs mock outside a test (a benchmark's helper
// process); Close stops it.
func NewAPNsServer(opts Options, cfg APNsConfig) *APNsMock {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &APNsMock{cfg: cfg, opts: opts, jwts: map[string]*apnsJWT{}, checked: map[string]map[string]string{}}
	srv := httptest.NewUnstartedServer(m)
	srv.EnableHTTP2 = true
	srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: apnsStreams}
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.ClientCAs != nil {
		srv.TLS.ClientAuth = tls.VerifyClientCertIfGiven
		srv.TLS.ClientCAs = cfg.ClientCAs
	}
	srv.StartTLS()
	m.srv = srv
	return m
}

// URL is the server's base URL, for OFFPUSH_APNS_URL.
func (m *APNsMock) URL() string { return m.srv.URL + m.cfg.PathPrefix }

// CAPEM is the server certificate as PEM.
func (m *APNsMock) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.srv.Certificate().Raw})
}

// Close stops the server.
func (m *APNsMock) Close() { m.srv.Close() }

// Requests is how many requests reached the mock, accepted or not.
func (m *APNsMock) Requests() int64 { return m.requests.Load() }

// PeakInFlight is the most requests the mock was answering at once.
func (m *APNsMock) PeakInFlight() int64 { return m.peak.Load() }

// JWTs is how many distinct provider tokens the mock accepted: 1 for a
// client that reuses its token as it should.
func (m *APNsMock) JWTs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, j := range m.jwts {
		if j != nil {
			n++
		}
	}
	return n
}

// ExpireJWTs makes every provider token seen so far expired, as an hour's
// wait would: requests carrying one get 403 ExpiredProviderToken, and a new
// token is welcome at once.
func (m *APNsMock) ExpireJWTs() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, j := range m.jwts {
		if j != nil {
			j.expired = true
		}
	}
}

// apnsError is a refusal: status, reason, and whether the client broke a
// rule (logged with Log.Fail) rather than met a scripted answer.
type apnsError struct {
	status int
	reason string
	broken string
}

func apnsRefuse(status int, reason, format string, args ...any) *apnsError {
	return &apnsError{status: status, reason: reason, broken: fmt.Sprintf(format, args...)}
}

// ServeHTTP checks one request as APNs would and answers it.
func (m *APNsMock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.requests.Add(1)
	n := m.inFlight.Add(1)
	defer m.inFlight.Add(-1)
	for p := m.peak.Load(); n > p && !m.peak.CompareAndSwap(p, n); p = m.peak.Load() {
	}
	id := r.Header.Get("Apns-Id")
	tok, body, e := m.check(r)
	if e == nil {
		if !m.cfg.Discard {
			m.Log.Add(Received{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Targets: []string{tok}})
		}
		m.answerScript(w, r, tok, id)
		return
	}
	if e.broken != "" {
		m.Log.Fail("apns %s: %s", apnsMask(tok), e.broken)
	}
	m.opts.Delay(r)
	m.writeError(w, id, e.status, e.reason, 0, "")
}

func (m *APNsMock) check(r *http.Request) (tok string, body []byte, e *apnsError) {
	prefix := m.cfg.PathPrefix + "/3/device/"
	if !strings.HasPrefix(r.URL.Path, prefix) {
		return "", nil, apnsRefuse(http.StatusNotFound, "BadPath", "path %q does not start with %q", r.URL.Path, prefix)
	}
	tok = strings.TrimPrefix(r.URL.Path, prefix)
	if r.ProtoMajor != 2 {
		return tok, nil, apnsRefuse(http.StatusHTTPVersionNotSupported, "BadPath", "APNs speaks HTTP/2 only, got %s", r.Proto)
	}
	if r.Method != http.MethodPost {
		return tok, nil, apnsRefuse(http.StatusMethodNotAllowed, "MethodNotAllowed", "method %s, want POST", r.Method)
	}
	if tok == "" {
		return tok, nil, apnsRefuse(http.StatusBadRequest, "MissingDeviceToken", "no device token in the path")
	}
	if e := m.checkAuth(r); e != nil {
		return tok, nil, e
	}
	pushType, e := m.checkHeaders(r)
	if e != nil {
		return tok, nil, e
	}
	limit := apnsMaxPayload
	if pushType == "voip" {
		limit = apnsMaxVoIPPayload
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return tok, nil, &apnsError{status: http.StatusBadRequest, reason: "PayloadEmpty"}
	}
	switch {
	case len(body) == 0:
		return tok, body, apnsRefuse(http.StatusBadRequest, "PayloadEmpty", "empty payload")
	case len(body) > limit:
		return tok, body, apnsRefuse(http.StatusRequestEntityTooLarge, "PayloadTooLarge", "payload over %d bytes for push type %s", limit, pushType)
	}
	if why := m.checkPayload(body, pushType); why != "" {
		// APNs's reason table has no entry for a malformed payload; the
		// mock's "BadPayload" is its own.
		return tok, body, apnsRefuse(http.StatusBadRequest, "BadPayload", "payload: %s", why)
	}
	if _, hex := apnsScriptPrefix(tok); !apnsIsHex(hex) {
		return tok, body, apnsRefuse(http.StatusBadRequest, "BadDeviceToken", "device token %q is not hex", apnsMask(tok))
	}
	return tok, body, nil
}

// checkAuth accepts a verified client certificate or a valid provider token.
func (m *APNsMock) checkAuth(r *http.Request) *apnsError {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return nil // certificate auth; the TLS layer verified it against ClientCAs
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return apnsRefuse(http.StatusForbidden, "MissingProviderToken", "neither a client certificate nor an authorization header")
	}
	if m.cfg.Key == nil {
		return apnsRefuse(http.StatusForbidden, "InvalidProviderToken", "provider token sent to a mock without a signing key")
	}
	jwt, ok := strings.CutPrefix(auth, "bearer ")
	if !ok {
		return apnsRefuse(http.StatusForbidden, "InvalidProviderToken", "authorization is not \"bearer <JWT>\"")
	}
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if j, seen := m.jwts[jwt]; seen {
		switch {
		case j == nil:
			return apnsRefuse(http.StatusTooManyRequests, "TooManyProviderTokenUpdates", "provider token renewed within %s of the previous one", apnsRenewInterval)
		case j.expired:
			return &apnsError{status: http.StatusForbidden, reason: "ExpiredProviderToken"}
		case now.Sub(j.iat) > apnsTokenLifetime:
			return apnsRefuse(http.StatusForbidden, "ExpiredProviderToken", "provider token used %s after it was issued; APNs allows %s", now.Sub(j.iat).Round(time.Second), apnsTokenLifetime)
		}
		return nil
	}
	iat, why := m.verifyJWT(jwt, now)
	if why != "" {
		return apnsRefuse(http.StatusForbidden, "InvalidProviderToken", "provider token: %s", why)
	}
	if now.Sub(iat) > apnsTokenLifetime {
		return apnsRefuse(http.StatusForbidden, "ExpiredProviderToken", "new provider token issued %s ago", now.Sub(iat).Round(time.Second))
	}
	if l := m.latest; l != nil && !l.expired && now.Sub(l.iat) < apnsRenewInterval {
		m.jwts[jwt] = nil // refused for good, as APNs keeps refusing it
		return apnsRefuse(http.StatusTooManyRequests, "TooManyProviderTokenUpdates",
			"new provider token %s after the previous one; APNs allows one every %s", now.Sub(l.iat).Round(time.Second), apnsRenewInterval)
	}
	j := &apnsJWT{iat: iat}
	m.jwts[jwt] = j
	m.latest = j
	return nil
}

// verifyJWT checks an ES256 provider token: header alg and kid, claims iss
// and iat, and the signature with the .p8's public key.
func (m *APNsMock) verifyJWT(jwt string, now time.Time) (time.Time, string) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}, "not three dot-separated parts"
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := apnsDecodeSegment(parts[0], &header); err != nil {
		return time.Time{}, "header: " + err.Error()
	}
	if header.Alg != "ES256" {
		return time.Time{}, fmt.Sprintf("alg %q, want ES256", header.Alg)
	}
	if header.Kid != m.cfg.KeyID {
		return time.Time{}, fmt.Sprintf("kid %q, want the key ID %q", header.Kid, m.cfg.KeyID)
	}
	var claims struct {
		Iss string          `json:"iss"`
		Iat json.RawMessage `json:"iat"`
	}
	if err := apnsDecodeSegment(parts[1], &claims); err != nil {
		return time.Time{}, "claims: " + err.Error()
	}
	if claims.Iss != m.cfg.TeamID {
		return time.Time{}, fmt.Sprintf("iss %q, want the team ID %q", claims.Iss, m.cfg.TeamID)
	}
	sec, err := strconv.ParseInt(string(claims.Iat), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Sprintf("iat %s is not integer epoch seconds", claims.Iat)
	}
	iat := time.Unix(sec, 0)
	if iat.After(now.Add(time.Minute)) {
		return time.Time{}, fmt.Sprintf("iat %s is in the future", iat.UTC().Format(time.RFC3339))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return time.Time{}, "signature is not 64 bytes of base64url (r||s)"
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	rr, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(m.cfg.Key, digest[:], rr, ss) {
		return time.Time{}, "signature does not verify with the key's public key"
	}
	return iat, ""
}

func apnsDecodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url without padding")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return errors.New("not a JSON object")
	}
	return nil
}

// apnsCheckedMax bounds the memory of checked payloads.
const apnsCheckedMax = 4096

// checkPayload is checkAPNsPayload, remembered.
func (m *APNsMock) checkPayload(body []byte, pushType string) string {
	m.mu.Lock()
	why, ok := m.checked[pushType][string(body)]
	m.mu.Unlock()
	if ok {
		return why
	}
	why = checkAPNsPayload(body, pushType)
	m.mu.Lock()
	seen := m.checked[pushType]
	if seen == nil || len(seen) >= apnsCheckedMax {
		seen = map[string]string{}
		m.checked[pushType] = seen
	}
	seen[string(body)] = why
	m.mu.Unlock()
	return why
}

var apnsPushTypes = map[string]bool{"alert": true, "background": true, "location": true, "voip": true, "complication": true, "fileprovider": true, "mdm": true, "liveactivity": true, "pushtotalk": true}

// checkHeaders checks the apns-* headers as offpush sends them: push type
// alert or voip with the matching topic, priority 10, an expiration, a
// canonical apns-id if any, and no collapse ID.
func (m *APNsMock) checkHeaders(r *http.Request) (pushType string, e *apnsError) {
	for _, k := range []string{"Apns-Push-Type", "Apns-Topic", "Apns-Priority", "Apns-Expiration", "Apns-Id", "Apns-Collapse-Id", "Authorization"} {
		if len(r.Header[k]) > 1 { // canonical keys: no allocation per lookup
			return "", apnsRefuse(http.StatusBadRequest, "DuplicateHeaders", "header %s repeated", k)
		}
	}
	pushType = r.Header.Get("Apns-Push-Type")
	switch {
	case pushType == "":
		return "", apnsRefuse(http.StatusBadRequest, "InvalidPushType", "no apns-push-type (offpush always sends one)")
	case !apnsPushTypes[pushType]:
		return "", apnsRefuse(http.StatusBadRequest, "InvalidPushType", "apns-push-type %q", pushType)
	case pushType != "alert" && pushType != "voip":
		return "", apnsRefuse(http.StatusBadRequest, "InvalidPushType", "apns-push-type %q; offpush sends alert or voip", pushType)
	}
	want := m.cfg.BundleID
	if pushType == "voip" {
		want += ".voip"
	}
	switch topic := r.Header.Get("Apns-Topic"); topic {
	case "":
		return pushType, apnsRefuse(http.StatusBadRequest, "MissingTopic", "no apns-topic")
	case want:
	default:
		return pushType, apnsRefuse(http.StatusBadRequest, "BadTopic", "apns-topic %q for push type %s, want %q", topic, pushType, want)
	}
	switch p := r.Header.Get("Apns-Priority"); p {
	case "10":
	case "":
		return pushType, apnsRefuse(http.StatusBadRequest, "BadPriority", "no apns-priority (offpush always sends 10)")
	case "5", "1":
		return pushType, apnsRefuse(http.StatusBadRequest, "BadPriority", "apns-priority %s; chat and call pushes need 10", p)
	default:
		return pushType, apnsRefuse(http.StatusBadRequest, "BadPriority", "apns-priority %q", p)
	}
	exp := r.Header.Get("Apns-Expiration")
	if exp == "" {
		return pushType, apnsRefuse(http.StatusBadRequest, "BadExpirationDate", "no apns-expiration (offpush always sends one)")
	}
	if n, err := strconv.ParseInt(exp, 10, 64); err != nil || n < 0 {
		return pushType, apnsRefuse(http.StatusBadRequest, "BadExpirationDate", "apns-expiration %q is not epoch seconds", exp)
	}
	if id := r.Header.Get("Apns-Id"); id != "" && !apnsIsUUID(id) {
		return pushType, apnsRefuse(http.StatusBadRequest, "BadMessageId", "apns-id %q is not a lowercase 8-4-4-4-12 UUID", id)
	}
	if c := r.Header.Get("Apns-Collapse-Id"); c != "" {
		if len(c) > 64 { // the 64-byte limit is from memory in the vendor notes [?]
			return pushType, apnsRefuse(http.StatusBadRequest, "BadCollapseId", "apns-collapse-id over 64 bytes")
		}
		return pushType, apnsRefuse(http.StatusBadRequest, "BadCollapseId", "apns-collapse-id set; offpush never collapses chat messages")
	}
	return pushType, nil
}

var (
	apnsKeys       = map[string]bool{"alert": true, "badge": true, "sound": true, "thread-id": true, "category": true, "content-available": true, "mutable-content": true, "target-content-id": true, "interruption-level": true, "relevance-score": true, "filter-criteria": true, "stale-date": true, "content-state": true, "timestamp": true, "event": true, "dismissal-date": true, "attributes-type": true, "attributes": true, "url-args": true}
	apnsAlertStrs  = map[string]bool{"title": true, "subtitle": true, "body": true, "launch-image": true, "title-loc-key": true, "subtitle-loc-key": true, "loc-key": true, "action-loc-key": true, "summary-arg": true}
	apnsAlertLists = map[string]bool{"title-loc-args": true, "subtitle-loc-args": true, "loc-args": true}
)

// checkAPNsPayload checks the JSON body: an aps dictionary with Apple's keys
// and value types, offpush's custom keys ext and image as strings, and for
// an alert something to show (priority 10 must alert, sound or badge).
func checkAPNsPayload(body []byte, pushType string) string {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return "not a JSON object: " + err.Error()
	}
	rawAPS, ok := top["aps"]
	if !ok {
		return "no aps dictionary"
	}
	var aps map[string]json.RawMessage
	if err := json.Unmarshal(rawAPS, &aps); err != nil || aps == nil {
		return "aps is not an object"
	}
	for k, v := range aps {
		if !apnsKeys[k] {
			return fmt.Sprintf("aps.%s is not an aps key", k)
		}
		if why := checkAPSValue(k, v); why != "" {
			return "aps." + k + " " + why
		}
	}
	for _, k := range []string{"ext", "image"} {
		if v, ok := top[k]; ok {
			var s string
			if json.Unmarshal(v, &s) != nil {
				return k + " must be a string"
			}
		}
	}
	if pushType == "alert" && aps["alert"] == nil && aps["sound"] == nil && aps["badge"] == nil {
		return "an alert push at priority 10 with no alert, sound or badge"
	}
	return ""
}

func checkAPSValue(k string, v json.RawMessage) string {
	var s string
	switch k {
	case "alert":
		if json.Unmarshal(v, &s) == nil {
			return ""
		}
		var alert map[string]json.RawMessage
		if err := json.Unmarshal(v, &alert); err != nil || alert == nil {
			return "must be a string or an object"
		}
		for ak, av := range alert {
			switch {
			case apnsAlertStrs[ak]:
				if json.Unmarshal(av, &s) != nil {
					return "." + ak + " must be a string"
				}
			case apnsAlertLists[ak]:
				var l []string
				if json.Unmarshal(av, &l) != nil {
					return "." + ak + " must be an array of strings"
				}
			case ak == "summary-arg-count":
				var n uint
				if json.Unmarshal(av, &n) != nil {
					return "." + ak + " must be a number"
				}
			default:
				return "." + ak + " is not an alert key"
			}
		}
	case "badge":
		var n uint32
		if json.Unmarshal(v, &n) != nil {
			return "must be a non-negative integer"
		}
	case "sound":
		if json.Unmarshal(v, &s) == nil {
			if s == "" {
				return "must not be empty"
			}
			return ""
		}
		var d struct {
			Critical int     `json:"critical"`
			Name     string  `json:"name"`
			Volume   float64 `json:"volume"`
		}
		if json.Unmarshal(v, &d) != nil || d.Name == "" {
			return "must be a sound name or {critical, name, volume}"
		}
	case "content-available", "mutable-content":
		if string(v) != "1" {
			return "must be 1"
		}
	case "thread-id", "category", "target-content-id", "interruption-level":
		if json.Unmarshal(v, &s) != nil {
			return "must be a string"
		}
	}
	return ""
}

// answerScript answers an accepted request by its token's prefix.
func (m *APNsMock) answerScript(w http.ResponseWriter, r *http.Request, tok, id string) {
	if status, reason, retryAfter, ok := apnsScripted(tok); ok {
		m.opts.Delay(r)
		m.writeError(w, id, status, reason, 0, retryAfter)
		return
	}
	switch m.script.For(tok) {
	case Invalid:
		m.opts.Delay(r)
		m.writeError(w, id, http.StatusGone, "Unregistered", m.cfg.Now().Add(-time.Hour).UnixMilli(), "")
		return
	case Busy:
		m.opts.Delay(r)
		m.writeError(w, id, http.StatusTooManyRequests, "TooManyRequests", 0, "1")
		return
	case Quota:
		m.opts.Delay(r)
		m.writeError(w, id, http.StatusTooManyRequests, "TooManyRequests", 0, "")
		return
	}
	m.opts.Delay(r)
	if id == "" {
		id = apnsUUID()
	}
	w.Header().Set("Apns-Id", id)
	w.WriteHeader(http.StatusOK)
}

func (m *APNsMock) writeError(w http.ResponseWriter, id string, status int, reason string, timestamp int64, retryAfter string) {
	if id == "" {
		id = apnsUUID()
	}
	h := w.Header()
	h.Set("Apns-Id", id)
	h.Set("Content-Type", "application/json")
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	if timestamp != 0 {
		fmt.Fprintf(w, `{"reason":%q,"timestamp":%d}`, reason, timestamp)
		return
	}
	fmt.Fprintf(w, `{"reason":%q}`, reason)
}

// apnsScriptPrefix splits a token into its script prefix and the hex rest.
func apnsScriptPrefix(tok string) (prefix, rest string) {
	if _, _, _, ok := apnsScripted(tok); ok {
		i := strings.IndexByte(tok, '-')
		j := i + 1 + strings.IndexByte(tok[i+1:], '-')
		rest = tok[j+1:]
		if ra, ok := strings.CutPrefix(rest, "ra"); ok {
			if k := strings.IndexByte(ra, '-'); k > 0 && apnsIsDigits(ra[:k]) {
				rest = ra[k+1:]
			}
		}
		return tok[:len(tok)-len(rest)], rest
	}
	for _, p := range []string{"invalid-", "quota-"} {
		if strings.HasPrefix(tok, p) {
			return p, tok[len(p):]
		}
	}
	if strings.HasPrefix(tok, "busy") {
		if i := strings.IndexByte(tok, '-'); i > 4 && apnsIsDigits(tok[4:i]) {
			return tok[:i+1], tok[i+1:]
		}
	}
	return "", tok
}

// apnsScripted parses "apns<status>-<Reason>-[ra<N>-]".
func apnsScripted(tok string) (status int, reason, retryAfter string, ok bool) {
	rest, found := strings.CutPrefix(tok, "apns")
	if !found {
		return 0, "", "", false
	}
	code, rest, found := strings.Cut(rest, "-")
	if !found || len(code) != 3 || !apnsIsDigits(code) {
		return 0, "", "", false
	}
	reason, rest, found = strings.Cut(rest, "-")
	if !found || reason == "" {
		return 0, "", "", false
	}
	if ra, ok := strings.CutPrefix(rest, "ra"); ok {
		if k := strings.IndexByte(ra, '-'); k > 0 && apnsIsDigits(ra[:k]) {
			retryAfter = ra[:k]
		}
	}
	status, _ = strconv.Atoi(code)
	return status, reason, retryAfter, true
}

func apnsIsDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func apnsIsHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}

func apnsIsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func apnsUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	const hexd = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i := 0; i < 16; i++ {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexd[u[i]>>4], hexd[u[i]&0xf]
		j += 2
	}
	return string(b[:])
}

// maskToken shows a token's script prefix and last four characters only.
func apnsMask(tok string) string {
	prefix, rest := apnsScriptPrefix(tok)
	if len(rest) > 4 {
		rest = "…" + rest[len(rest)-4:]
	}
	return prefix + rest
}
