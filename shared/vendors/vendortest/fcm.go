package vendortest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FCMMock is a strict mock of FCM HTTP v1 and of Google's OAuth token
// endpoint, on one HTTPS server. It makes its own service account (an RSA
// key, project and client email) whose token_uri points at the mock, the way
// a real key file names Google's endpoint. Paths may carry any prefix, so
// URL overrides with a path can be tested.
//
// Token endpoint (POST …/token): a form with grant_type
// urn:ietf:params:oauth:grant-type:jwt-bearer and an assertion JWT signed
// RS256 with the service account's key (the signature is verified with its
// public key), kid equal to private_key_id, iss the client email, aud the
// token_uri, a scope, iat not in the future and not stale, exp after now and
// at most an hour after iat. It answers an access token with expires_in.
//
// Send (POST …/v1/projects/{project}/messages:send): a bearer token it
// issued and that has not expired (an expired one gets Google's 401
// UNAUTHENTICATED, as a real token past its hour does), the service
// account's project, JSON content type, a body of validate_only and message
// only, exactly one of token/topic/condition, data values that are strings
// and no reserved data keys (from, gcm, google…), the v1 field names of
// notification, android and android.notification with their types, priority
// normal or high, ttl as "Ns" or "N.nnnnnnnnns" within 0..2419200 s,
// notification_count a non-negative integer, and at most 4096 bytes of
// message without its token. It answers {"name":"projects/p/messages/…"}
// (for validate_only, the fake_message_id FCM returns), or Google's error
// body with the FcmError detail. A connection carries at most 100 concurrent
// streams, as Google's front ends commonly advertise (not from FCM's docs).
//
// Scripted answers by token prefix: invalid- is 404 UNREGISTERED; busy<N>-
// 503 UNAVAILABLE with Retry-After: 3 the first N times; quota- 429
// RESOURCE_EXHAUSTED / QUOTA_EXCEEDED without Retry-After. FCM's other codes
// have prefixes of their own: mismatch- 403 SENDER_ID_MISMATCH; badtoken-
// 400 INVALID_ARGUMENT "The registration token is not a valid FCM
// registration token"; badarg- 400 INVALID_ARGUMENT about a field; internal-
// 500 INTERNAL; unspecified- 500 UNSPECIFIED_ERROR; thirdparty- 401
// THIRD_PARTY_AUTH_ERROR.
type FCMMock struct {
	// Log records accepted send requests and broken rules.
	Log Log
	// Script decides each token's answer.
	Script Script
	// CAFile trusts the mock's certificate (OFFPUSH_VENDOR_CA_FILE).
	CAFile string
	// ServiceAccountJSON is the key file of the mock's service account.
	ServiceAccountJSON string
	// ProjectID and ClientEmail are the service account's.
	ProjectID, ClientEmail string

	opts     Options
	srv      *httptest.Server
	url      string
	tokenURI string
	keyID    string
	pub      *rsa.PublicKey

	noRecord   atomic.Bool
	refuseAuth atomic.Bool
	tokenCalls atomic.Int64
	seq        atomic.Int64

	mu        sync.Mutex
	tokens    map[string]time.Time
	tokenLife time.Duration
	conns     map[string]bool // client addresses that sent messages

	// checked remembers bodies that passed checkFCMRequest, their token
	// blanked (see checkedFCMRequest).
	checked fcmChecked
}

