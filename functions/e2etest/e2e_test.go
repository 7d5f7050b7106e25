// Package e2etest runs offpush's real Lambda bootstraps (token-upload,
// state-change and admin) under lambdart's Runtime API against DynamoDB
// Local, and drives them with API Gateway HTTP API events, as a deployed
// stack is driven, but without AWS. Secrets Manager is a small fake that
// speaks its JSON protocol.
package e2etest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/golang-jwt/jwt/v5"

	"github.com/offpush/offpush/shared/store/dynamo"
	"github.com/offpush/offpush/shared/testinfra/dynamolocal"
	"github.com/offpush/offpush/shared/testinfra/lambdart"
)

const module = "github.com/offpush/offpush"

// Credentials of the test deployment.
const (
	jwtSecret       = "e2e-jwt-hs256-secret-0123456789abcdef"
	adminKey        = "e2e-admin-key-0123456789abcdef"
	rotatedAdminKey = "e2e-admin-key-next-0123456789ab"
	adminSecretARN  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:offpush/admin-keys-Ab12Cd"
	awsAccessKeyID  = "e2eaccesskeyid"
	awsSecretKey    = "e2esecretaccesskey"
)

// callTimeout bounds one invocation seen from the test.
const callTimeout = time.Minute

func TestMain(m *testing.M) {
	code := dynamolocal.Main(m)
	if shared.fx != nil {
		shared.fx.close()
	}
	os.Exit(code)
}

// fixture is the deployment the tests share: one table prefix, and each
// function started once for the package, as warm Lambda containers.
type fixture struct {
	prefix      string
	secrets     *fakeSecretsManager
	tokenUpload *lambdart.Function
	stateChange *lambdart.Function
	admin       *lambdart.Function
}

var shared struct {
	once sync.Once
	fx   *fixture
	err  error
}

// setup returns the shared deployment, starting it in the first test that
// needs it (DynamoDB Local and the builds need a test to skip or fail).
func setup(t *testing.T) *fixture {
	t.Helper()
	endpoint := dynamolocal.Endpoint(t)
	db := dynamolocal.Client(t)
	bins := map[string]string{}
	for _, name := range []string{"token-upload", "state-change", "admin"} {
		bins[name] = lambdart.Build(t, module+"/functions/"+name)
	}
	shared.once.Do(func() { shared.fx, shared.err = newFixture(endpoint, db, bins) })
	if shared.err != nil {
		t.Fatalf("start the functions: %v", shared.err)
	}
	return shared.fx
}