// FCM field rules.
const (
	fcmMaxPayload = 4096
	fcmMaxTTL     = 2419200 // seconds, 28 days
	fcmMaxStreams = 100
	fcmScope      = "https://www.googleapis.com/auth/firebase.messaging"
	fcmErrorType  = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
	fcmJWTBearer  = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

var (
	fcmSendPath = regexp.MustCompile(`/v1/projects/([^/]+)/messages:send$`)
	fcmTTL      = regexp.MustCompile(`^([0-9]+)(\.[0-9]{1,9})?s$`)
)

// The key takes a while to generate; every mock of a test binary shares it.
var (
	fcmKeyOnce sync.Once
	fcmKey     *rsa.PrivateKey
	fcmKeyErr  error
)

// NewFCM starts an FCM mock with a fresh service account, closed when the
// test ends.
func NewFCM(tb testing.TB, opts Options) *FCMMock {
	tb.Helper()
	fcmKeyOnce.Do(func() { fcmKey, fcmKeyErr = rsa.GenerateKey(rand.Reader, 2048) })
	if fcmKeyErr != nil {
		tb.Fatal(fcmKeyErr)
	}
	m := &FCMMock{
		ProjectID:   "offpush-test",
		ClientEmail: "offpush-push@offpush-test.iam.gserviceaccount.com",
		opts:        opts,
		keyID:       "0f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4",
		pub:         &fcmKey.PublicKey,
		tokens:      map[string]time.Time{},
		conns:       map[string]bool{},
		tokenLife:   time.Hour,
	}
	srv := httptest.NewUnstartedServer(m)
	srv.EnableHTTP2 = true
	srv.Config.MaxHeaderBytes = 1 << 20
	// Google's front ends let a connection carry 100 concurrent streams
	// (commonly seen, not documented for FCM; Go's server default is 250),
	// so a client with more requests in flight opens several connections,
	// as it must against FCM.
	srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: fcmMaxStreams}
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	m.srv = srv
	m.url = srv.URL
	m.CAFile = CAFile(tb, srv)
	m.tokenURI = srv.URL + "/token"
	der, err := x509.MarshalPKCS8PrivateKey(fcmKey)
	if err != nil {
		tb.Fatal(err)
	}
	sa, err := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  m.ProjectID,
		"private_key_id":              m.keyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                m.ClientEmail,
		"client_id":                   "100000000000000000001",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   m.tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
	}, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	m.ServiceAccountJSON = string(sa)
	return m
}

// URL is the mock's base URL, for OFFPUSH_FCM_URL.
func (m *FCMMock) URL() string { return m.url }

// TokenURI is the service account's token_uri.
func (m *FCMMock) TokenURI() string { return m.tokenURI }

// TokenRequests is how many access tokens the mock has issued.
func (m *FCMMock) TokenRequests() int { return int(m.tokenCalls.Load()) }

// Connections is how many client connections have carried send requests.
func (m *FCMMock) Connections() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.conns)
}

// ExpireTokens makes every access token issued so far expired, as a token
// past its hour is.
func (m *FCMMock) ExpireTokens() {
	m.mu.Lock()
	for t := range m.tokens {
		m.tokens[t] = time.Time{}
	}
	m.mu.Unlock()
}

// RefuseAuth makes the token endpoint refuse the service account
// (invalid_grant), as Google does for a deleted key.
func (m *FCMMock) RefuseAuth(on bool) { m.refuseAuth.Store(on) }

// Record turns recording of accepted requests in Log on (the default) or
// off, for benchmarks whose request count would only grow memory.
func (m *FCMMock) Record(on bool) { m.noRecord.Store(!on) }

// ServeHTTP routes to the token endpoint and the send API.
func (m *FCMMock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.opts.Delay(r)
	switch {
	case strings.HasSuffix(r.URL.Path, "/token"):
		m.serveToken(w, r)
	case fcmSendPath.MatchString(r.URL.Path):
		m.serveSend(w, r)
	default:
		m.Log.Fail("fcm: unknown path %s %s", r.Method, r.URL.Path)
		fcmError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.", "", "")
	}
}

func (m *FCMMock) serveToken(w http.ResponseWriter, r *http.Request) {
	oauthErr := func(code int, errCode, desc string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": errCode, "error_description": desc})
	}
	if r.Method != http.MethodPost {
		m.Log.Fail("fcm token: method %s, want POST", r.Method)
		oauthErr(http.StatusMethodNotAllowed, "invalid_request", "POST required")
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		m.Log.Fail("fcm token: content type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
		oauthErr(http.StatusBadRequest, "invalid_request", "form body required")
		return
	}
	if err := r.ParseForm(); err != nil {
		m.Log.Fail("fcm token: unreadable form: %v", err)
		oauthErr(http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	if g := r.PostForm.Get("grant_type"); g != fcmJWTBearer {
		m.Log.Fail("fcm token: grant_type %q, want %s", g, fcmJWTBearer)
		oauthErr(http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+g)
		return
	}
	if err := m.checkAssertion(r.PostForm.Get("assertion"), time.Now()); err != nil {
		m.Log.Fail("fcm token: assertion: %v", err)
		oauthErr(http.StatusBadRequest, "invalid_grant", err.Error())
		return
	}
	if m.refuseAuth.Load() {
		oauthErr(http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	n := m.tokenCalls.Add(1)
	tok := fmt.Sprintf("ya29.mock-%d-%d", n, time.Now().UnixNano())
	m.mu.Lock()
	m.tokens[tok] = time.Now().Add(m.tokenLife)
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok,
		"expires_in":   int(m.tokenLife/time.Second) - 1,
		"token_type":   "Bearer",
	})
}

// checkAssertion verifies the JWT-bearer assertion as Google's token
// endpoint does.
func (m *FCMMock) checkAssertion(assertion string, now time.Time) error {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return fmt.Errorf("not a JWS compact serialization (%d parts)", len(parts))
	}
	var header struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}
	if err := fcmDecodeSegment(parts[0], &header); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if header.Alg != "RS256" {
		return fmt.Errorf("alg %q, want RS256", header.Alg)
	}
	if header.Typ != "" && header.Typ != "JWT" {
		return fmt.Errorf("typ %q, want JWT", header.Typ)
	}
	if header.Kid != "" && header.Kid != m.keyID {
		return fmt.Errorf("kid %q is not the service account's private_key_id", header.Kid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(m.pub, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("RS256 signature does not verify with the service account's key")
	}
	var claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Exp   int64  `json:"exp"`
		Iat   int64  `json:"iat"`
	}
	if err := fcmDecodeSegment(parts[1], &claims); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	switch {
	case claims.Iss != m.ClientEmail:
		return fmt.Errorf("iss %q, want the client email %q", claims.Iss, m.ClientEmail)
	case claims.Aud != m.tokenURI:
		return fmt.Errorf("aud %q, want the token_uri %q", claims.Aud, m.tokenURI)
	case claims.Scope == "":
		return fmt.Errorf("no scope")
	case !fcmHasScope(claims.Scope, fcmScope) && !fcmHasScope(claims.Scope, "https://www.googleapis.com/auth/cloud-platform"):
		return fmt.Errorf("scope %q allows no FCM sending", claims.Scope)
	case claims.Iat == 0 || claims.Iat > now.Add(time.Minute).Unix():
		return fmt.Errorf("iat %d is missing or in the future", claims.Iat)
	case claims.Iat < now.Add(-5*time.Minute).Unix():
		return fmt.Errorf("iat %d is stale", claims.Iat)
	case claims.Exp <= now.Unix():
		return fmt.Errorf("exp %d has passed", claims.Exp)
	case claims.Exp-claims.Iat > 3600:
		return fmt.Errorf("exp is %d s after iat; at most 3600", claims.Exp-claims.Iat)
	}
	return nil
}

func fcmHasScope(scopes, want string) bool {
	for _, s := range strings.Fields(scopes) {
		if s == want {
			return true
		}
	}
	return false
}

func fcmDecodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (m *FCMMock) serveSend(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		m.Log.Fail("fcm send: method %s, want POST", r.Method)
		fcmError(w, http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "POST required", "", "")
		return
	}
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		m.Log.Fail("fcm send: no bearer token")
		fcmUnauthenticated(w)
		return
	}
	m.mu.Lock()
	exp, issued := m.tokens[tok]
	m.conns[r.RemoteAddr] = true
	m.mu.Unlock()
	if !issued {
		m.Log.Fail("fcm send: bearer token the mock never issued")
		fcmUnauthenticated(w)
		return
	}
	if !time.Now().Before(exp) {
		fcmUnauthenticated(w) // expired: the scenario, not a client bug
		return
	}
	project := fcmSendPath.FindStringSubmatch(r.URL.Path)[1]
	if project != m.ProjectID {
		m.Log.Fail("fcm send: project %q, want the service account's %q", project, m.ProjectID)
		fcmError(w, http.StatusForbidden, "PERMISSION_DENIED", "Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/"+project+"' (or it may not exist).", "", "")
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		m.Log.Fail("fcm send: content type %q, want application/json", r.Header.Get("Content-Type"))
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.", "", "")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		m.Log.Fail("fcm send: read body: %v", err)
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.", "", "")
		return
	}
	token, validateOnly, err := m.checked.check(body)
	if err != nil {
		m.Log.Fail("fcm send: %v", err)
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", err.Error(), "", "")
		return
	}
	if !m.noRecord.Load() {
		m.Log.Add(Received{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Targets: []string{token}})
	}

	switch {
	case strings.HasPrefix(token, "mismatch-"):
		fcmError(w, http.StatusForbidden, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH", "")
		return
	case strings.HasPrefix(token, "badtoken-"):
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token", "INVALID_ARGUMENT", "")
		return
	case strings.HasPrefix(token, "badarg-"):
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid value at 'message.android.notification.color'", "INVALID_ARGUMENT", "")
		return
	case strings.HasPrefix(token, "internal-"):
		fcmError(w, http.StatusInternalServerError, "INTERNAL", "Internal error encountered.", "INTERNAL", "")
		return
	case strings.HasPrefix(token, "unspecified-"):
		fcmError(w, http.StatusInternalServerError, "UNKNOWN", "Unknown error.", "UNSPECIFIED_ERROR", "")
		return
	case strings.HasPrefix(token, "thirdparty-"):
		fcmError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR", "")
		return
	}
	switch m.Script.For(token) {
	case Invalid:
		fcmError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED", "")
		return
	case Busy:
		fcmError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE", "3")
		return
	case Quota:
		fcmError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Send requests'.", "QUOTA_EXCEEDED", "")
		return
	}
	name := "projects/" + m.ProjectID + "/messages/"
	if validateOnly {
		name += "fake_message_id"
	} else {
		name += "0:" + strconv.FormatInt(m.seq.Add(1), 10)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = io.WriteString(w, `{"name":"`+name+`"}`)
}

func fcmUnauthenticated(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
	fcmError(w, http.StatusUnauthorized, "UNAUTHENTICATED",
		"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "", "")
}

// fcmError writes Google's error body, with the FcmError detail when
// fcmCode is set.
func fcmError(w http.ResponseWriter, code int, status, message, fcmCode, retryAfter string) {
	e := map[string]any{"code": code, "message": message, "status": status}
	if fcmCode != "" {
		e["details"] = []map[string]string{{"@type": fcmErrorType, "errorCode": fcmCode}}
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

// The FCM v1 request as the mock decodes it: every field FCM knows, with its
// JSON type, so that unknown names and wrong types are refused (decoded with
// DisallowUnknownFields), as Google's strict proto JSON parsing does.
type fcmSendBody struct {
	ValidateOnly *bool           `json:"validate_only"`
	Message      json.RawMessage `json:"message"`
}

type fcmMessageBody struct {
	Name         string            `json:"name"`
	Data         map[string]string `json:"data"`
	Notification *struct {
		Title string `json:"title"`
		Body  string `json:"body"`
		Image string `json:"image"`
	} `json:"notification"`
	Android    *fcmAndroidBody `json:"android"`
	Webpush    json.RawMessage `json:"webpush"`
	APNS       json.RawMessage `json:"apns"`
	FCMOptions json.RawMessage `json:"fcm_options"`
	Token      *string         `json:"token"`
	Topic      *string         `json:"topic"`
	Condition  *string         `json:"condition"`
	FID        *string         `json:"fid"`
}

type fcmAndroidBody struct {
	CollapseKey            string                      `json:"collapse_key"`
	Priority               *string                     `json:"priority"`
	TTL                    *string                     `json:"ttl"`
	RestrictedPackageName  string                      `json:"restricted_package_name"`
	Data                   map[string]string           `json:"data"`
	Notification           *fcmAndroidNotificationBody `json:"notification"`
	FCMOptions             json.RawMessage             `json:"fcm_options"`
	DirectBootOK           bool                        `json:"direct_boot_ok"`
	BandwidthConstrainedOK bool                        `json:"bandwidth_constrained_ok"`
	RestrictedSatelliteOK  bool                        `json:"restricted_satellite_ok"`
}

type fcmAndroidNotificationBody struct {
	Title                   string          `json:"title"`
	Body                    string          `json:"body"`
	Icon                    string          `json:"icon"`
	Color                   string          `json:"color"`
	Sound                   string          `json:"sound"`
	Tag                     string          `json:"tag"`
	ClickAction             string          `json:"click_action"`
	BodyLocKey              string          `json:"body_loc_key"`
	BodyLocArgs             []string        `json:"body_loc_args"`
	TitleLocKey             string          `json:"title_loc_key"`
	TitleLocArgs            []string        `json:"title_loc_args"`
	ChannelID               string          `json:"channel_id"`
	Image                   string          `json:"image"`
	Ticker                  string          `json:"ticker"`
	Sticky                  bool            `json:"sticky"`
	EventTime               string          `json:"event_time"`
	LocalOnly               bool            `json:"local_only"`
	NotificationPriority    string          `json:"notification_priority"`
	DefaultSound            bool            `json:"default_sound"`
	VibrateTimings          []string        `json:"vibrate_timings"`
	DefaultVibrateTimings   bool            `json:"default_vibrate_timings"`
	LightSettings           json.RawMessage `json:"light_settings"`
	DefaultLightSettings    bool            `json:"default_light_settings"`
	Visibility              string          `json:"visibility"`
	NotificationCount       *int64          `json:"notification_count"`
	Proxy                   string          `json:"proxy"`
	BypassProxyNotification bool            `json:"bypass_proxy_notification"`
}

func fcmDecodeStrict(raw []byte, field string, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON payload received at '%s': %v", field, err)
	}
	if dec.More() {
		return fmt.Errorf("invalid JSON payload received at '%s': data after the object", field)
	}
	return nil
}

// fcmChecked checks send bodies with checkFCMRequest, once for each body
// apart from its token: a client sending one message to many devices sends
// the same bytes but for the token, and decoding each strictly again would
// make the mock, not the client, what a throughput benchmark measures. A
// body is only remembered when "token": occurs in it once (so it is the
// message's token, not a data key), and is looked up the same way.
type fcmChecked struct {
	mu     sync.Mutex
	bodies map[string]bool // blanked body → validate_only
}

// fcmCheckedMax bounds the bodies remembered.
const fcmCheckedMax = 1024

var fcmTokenKey = []byte(`"token":`)

func (c *fcmChecked) check(body []byte) (token string, validateOnly bool, err error) {
	blanked, token, ok := blankFCMToken(body)
	if ok {
		c.mu.Lock()
		validateOnly, seen := c.bodies[blanked]
		c.mu.Unlock()
		if seen {
			return token, validateOnly, nil
		}
	}
	token, validateOnly, err = checkFCMRequest(body)
	if err == nil && ok {
		c.mu.Lock()
		if c.bodies == nil {
			c.bodies = map[string]bool{}
		}
		if len(c.bodies) < fcmCheckedMax {
			c.bodies[blanked] = validateOnly
		}
		c.mu.Unlock()
	}
	return token, validateOnly, err
}

// blankFCMToken returns body with the string after its only "token": key
// emptied, and that string; ok is false if the key is not there exactly
// once or no non-empty JSON string follows it.
func blankFCMToken(body []byte) (blanked, token string, ok bool) {
	if bytes.Count(body, fcmTokenKey) != 1 {
		return "", "", false
	}
	at := bytes.Index(body, fcmTokenKey) + len(fcmTokenKey)
	dec := json.NewDecoder(bytes.NewReader(body[at:]))
	if err := dec.Decode(&token); err != nil || token == "" {
		return "", "", false
	}
	end := at + int(dec.InputOffset())
	return string(body[:at]) + `""` + string(body[end:]), token, true
}

// checkFCMRequest checks a send body and returns its token and
// validate_only.
func checkFCMRequest(body []byte) (token string, validateOnly bool, err error) {
	var req fcmSendBody
	if err := fcmDecodeStrict(body, "request", &req); err != nil {
		return "", false, err
	}
	if req.ValidateOnly != nil {
		validateOnly = *req.ValidateOnly
	}
	if len(req.Message) == 0 || string(req.Message) == "null" {
		return "", false, fmt.Errorf("message is missing")
	}
	var msg fcmMessageBody
	if err := fcmDecodeStrict(req.Message, "message", &msg); err != nil {
		return "", false, err
	}
	targets := 0
	for _, t := range []*string{msg.Token, msg.Topic, msg.Condition, msg.FID} {
		if t != nil && *t != "" {
			targets++
		}
	}
	if targets != 1 {
		return "", false, fmt.Errorf("message needs exactly one of token, topic, condition, fid; it has %d", targets)
	}
	if err := checkFCMData(msg.Data, "message.data"); err != nil {
		return "", false, err
	}
	if a := msg.Android; a != nil {
		if err := checkFCMAndroid(a); err != nil {
			return "", false, err
		}
	}
	// The size FCM limits: the message without its token (the token is no
	// payload), as sent.
	size := len(bytes.TrimSpace(req.Message))
	if msg.Token != nil {
		token = *msg.Token
		quoted, _ := json.Marshal(token)
		size -= len(`"token":`) + len(quoted) + 1
	}
	if size > fcmMaxPayload {
		return "", false, fmt.Errorf("message is %d bytes without its token; FCM allows %d", size, fcmMaxPayload)
	}
	return token, validateOnly, nil
}

// checkFCMData refuses FCM's reserved data keys; the types (string values
// only) were checked by decoding.
func checkFCMData(data map[string]string, field string) error {
	for k := range data {
		lk := strings.ToLower(k)
		if lk == "from" || lk == "gcm" || strings.HasPrefix(lk, "google") {
			return fmt.Errorf("%s key %q is reserved by FCM", field, k)
		}
	}
	return nil
}

func checkFCMAndroid(a *fcmAndroidBody) error {
	if p := a.Priority; p != nil && *p != "normal" && *p != "high" && *p != "NORMAL" && *p != "HIGH" {
		return fmt.Errorf("message.android.priority must be normal or high, not %q", *p)
	}
	if a.TTL != nil {
		mm := fcmTTL.FindStringSubmatch(*a.TTL)
		if mm == nil {
			return fmt.Errorf("message.android.ttl %q is not a duration like \"3600s\"", *a.TTL)
		}
		if secs, err := strconv.ParseInt(mm[1], 10, 64); err != nil || secs > fcmMaxTTL || secs == fcmMaxTTL && mm[2] != "" {
			return fmt.Errorf("message.android.ttl %q is over %d s (28 days)", *a.TTL, fcmMaxTTL)
		}
	}
	if err := checkFCMData(a.Data, "message.android.data"); err != nil {
		return err
	}
	if n := a.Notification; n != nil && n.NotificationCount != nil && *n.NotificationCount < 0 {
		return fmt.Errorf("message.android.notification.notification_count must not be negative, not %d", *n.NotificationCount)
	}
	return nil
}