func newFixture(endpoint string, db *dynamodb.Client, bins map[string]string) (*fixture, error) {
	fx := &fixture{prefix: dynamolocal.UniquePrefix()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The functions start together, each with OFFPUSH_CREATE_TABLES=true:
	// the tables exist before they race to create them.
	if err := dynamo.CreateTables(ctx, db, fx.prefix); err != nil {
		return nil, fmt.Errorf("create tables: %w", err)
	}
	fx.secrets = newFakeSecretsManager(adminSecretARN, `{"keys":["`+adminKey+`","`+rotatedAdminKey+`"]}`)

	appEnv := functionEnv(endpoint, fx.prefix)
	appEnv["OFFPUSH_JWT_HS256_SECRET"] = jwtSecret
	adminEnv := functionEnv(endpoint, fx.prefix)
	adminEnv["OFFPUSH_ADMIN_KEYS_SECRET_ARN"] = adminSecretARN
	adminEnv["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = fx.secrets.srv.URL

	var err error
	for _, f := range []struct {
		dst  **lambdart.Function
		name string
		env  map[string]string
	}{
		{&fx.tokenUpload, "token-upload", appEnv},
		{&fx.stateChange, "state-change", appEnv},
		{&fx.admin, "admin", adminEnv},
	} {
		if *f.dst, err = lambdart.Launch(bins[f.name], lambdart.Config{Env: maps.Clone(f.env)}); err != nil {
			fx.close()
			return nil, err
		}
	}
	return fx, nil
}

func (fx *fixture) close() {
	for _, f := range []*lambdart.Function{fx.tokenUpload, fx.stateChange, fx.admin} {
		if f != nil {
			f.Close()
		}
	}
	if fx.secrets != nil {
		fx.secrets.srv.Close()
	}
}

// functionEnv is the environment template.yaml gives every function, with
// DynamoDB Local and static credentials in place of AWS.
func functionEnv(dynamoEndpoint, prefix string) map[string]string {
	return map[string]string{
		// template.yaml Globals.Function.
		"OFFPUSH_STORE":         "dynamodb",
		"OFFPUSH_TABLE_PREFIX":  prefix,
		"OFFPUSH_VENDOR_MODE":   "live",
		"OFFPUSH_MAX_DEVICES":   "20",
		"AWS_LAMBDA_LOG_FORMAT": "JSON", // LoggingConfig.LogFormat: JSON
		// Local stand-ins.
		"OFFPUSH_CREATE_TABLES":     "true",
		"AWS_ENDPOINT_URL_DYNAMODB": dynamoEndpoint,
		"AWS_REGION":                "us-east-1",
		"AWS_ACCESS_KEY_ID":         awsAccessKeyID,
		"AWS_SECRET_ACCESS_KEY":     awsSecretKey,
	}
}

// fakeSecretsManager answers GetSecretValue for one secret over the AWS JSON
// 1.1 protocol, and records every request.
type fakeSecretsManager struct {
	srv    *httptest.Server
	arn    string
	secret string

	mu       sync.Mutex
	targets  []string // X-Amz-Target of each request
	problems []string // why requests were refused
}

func newFakeSecretsManager(arn, secret string) *fakeSecretsManager {
	s := &fakeSecretsManager{arn: arn, secret: secret}
	s.srv = httptest.NewServer(s)
	return s
}

func (s *fakeSecretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	s.mu.Lock()
	s.targets = append(s.targets, target)
	s.mu.Unlock()
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	refuse := func(status int, typ, msg string) {
		s.mu.Lock()
		s.problems = append(s.problems, fmt.Sprintf("%s %s (%s): %s", r.Method, r.URL.Path, target, msg))
		s.mu.Unlock()
		reply(status, map[string]string{"__type": typ, "message": msg})
	}
	auth := r.Header.Get("Authorization")
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		refuse(http.StatusNotFound, "UnknownOperationException", "not POST /")
		return
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		refuse(http.StatusBadRequest, "SerializationException", "Content-Type is not application/x-amz-json-1.1")
		return
	case !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+awsAccessKeyID+"/") ||
		!strings.Contains(auth, "/us-east-1/secretsmanager/aws4_request"):
		refuse(http.StatusBadRequest, "UnrecognizedClientException", "no SigV4 signature for secretsmanager in us-east-1")
		return
	case target != "secretsmanager.GetSecretValue":
		refuse(http.StatusBadRequest, "UnknownOperationException", "unexpected operation")
		return
	}
	var in struct {
		SecretID string `json:"SecretId"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		refuse(http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if in.SecretID != s.arn {
		refuse(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	reply(http.StatusOK, map[string]any{
		"ARN":           s.arn,
		"Name":          "offpush/admin-keys",
		"SecretString":  s.secret,
		"VersionId":     "e2e00000-0000-4000-8000-000000000001",
		"VersionStages": []string{"AWSCURRENT"},
		"CreatedDate":   1.7e9,
	})
}

// seen returns the X-Amz-Target of every request and the refused ones.
func (s *fakeSecretsManager) seen() (targets, problems []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...), append([]string(nil), s.problems...)
}

// sensitive holds what no log line may contain: device tokens, JWTs, keys.
var sensitive struct {
	mu     sync.Mutex
	values []string
}

func init() { remember(jwtSecret, adminKey, rotatedAdminKey, awsSecretKey) }

func remember(values ...string) {
	sensitive.mu.Lock()
	defer sensitive.mu.Unlock()
	sensitive.values = append(sensitive.values, values...)
}

func sensitiveValues() []string {
	sensitive.mu.Lock()
	defer sensitive.mu.Unlock()
	return append([]string(nil), sensitive.values...)
}

// request is an HTTP request as API Gateway receives it.
type request struct {
	method, path string
	auth         string // the Authorization header; none if empty
	body         []byte
	contentType  string // default application/json when there is a body
	noType       bool   // send no Content-Type
}

// response is a function's HTTP response with the invocation behind it.
type response struct {
	what    string // "token-upload PUT /v1/devices/d1"
	status  int
	headers map[string]string
	body    []byte
	inv     lambdart.Invocation
}

// do invokes fn with req as an HTTP API event. A crash (an invocation error
// rather than an HTTP response) fails the test with the event. It checks
// the invocation's log lines (see checkLogs).
func do(t *testing.T, fn *lambdart.Function, req request) response {
	t.Helper()
	headers := map[string]string{}
	if req.auth != "" {
		headers["Authorization"] = req.auth
	}
	if req.body != nil && !req.noType {
		headers["Content-Type"] = "application/json"
		if req.contentType != "" {
			headers["Content-Type"] = req.contentType
		}
	}
	event := lambdart.HTTPEvent(req.method, req.path, headers, req.body)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	inv := fn.Call(ctx, event)
	what := fn.Name() + " " + req.method + " " + req.path
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s: RequestId %s, logs:\n%s", what, inv.RequestID, inv.Logs)
		}
	})
	if inv.Err != nil {
		t.Fatalf("%s: the function failed instead of answering: %v\nevent: %s", what, inv.Err, event)
	}
	resp, err := lambdart.DecodeHTTPResponse(inv.Response)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	checkLogs(t, what, inv)
	out := response{what: what, status: resp.StatusCode, headers: resp.Headers, body: []byte(resp.Body), inv: inv}
	if out.status != http.StatusNoContent && header(out.headers, "Content-Type") != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, header(out.headers, "Content-Type"))
	}
	return out
}

func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// checkLogs checks what the function wrote during one invocation: each JSON
// line (the lambdacontext logger's) carries the invocation's request ID
// (lines of a cold start's init may carry none), one of them at least, and
// no line holds a token, JWT or key. Lines that are not JSON are collected
// for TestLogs, which reports them once for the package.
func checkLogs(t *testing.T, what string, inv lambdart.Invocation) {
	t.Helper()
	own := false
	for _, line := range strings.Split(inv.Logs, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		for _, s := range sensitiveValues() {
			if strings.Contains(line, s) {
				t.Errorf("%s: log line holds a whole token or secret (…%s): %q", what, s[len(s)-4:], line)
			}
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			notJSON(what, line)
			continue
		}
		switch id, _ := rec["requestId"].(string); {
		case id == inv.RequestID:
			own = true
		case id != "":
			t.Errorf("%s: log line of invocation %s carries request ID %s: %q", what, inv.RequestID, id, line)
		case !inv.ColdStart:
			t.Errorf("%s: log line without a request ID: %q", what, line)
		}
	}
	if !own {
		t.Errorf("%s: no log line carries the request ID %s; logs: %q", what, inv.RequestID, inv.Logs)
	}
}

// strayLines are the log lines that were not JSON, one of each kind (the
// same text but for its timestamp).
var strayLines struct {
	mu    sync.Mutex
	seen  map[string]bool
	lines []string // "where: line"
}

// logTimestamp is the date and time the standard log package writes.
var logTimestamp = regexp.MustCompile(`\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? `)

func notJSON(where, line string) {
	key := logTimestamp.ReplaceAllString(line, "")
	strayLines.mu.Lock()
	defer strayLines.mu.Unlock()
	if strayLines.seen == nil {
		strayLines.seen = map[string]bool{}
	}
	if !strayLines.seen[key] {
		strayLines.seen[key] = true
		strayLines.lines = append(strayLines.lines, where+": "+line)
	}
}

// decode checks the status and decodes the JSON body into v (if not nil).
func decode(t *testing.T, r response, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", r.what, r.status, status, r.body)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%s: body %s: %v", r.what, r.body, err)
	}
}

// wantError checks an error response: the status and exactly
// {"error": {"code", "message", "field"}}, field present only when named.
func wantError(t *testing.T, r response, status int, code, field string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d; body %s", r.what, r.status, status, r.body)
		return
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &top); err != nil || len(top) != 1 || top["error"] == nil {
		t.Errorf("%s: body %s is not {\"error\": {...}}", r.what, r.body)
		return
	}
	var e map[string]any
	if err := json.Unmarshal(top["error"], &e); err != nil {
		t.Errorf("%s: error %s is not an object", r.what, top["error"])
		return
	}
	for k := range e {
		if k != "code" && k != "message" && k != "field" {
			t.Errorf("%s: error has an unexpected member %q: %s", r.what, k, r.body)
		}
	}
	if e["code"] != code {
		t.Errorf("%s: code %v, want %s; body %s", r.what, e["code"], code, r.body)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("%s: no message: %s", r.what, r.body)
	}
	got, has := e["field"]
	switch {
	case field == "" && has:
		t.Errorf("%s: field %v, want none; body %s", r.what, got, r.body)
	case field != "" && got != field:
		t.Errorf("%s: field %v, want %s; body %s", r.what, got, field, r.body)
	}
}

// noneOf fails if the body holds any of the values (full tokens, keys).
func noneOf(t *testing.T, r response, values ...string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(string(r.body), v) {
			t.Errorf("%s: body holds a secret or full token (…%s): %s", r.what, v[len(v)-4:], r.body)
		}
	}
}

// jsonBody marshals v.
func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// device is the API's Device, with the push check's lastResult.
type device struct {
	DeviceID      string          `json:"deviceId"`
	UserID        string          `json:"userId"`
	CertificateID int64           `json:"certificateId"`
	Vendor        string          `json:"vendor"`
	Platform      string          `json:"platform"`
	State         string          `json:"state"`
	Status        string          `json:"status"`
	UnreadCount   int             `json:"unreadCount"`
	TokenSuffix   string          `json:"tokenSuffix"`
	AppVersion    string          `json:"appVersion"`
	Locale        string          `json:"locale"`
	Timezone      string          `json:"timezone"`
	CreatedAt     time.Time       `json:"createdAt"`
	UpdatedAt     time.Time       `json:"updatedAt"`
	ExpiresAt     time.Time       `json:"expiresAt"`
	LastResult    json.RawMessage `json:"lastResult,omitempty"`
}

type deviceList struct {
	Devices []device `json:"devices"`
}

type userView struct {
	UserID     string            `json:"userId"`
	Tags       []string          `json:"tags"`
	Attributes map[string]string `json:"attributes"`
	Devices    []device          `json:"devices"`
}

type certificate struct {
	ID     int64  `json:"id"`
	Vendor string `json:"vendor"`
	Name   string `json:"name"`
	APNs   *struct {
		Environment string `json:"environment"`
		BundleID    string `json:"bundleId"`
		TeamID      string `json:"teamId"`
		KeyID       string `json:"keyId"`
		PrivateKey  string `json:"privateKey"`
	} `json:"apns"`
	FCM *struct {
		ServiceAccountJSON string `json:"serviceAccountJson"`
		ProjectID          string `json:"projectId"`
		ClientEmail        string `json:"clientEmail"`
	} `json:"fcm"`
}

// summary is the part of a device the lifecycle checks step by step.
func (d device) summary() string {
	return fmt.Sprintf("%s user=%s cert=%d vendor=%s platform=%s state=%s status=%s unread=%d suffix=%q",
		d.DeviceID, d.UserID, d.CertificateID, d.Vendor, d.Platform, d.State, d.Status, d.UnreadCount, d.TokenSuffix)
}

func wantDevices(t *testing.T, what string, got []device, want ...string) {
	t.Helper()
	var sums []string
	for _, d := range got {
		sums = append(sums, d.summary())
	}
	if strings.Join(sums, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got  %s\n want %s", what, strings.Join(sums, "\n      "), strings.Join(want, "\n      "))
	}
}

// bearer returns an Authorization header with an HS256 app JWT for sub,
// signed with secret and expiring at exp (none if zero).
func bearer(t *testing.T, secret, sub string, exp time.Time) string {
	t.Helper()
	claims := jwt.RegisteredClaims{Subject: sub, IssuedAt: jwt.NewNumericDate(time.Now().Add(-time.Minute))}
	if !exp.IsZero() {
		claims.ExpiresAt = jwt.NewNumericDate(exp)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	remember(tok)
	return "Bearer " + tok
}

// userAuth is a valid app credential for user.
func userAuth(t *testing.T, user string) string {
	return bearer(t, jwtSecret, user, time.Now().Add(time.Hour))
}

const adminAuth = "Bearer " + adminKey

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// apnsToken returns a fresh APNs device token: 64 hex characters.
func apnsToken(t *testing.T) string {
	tok := hex.EncodeToString(randomBytes(t, 32))
	remember(tok)
	return tok
}

// fcmToken returns a fresh token shaped like an FCM registration token.
func fcmToken(t *testing.T) string {
	tok := base64.RawURLEncoding.EncodeToString(randomBytes(t, 16)) + ":APA91b" + base64.RawURLEncoding.EncodeToString(randomBytes(t, 105))
	remember(tok)
	return tok
}

func suffix(tok string) string { return tok[len(tok)-4:] }

// pkcs8PEM returns key as a PKCS#8 PEM block, remembering its base64 body.
func pkcs8PEM(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	remember(strings.Split(p, "\n")[1]) // the key's first line of base64
	return p
}

// apnsKey returns a new .p8 signing key: P-256, PKCS#8 PEM.
func apnsKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pkcs8PEM(t, k)
}

// serviceAccount returns a Google service account key file with a new RSA key.
func serviceAccount(t *testing.T, project string) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return string(jsonBody(map[string]string{
		"type":           "service_account",
		"project_id":     project,
		"private_key_id": hex.EncodeToString(randomBytes(t, 20)),
		"private_key":    pkcs8PEM(t, k),
		"client_email":   "offpush-sender@" + project + ".iam.gserviceaccount.com",
		"client_id":      "104567890123456789012",
		"auth_uri":       "https://accounts.example.test/o/oauth2/auth",
		"token_uri":      "https://oauth2.example.test/token",
	}))
}

func apnsCertificate(t *testing.T, id int64) []byte {
	return jsonBody(map[string]any{
		"id": id, "vendor": "apns", "name": "ios-prod",
		"apns": map[string]any{
			"environment": "production", "bundleId": "com.example.chat",
			"teamId": "ABCDE12345", "keyId": "KEY1234567", "privateKey": apnsKey(t),
		},
	})
}

func fcmCertificate(t *testing.T, id int64) []byte {
	return jsonBody(map[string]any{
		"id": id, "vendor": "fcm", "name": "android-prod",
		"fcm": map[string]any{"serviceAccountJson": serviceAccount(t, "offpush-e2e")},
	})
}

// upload is a token upload body.
func upload(certID int64, token, platform string) []byte {
	return jsonBody(map[string]any{
		"certificateId": certID, "token": token, "platform": platform,
		"appVersion": "2.3.0", "locale": "zh-CN", "timezone": "Asia/Shanghai",
	})
}

func TestDeviceLifecycle(t *testing.T) {
	fx := setup(t)
	const apnsID, fcmID = 10001, 10002
	alice, bob := userAuth(t, "alice"), userAuth(t, "bob")
	tokA, tokPixel, tokPad := apnsToken(t), fcmToken(t), apnsToken(t)
	allTokens := []string{tokA, tokPixel, tokPad}
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("admin registers certificates", func(t *testing.T) {
		var c certificate
		r := do(t, fx.admin, request{method: "POST", path: "/v1/certificates", auth: adminAuth, body: apnsCertificate(t, apnsID)})
		decode(t, r, http.StatusCreated, &c)
		if c.ID != apnsID || c.Vendor != "apns" || c.APNs == nil || c.APNs.TeamID != "ABCDE12345" || c.APNs.KeyID != "KEY1234567" || c.APNs.PrivateKey != "" {
			t.Errorf("APNs certificate: %s", r.body)
		}
		noneOf(t, r, "PRIVATE KEY")

		r = do(t, fx.admin, request{method: "POST", path: "/v1/certificates", auth: adminAuth, body: fcmCertificate(t, fcmID)})
		c = certificate{}
		decode(t, r, http.StatusCreated, &c)
		if c.ID != fcmID || c.Vendor != "fcm" || c.FCM == nil || c.FCM.ProjectID != "offpush-e2e" ||
			c.FCM.ClientEmail != "offpush-sender@offpush-e2e.iam.gserviceaccount.com" || c.FCM.ServiceAccountJSON != "" {
			t.Errorf("FCM certificate: %s", r.body)
		}
		noneOf(t, r, "PRIVATE KEY", "private_key")

		var list struct {
			Certificates []certificate `json:"certificates"`
		}
		r = do(t, fx.admin, request{method: "GET", path: "/v1/certificates", auth: adminAuth})
		decode(t, r, http.StatusOK, &list)
		ids := map[int64]string{}
		for _, c := range list.Certificates {
			ids[c.ID] = c.Vendor
		}
		if ids[apnsID] != "apns" || ids[fcmID] != "fcm" {
			t.Errorf("certificate list %s lacks %d (apns) or %d (fcm)", r.body, apnsID, fcmID)
		}
		noneOf(t, r, "PRIVATE KEY", "private_key")

		c = certificate{}
		decode(t, do(t, fx.admin, request{method: "GET", path: "/v1/certificates/10001", auth: adminAuth}), http.StatusOK, &c)
		if c.ID != apnsID || c.APNs == nil || c.APNs.BundleID != "com.example.chat" {
			t.Errorf("GET /v1/certificates/10001 = %+v", c)
		}
	})

	step("alice uploads tokens", func(t *testing.T) {
		before := time.Now().Add(-2 * time.Second)
		r := do(t, fx.tokenUpload, request{method: "PUT", path: "/v1/devices/iphone-1", auth: alice, body: upload(apnsID, tokA, "ios")})
		var d device
		decode(t, r, http.StatusOK, &d)
		after := time.Now().Add(2 * time.Second)
		wantDevices(t, r.what, []device{d},
			`iphone-1 user=alice cert=10001 vendor=apns platform=ios state=background status=active unread=0 suffix="`+suffix(tokA)+`"`)
		if d.AppVersion != "2.3.0" || d.Locale != "zh-CN" || d.Timezone != "Asia/Shanghai" {
			t.Errorf("app details: %s", r.body)
		}
		if d.CreatedAt.Before(before) || d.CreatedAt.After(after) || !d.UpdatedAt.Equal(d.CreatedAt) {
			t.Errorf("createdAt %s, updatedAt %s; want both now", d.CreatedAt, d.UpdatedAt)
		}
		if exp := d.CreatedAt.Add(270 * 24 * time.Hour); d.ExpiresAt.Sub(exp).Abs() > time.Second {
			t.Errorf("expiresAt %s, want 270 days after the upload (%s)", d.ExpiresAt, exp)
		}
		var raw map[string]any
		json.Unmarshal(r.body, &raw)
		if _, ok := raw["token"]; ok {
			t.Errorf("the Device has a token field: %s", r.body)
		}
		noneOf(t, r, allTokens...)

		r = do(t, fx.tokenUpload, request{method: "PUT", path: "/v1/devices/pixel-1", auth: alice, body: upload(fcmID, tokPixel, "android")})
		d = device{}
		decode(t, r, http.StatusOK, &d)
		wantDevices(t, r.what, []device{d},
			`pixel-1 user=alice cert=10002 vendor=fcm platform=android state=background status=active unread=0 suffix="`+suffix(tokPixel)+`"`)
		noneOf(t, r, allTokens...)
	})

	step("alice's iPhone goes to the foreground", func(t *testing.T) {
		r := do(t, fx.stateChange, request{method: "PUT", path: "/v1/devices/iphone-1/state", auth: alice,
			body: []byte(`{"state":"foreground","unreadCount":5}`)})
		var d device
		decode(t, r, http.StatusOK, &d)
		wantDevices(t, r.what, []device{d},
			`iphone-1 user=alice cert=10001 vendor=apns platform=ios state=foreground status=active unread=5 suffix="`+suffix(tokA)+`"`)
		if d.UpdatedAt.Before(d.CreatedAt) {
			t.Errorf("updatedAt %s before createdAt %s", d.UpdatedAt, d.CreatedAt)
		}
		noneOf(t, r, allTokens...)

		var list deviceList
		r = do(t, fx.tokenUpload, request{method: "GET", path: "/v1/devices", auth: alice})
		decode(t, r, http.StatusOK, &list)
		wantDevices(t, r.what, list.Devices,
			`iphone-1 user=alice cert=10001 vendor=apns platform=ios state=foreground status=active unread=5 suffix="`+suffix(tokA)+`"`,
			`pixel-1 user=alice cert=10002 vendor=fcm platform=android state=background status=active unread=0 suffix="`+suffix(tokPixel)+`"`)
		noneOf(t, r, allTokens...)

		// Back to the background without a count: the count stays.
		r = do(t, fx.stateChange, request{method: "PUT", path: "/v1/devices/iphone-1/state", auth: alice, body: []byte(`{"state":"background"}`)})
		d = device{}
		decode(t, r, http.StatusOK, &d)
		if d.State != "background" || d.UnreadCount != 5 {
			t.Errorf("%s: state %s, unread %d; want background, 5 kept", r.what, d.State, d.UnreadCount)
		}
	})

	step("bob uploads alice's token", func(t *testing.T) {
		r := do(t, fx.tokenUpload, request{method: "PUT", path: "/v1/devices/bob-iphone", auth: bob, body: upload(apnsID, tokA, "ios")})
		var d device
		decode(t, r, http.StatusOK, &d)
		wantDevices(t, r.what, []device{d},
			`bob-iphone user=bob cert=10001 vendor=apns platform=ios state=background status=active unread=0 suffix="`+suffix(tokA)+`"`)

		var u userView
		r = do(t, fx.admin, request{method: "GET", path: "/v1/users/alice", auth: adminAuth})
		decode(t, r, http.StatusOK, &u)
		wantDevices(t, r.what, u.Devices,
			`iphone-1 user=alice cert=10001 vendor=apns platform=ios state=background status=logged_out unread=5 suffix=""`,
			`pixel-1 user=alice cert=10002 vendor=fcm platform=android state=background status=active unread=0 suffix="`+suffix(tokPixel)+`"`)
		if u.UserID != "alice" || u.Tags == nil || u.Attributes == nil {
			t.Errorf("push check: %s", r.body)
		}
		for _, d := range u.Devices {
			if string(d.LastResult) != "null" {
				t.Errorf("%s: lastResult %s before any push, want null", d.DeviceID, d.LastResult)
			}
		}
		noneOf(t, r, allTokens...)

		var list deviceList
		r = do(t, fx.tokenUpload, request{method: "GET", path: "/v1/devices", auth: alice})
		decode(t, r, http.StatusOK, &list)
		wantDevices(t, r.what, list.Devices,
			`iphone-1 user=alice cert=10001 vendor=apns platform=ios state=background status=logged_out unread=5 suffix=""`,
			`pixel-1 user=alice cert=10002 vendor=fcm platform=android state=background status=active unread=0 suffix="`+suffix(tokPixel)+`"`)

		u = userView{}
		r = do(t, fx.admin, request{method: "GET", path: "/v1/users/bob", auth: adminAuth})
		decode(t, r, http.StatusOK, &u)
		wantDevices(t, r.what, u.Devices,
			`bob-iphone user=bob cert=10001 vendor=apns platform=ios state=background status=active unread=0 suffix="`+suffix(tokA)+`"`)
	})

	step("bob logs out twice", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			r := do(t, fx.tokenUpload, request{method: "DELETE", path: "/v1/devices/bob-iphone", auth: bob})
			if r.status != http.StatusNoContent || len(r.body) != 0 {
				t.Errorf("%s (#%d): %d %q, want 204 without a body", r.what, i+1, r.status, r.body)
			}
		}
		if r := do(t, fx.tokenUpload, request{method: "DELETE", path: "/v1/devices/never-had", auth: bob}); r.status != http.StatusNoContent {
			t.Errorf("%s: %d %s, want 204", r.what, r.status, r.body)
		}
		var u userView
		r := do(t, fx.admin, request{method: "GET", path: "/v1/users/bob", auth: adminAuth})
		decode(t, r, http.StatusOK, &u)
		wantDevices(t, r.what, u.Devices,
			`bob-iphone user=bob cert=10001 vendor=apns platform=ios state=background status=logged_out unread=0 suffix=""`)
	})

	step("alice uploads the freed token again", func(t *testing.T) {
		r := do(t, fx.tokenUpload, request{method: "PUT", path: "/v1/devices/iphone-1", auth: alice, body: upload(apnsID, tokA, "ios")})
		var d device
		decode(t, r, http.StatusOK, &d)
		// A re-upload keeps state and unread count and makes the device active.
		wantDevices(t, r.what, []device{d},
			`iphone-1 user=alice cert=10001 vendor=apns platform=ios state=background status=active unread=5 suffix="`+suffix(tokA)+`"`)
	})

	step("admin kicks alice's devices", func(t *testing.T) {
		decode(t, do(t, fx.tokenUpload, request{method: "PUT", path: "/v1/devices/ipad-1", auth: alice, body: upload(apnsID, tokPad, "ios")}), http.StatusOK, nil)

		var kicked deviceList
		r := do(t, fx.admin, request{method: "POST", path: "/v1/users/alice/kick", auth: adminAuth, body: []byte(`{"keepDeviceId":"pixel-1"}`)})
		decode(t, r, http.StatusOK, &kicked)
		wantDevices(t, r.what, kicked.Devices,
			`ipad-1 user=alice cert=10001 vendor=apns platform=ios state=background status=kicked unread=0 suffix="`+suffix(tokPad)+`"`,
			`iphone-1 user=alice cert=10001 vendor=apns platform=ios state=background status=kicked unread=5 suffix="`+suffix(tokA)+`"`,
			`pixel-1 user=alice cert=10002 vendor=fcm platform=android state=background status=active unread=0 suffix="`+suffix(tokPixel)+`"`)
		noneOf(t, r, allTokens...)

		var list deviceList
		r = do(t, fx.tokenUpload, request{method: "GET", path: "/v1/devices", auth: alice})
		decode(t, r, http.StatusOK, &list)
		wantDevices(t, r.what, list.Devices,
			`ipad-1 user=alice cert=10001 vendor=apns platform=ios state=background status=kicked unread=0 suffix="`+suffix(tokPad)+`"`,
			`iphone-1 user=alice cert=10001 vendor=apns platform=ios state=background status=kicked unread=5 suffix="`+suffix(tokA)+`"`,
			`pixel-1 user=alice cert=10002 vendor=fcm platform=android state=background status=active unread=0 suffix="`+suffix(tokPixel)+`"`)

		// No body: every device.
		kicked = deviceList{}
		r = do(t, fx.admin, request{method: "POST", path: "/v1/users/alice/kick", auth: adminAuth})
		decode(t, r, http.StatusOK, &kicked)
		for _, d := range kicked.Devices {
			if d.Status != "kicked" {
				t.Errorf("%s: %s is %s, want kicked", r.what, d.DeviceID, d.Status)
			}
		}
		if len(kicked.Devices) != 3 {
			t.Errorf("%s: %d devices, want 3", r.what, len(kicked.Devices))
		}

		wantError(t, do(t, fx.admin, request{method: "POST", path: "/v1/users/nobody/kick", auth: adminAuth}), http.StatusNotFound, "not_found", "")
		wantError(t, do(t, fx.admin, request{method: "POST", path: "/v1/users/alice/kick", auth: adminAuth, body: []byte(`{"keepDeviceId":"nope"}`)}),
			http.StatusNotFound, "not_found", "")
	})

	step("a kicked device comes back by uploading", func(t *testing.T) {
		var d device
		decode(t, do(t, fx.tokenUpload, request{method: "PUT", path: "/v1/devices/pixel-1", auth: alice, body: upload(fcmID, tokPixel, "android")}), http.StatusOK, &d)
		if d.Status != "active" {
			t.Errorf("re-uploaded pixel-1 is %s, want active", d.Status)
		}
		var u userView
		r := do(t, fx.admin, request{method: "GET", path: "/v1/users/alice", auth: adminAuth})
		decode(t, r, http.StatusOK, &u)
		wantDevices(t, r.what, u.Devices,
			`ipad-1 user=alice cert=10001 vendor=apns platform=ios state=background status=kicked unread=0 suffix="`+suffix(tokPad)+`"`,
			`iphone-1 user=alice cert=10001 vendor=apns platform=ios state=background status=kicked unread=5 suffix="`+suffix(tokA)+`"`,
			`pixel-1 user=alice cert=10002 vendor=fcm platform=android state=background status=active unread=0 suffix="`+suffix(tokPixel)+`"`)
		noneOf(t, r, allTokens...)
		wantError(t, do(t, fx.admin, request{method: "GET", path: "/v1/users/nobody", auth: adminAuth}), http.StatusNotFound, "not_found", "")
	})
}

// snapshot is what the store holds for users and the certificates, as the
// admin routes show it.
func (fx *fixture) snapshot(t *testing.T, users ...string) string {
	t.Helper()
	var b strings.Builder
	for _, u := range users {
		r := do(t, fx.admin, request{method: "GET", path: "/v1/users/" + u, auth: adminAuth})
		fmt.Fprintf(&b, "user %s: %d %s\n", u, r.status, r.body)
	}
	r := do(t, fx.admin, request{method: "GET", path: "/v1/certificates", auth: adminAuth})
	fmt.Fprintf(&b, "certificates: %d %s\n", r.status, r.body)
	return b.String()
}

func TestBadRequestsChangeNothing(t *testing.T) {
	fx := setup(t)
	const certID = 20001
	decode(t, do(t, fx.admin, request{method: "POST", path: "/v1/certificates", auth: adminAuth, body: apnsCertificate(t, certID)}), http.StatusCreated, nil)
	erin, frank := userAuth(t, "erin"), userAuth(t, "frank")
	decode(t, do(t, fx.tokenUpload, request{method: "PUT", path: "/v1/devices/e1", auth: erin, body: upload(certID, apnsToken(t), "ios")}), http.StatusOK, nil)
	before := fx.snapshot(t, "erin")

	// Each request would change erin's data if it were accepted.
	newUpload := upload(certID, apnsToken(t), "ios")
	uploadWith := func(change map[string]any) []byte {
		var m map[string]any
		json.Unmarshal(newUpload, &m)
		for k, v := range change {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return jsonBody(m)
	}
	foreground := []byte(`{"state":"foreground","unreadCount":9}`)
	big := uploadWith(map[string]any{"appVersion": strings.Repeat("9", 17<<10)})
	bigState := []byte(`{"state":"foreground","pad":"` + strings.Repeat("x", 17<<10) + `"}`)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	certWith := func(apns map[string]any, extra map[string]any) []byte {
		a := map[string]any{"environment": "production", "bundleId": "com.example.chat", "teamId": "ABCDE12345", "keyId": "KEY1234567", "privateKey": apnsKey(t)}
		maps.Copy(a, apns)
		c := map[string]any{"id": 20009, "vendor": "apns", "name": "bad", "apns": a}
		maps.Copy(c, extra)
		return jsonBody(c)
	}
	expired := bearer(t, jwtSecret, "erin", time.Now().Add(-time.Hour))
	noExp := bearer(t, jwtSecret, "erin", time.Time{})
	forged := bearer(t, "another-secret-of-at-least-32-bytes!", "erin", time.Now().Add(time.Hour))

	type tc struct {
		name   string
		fn     *lambdart.Function
		req    request
		status int
		code   string
		field  string
	}
	up := func(name, auth string, body []byte, status int, code, field string) tc {
		return tc{name, fx.tokenUpload, request{method: "PUT", path: "/v1/devices/e1", auth: auth, body: body}, status, code, field}
	}
	state := func(name, path, auth string, body []byte, status int, code, field string) tc {
		return tc{name, fx.stateChange, request{method: "PUT", path: path, auth: auth, body: body}, status, code, field}
	}
	cases := []tc{
		// 401: token-upload.
		up("upload without credential", "", newUpload, 401, "unauthenticated", ""),
		up("upload with a forged JWT", forged, newUpload, 401, "unauthenticated", ""),
		up("upload with an expired JWT", expired, newUpload, 401, "unauthenticated", ""),
		up("upload with a JWT without exp", noExp, newUpload, 401, "unauthenticated", ""),
		up("upload with a malformed JWT", "Bearer not.a.jwt", newUpload, 401, "unauthenticated", ""),
		up("upload with Basic auth", "Basic ZXJpbjpwdw==", newUpload, 401, "unauthenticated", ""),
		up("upload with the admin key", adminAuth, newUpload, 401, "unauthenticated", ""),
		{"logout without credential", fx.tokenUpload, request{method: "DELETE", path: "/v1/devices/e1"}, 401, "unauthenticated", ""},
		{"logout with a forged JWT", fx.tokenUpload, request{method: "DELETE", path: "/v1/devices/e1", auth: forged}, 401, "unauthenticated", ""},
		{"list without credential", fx.tokenUpload, request{method: "GET", path: "/v1/devices"}, 401, "unauthenticated", ""},
		// 401: state-change.
		state("state without credential", "/v1/devices/e1/state", "", foreground, 401, "unauthenticated", ""),
		state("state with a forged JWT", "/v1/devices/e1/state", forged, foreground, 401, "unauthenticated", ""),
		// 401: admin.
		{"push check without key", fx.admin, request{method: "GET", path: "/v1/users/erin"}, 401, "unauthenticated", ""},
		{"kick with a wrong key", fx.admin, request{method: "POST", path: "/v1/users/erin/kick", auth: "Bearer e2e-admin-key-wrong-0123456789"}, 401, "unauthenticated", ""},
		{"kick with an app JWT", fx.admin, request{method: "POST", path: "/v1/users/erin/kick", auth: erin}, 401, "unauthenticated", ""},
		{"certificate without key", fx.admin, request{method: "POST", path: "/v1/certificates", body: certWith(nil, nil)}, 401, "unauthenticated", ""},
		// 400: uploads.
		{"upload to a bad deviceId", fx.tokenUpload, request{method: "PUT", path: "/v1/devices/bad!id", auth: erin, body: newUpload}, 400, "invalid_argument", "deviceId"},
		{"upload to a deviceId with a space", fx.tokenUpload, request{method: "PUT", path: "/v1/devices/bad%20id", auth: erin, body: newUpload}, 400, "invalid_argument", "deviceId"},
		{"upload to a 129-character deviceId", fx.tokenUpload, request{method: "PUT", path: "/v1/devices/" + strings.Repeat("d", 129), auth: erin, body: newUpload}, 400, "invalid_argument", "deviceId"},
		{"logout of a bad deviceId", fx.tokenUpload, request{method: "DELETE", path: "/v1/devices/bad!id", auth: erin}, 400, "invalid_argument", "deviceId"},
		up("upload without certificateId", erin, uploadWith(map[string]any{"certificateId": nil}), 400, "invalid_argument", "certificateId"),
		up("upload of a non-hex APNs token", erin, uploadWith(map[string]any{"token": strings.Repeat("zz", 32)}), 400, "invalid_argument", "token"),
		up("upload of a short APNs token", erin, uploadWith(map[string]any{"token": "abcd"}), 400, "invalid_argument", "token"),
		up("upload naming an unknown certificate", erin, uploadWith(map[string]any{"certificateId": 99999999}), 400, "invalid_argument", "certificateId"),
		up("upload with certificateId as a string", erin, uploadWith(map[string]any{"certificateId": "20001"}), 400, "invalid_argument", "certificateId"),
		up("upload of an android device on an APNs certificate", erin, uploadWith(map[string]any{"platform": "android"}), 400, "invalid_argument", "platform"),
		up("upload of malformed JSON", erin, []byte(`{"certificateId":`), 400, "invalid_argument", ""),
		up("upload over 16 KiB", erin, big, 413, "payload_too_large", ""),
		{"upload as text/plain", fx.tokenUpload, request{method: "PUT", path: "/v1/devices/e1", auth: erin, body: newUpload, contentType: "text/plain"}, 415, "unsupported_media_type", ""},
		{"upload without Content-Type", fx.tokenUpload, request{method: "PUT", path: "/v1/devices/e1", auth: erin, body: newUpload, noType: true}, 415, "unsupported_media_type", ""},
		// state-change.
		state("state of a bad deviceId", "/v1/devices/bad!id/state", erin, foreground, 400, "invalid_argument", "deviceId"),
		state("state of an unknown device", "/v1/devices/nope/state", erin, foreground, 404, "not_found", ""),
		state("state of another user's device", "/v1/devices/e1/state", frank, foreground, 404, "not_found", ""),
		state("state asleep", "/v1/devices/e1/state", erin, []byte(`{"state":"asleep"}`), 400, "invalid_argument", "state"),
		state("unread count out of range", "/v1/devices/e1/state", erin, []byte(`{"state":"background","unreadCount":100000}`), 400, "invalid_argument", "unreadCount"),
		state("unread count as a string", "/v1/devices/e1/state", erin, []byte(`{"state":"background","unreadCount":"3"}`), 400, "invalid_argument", "unreadCount"),
		state("state over 16 KiB", "/v1/devices/e1/state", erin, bigState, 413, "payload_too_large", ""),
		{"state as form data", fx.stateChange, request{method: "PUT", path: "/v1/devices/e1/state", auth: erin, body: []byte("state=foreground"), contentType: "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		// admin.
		{"certificate with an unknown field", fx.admin, request{method: "POST", path: "/v1/certificates", auth: adminAuth, body: certWith(nil, map[string]any{"bogus": 1})}, 400, "invalid_argument", "bogus"},
		{"certificate with a 9-character teamId", fx.admin, request{method: "POST", path: "/v1/certificates", auth: adminAuth, body: certWith(map[string]any{"teamId": "ABCDE1234"}, nil)}, 400, "invalid_argument", "apns.teamId"},
		{"certificate with an RSA .p8", fx.admin, request{method: "POST", path: "/v1/certificates", auth: adminAuth, body: certWith(map[string]any{"privateKey": pkcs8PEM(t, rsaKey)}, nil)}, 400, "invalid_argument", "apns.privateKey"},
		{"certificate with a taken id", fx.admin, request{method: "POST", path: "/v1/certificates", auth: adminAuth, body: certWith(nil, map[string]any{"id": certID})}, 409, "conflict", "id"},
		{"kick keeping an unknown device", fx.admin, request{method: "POST", path: "/v1/users/erin/kick", auth: adminAuth, body: []byte(`{"keepDeviceId":"nope"}`)}, 404, "not_found", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, do(t, c.fn, c.req), c.status, c.code, c.field)
			if after := fx.snapshot(t, "erin"); after != before {
				t.Errorf("stored data changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestAdminReadsItsKeysOnce(t *testing.T) {
	fx := setup(t)
	for i := 0; i < 3; i++ {
		decode(t, do(t, fx.admin, request{method: "GET", path: "/v1/certificates", auth: adminAuth}), http.StatusOK, nil)
	}
	// The secret holds two keys (rotation): both are accepted.
	decode(t, do(t, fx.admin, request{method: "GET", path: "/v1/certificates", auth: "Bearer " + rotatedAdminKey}), http.StatusOK, nil)
	wantError(t, do(t, fx.admin, request{method: "GET", path: "/v1/certificates", auth: "Bearer e2e-admin-key-wrong-0123456789"}),
		http.StatusUnauthorized, "unauthenticated", "")
	targets, problems := fx.secrets.seen()
	if len(targets) != 1 || targets[0] != "secretsmanager.GetSecretValue" {
		t.Errorf("Secrets Manager saw %q across several admin invocations, want one GetSecretValue (read once per container)", targets)
	}
	if len(problems) > 0 {
		t.Errorf("Secrets Manager refused requests: %q", problems)
	}
}

// tableState describes a table: ACTIVE and its TTL attribute, or absent.
func tableState(t *testing.T, db *dynamodb.Client, name string) string {
	t.Helper()
	ctx := context.Background()
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name})
	var missing *types.ResourceNotFoundException
	if errors.As(err, &missing) {
		return "absent"
	}
	if err != nil {
		t.Fatalf("DescribeTable %s: %v", name, err)
	}
	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &name})
	if err != nil {
		t.Fatalf("DescribeTimeToLive %s: %v", name, err)
	}
	attr := ""
	if d := ttl.TimeToLiveDescription; d != nil && d.AttributeName != nil {
		attr = *d.AttributeName
	}
	return fmt.Sprintf("%s ttl=%s:%s", out.Table.TableStatus, attr, ttl.TimeToLiveDescription.TimeToLiveStatus)
}

func tableNames(prefix string) []string {
	return []string{prefix + dynamo.UsersTable, prefix + dynamo.IndexTable, prefix + dynamo.JobsTable}
}

func TestTablesFromEnvironment(t *testing.T) {
	endpoint := dynamolocal.Endpoint(t)
	db := dynamolocal.Client(t)
	bin := lambdart.Build(t, module+"/functions/token-upload")
	gina := userAuth(t, "gina")

	t.Run("OFFPUSH_CREATE_TABLES=true creates them", func(t *testing.T) {
		prefix := dynamolocal.UniquePrefix()
		for _, name := range tableNames(prefix) {
			if s := tableState(t, db, name); s != "absent" {
				t.Fatalf("table %s before the function started: %s", name, s)
			}
		}
		env := functionEnv(endpoint, prefix)
		env["OFFPUSH_JWT_HS256_SECRET"] = jwtSecret
		f := lambdart.Start(t, bin, env)
		var list deviceList
		r := do(t, f, request{method: "GET", path: "/v1/devices", auth: gina})
		decode(t, r, http.StatusOK, &list)
		if string(r.body) != "{\"devices\":[]}\n" {
			t.Errorf("%s: %s, want no devices", r.what, r.body)
		}
		// The certificates table answers too: the certificate is unknown.
		wantError(t, do(t, f, request{method: "PUT", path: "/v1/devices/g1", auth: gina, body: upload(1, apnsToken(t), "ios")}),
			http.StatusBadRequest, "invalid_argument", "certificateId")
		for _, name := range tableNames(prefix) {
			if s := tableState(t, db, name); s != "ACTIVE ttl=expiresAt:ENABLED" {
				t.Errorf("table %s: %s, want ACTIVE with TTL on expiresAt", name, s)
			}
		}
	})

	t.Run("without it the function creates nothing", func(t *testing.T) {
		prefix := dynamolocal.UniquePrefix()
		env := functionEnv(endpoint, prefix)
		env["OFFPUSH_JWT_HS256_SECRET"] = jwtSecret
		delete(env, "OFFPUSH_CREATE_TABLES")
		f := lambdart.Start(t, bin, env)
		r := do(t, f, request{method: "GET", path: "/v1/devices", auth: gina})
		wantError(t, r, http.StatusInternalServerError, "internal", "")
		if strings.Contains(string(r.body), prefix) || strings.Contains(string(r.body), "Exception") {
			t.Errorf("%s: the 500 body shows internals: %s", r.what, r.body)
		}
		for _, name := range tableNames(prefix) {
			if s := tableState(t, db, name); s != "absent" {
				t.Errorf("table %s: %s, want absent", name, s)
			}
		}
	})
}

// TestLogs runs last: besides one invocation of each function, it reads
// everything the shared functions logged during the package's tests.
func TestLogs(t *testing.T) {
	fx := setup(t)
	for _, c := range []struct {
		fn    *lambdart.Function
		req   request
		route string
	}{
		{fx.tokenUpload, request{method: "GET", path: "/v1/devices", auth: userAuth(t, "hana")}, "GET /v1/devices"},
		{fx.stateChange, request{method: "PUT", path: "/v1/devices/h1/state", auth: userAuth(t, "hana"), body: []byte(`{"state":"foreground"}`)}, "PUT /v1/devices/{deviceId}/state"},
		{fx.admin, request{method: "GET", path: "/v1/certificates", auth: adminAuth}, "GET /v1/certificates"},
	} {
		r := do(t, c.fn, c.req) // checks the lines: request ID, no secrets
		var access map[string]any
		for _, line := range strings.Split(r.inv.Logs, "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["message"] == "request" {
				access = rec
			}
		}
		if access == nil {
			t.Errorf("%s: no access log line (message \"request\") in %q", r.what, r.inv.Logs)
			continue
		}
		if access["requestId"] != r.inv.RequestID || access["level"] != "INFO" || access["route"] != c.route ||
			access["method"] != c.req.method || access["status"] != float64(r.status) || access["timestamp"] == nil {
			t.Errorf("%s: access log line %v; want requestId %s, level INFO, route %q, method, status %d, timestamp",
				r.what, access, r.inv.RequestID, c.route, r.status)
		}
	}
	secrets := sensitiveValues()
	for _, fn := range []*lambdart.Function{fx.tokenUpload, fx.stateChange, fx.admin} {
		for _, line := range strings.Split(fn.Logs(), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			if !json.Valid([]byte(line)) {
				notJSON(fn.Name(), line)
			}
			for _, s := range secrets {
				if strings.Contains(line, s) {
					t.Errorf("%s logged a whole token or secret (…%s): %q", fn.Name(), s[len(s)-4:], line)
				}
			}
		}
	}
	strayLines.mu.Lock()
	defer strayLines.mu.Unlock()
	if len(strayLines.lines) > 0 {
		t.Errorf("the functions wrote log lines that are not JSON (so without a request ID), such as:\n%s",
			strings.Join(strayLines.lines, "\n"))
	}
}
