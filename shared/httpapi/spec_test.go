package httpapi

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/offpush/offpush/shared/auth"
	"github.com/offpush/offpush/shared/broadcast"
	"github.com/offpush/offpush/shared/delivery"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/store/embedded"
	"github.com/offpush/offpush/shared/vendors"
)

// specPath is the OpenAPI document of the HTTP contract (docs/api.md).
const specPath = "../../infra/openapi.yaml"

// specServer is the spec's first server, the local one; test requests go to
// it so that the spec's router matches them.
const specServer = "http://127.0.0.1:8080"

// loadSpec loads and validates infra/openapi.yaml afresh, so a test may
// change its copy.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(specPath)
	if err != nil {
		t.Fatalf("load %s: %v", specPath, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", specPath, err)
	}
	return doc
}

func TestSpecIsValidOpenAPI(t *testing.T) {
	doc := loadSpec(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Errorf("openapi: %q, want 3.0.x", doc.OpenAPI)
	}
	if _, err := gorillamux.NewRouter(doc); err != nil {
		t.Fatalf("router from the spec: %v", err)
	}
	// Every operation names its security explicitly: app JWT, admin key, or
	// none (the health check only).
	for _, op := range specOperations(doc) {
		o := doc.Paths.Value(op.path).GetOperation(op.method)
		if o.Security == nil {
			t.Errorf("%s: no security requirement; set appJwt, adminKey or [] explicitly", op)
			continue
		}
		if len(*o.Security) == 0 && op.path != "/healthz" {
			t.Errorf("%s: no authentication, but only /healthz is public", op)
		}
	}
}

// specRoute is one operation: a method and a path template.
type specRoute struct{ method, path string }

func (r specRoute) String() string { return r.method + " " + r.path }

// routeRecorder is a Mux that records the patterns registered on it.
type routeRecorder struct{ patterns []string }

func (r *routeRecorder) Handle(pattern string, _ http.Handler) {
	r.patterns = append(r.patterns, pattern)
}

// registeredRoutes returns every route the functions serve: each route
// group, plus the health check that NewHandler registers itself.
func registeredRoutes(t *testing.T) []specRoute {
	t.Helper()
	rec := &routeRecorder{}
	// NewHandler mounts GET /healthz on its own mux before the groups, so it
	// is recorded by hand here; TestSpecOperationsAreServed checks it
	// against the real handler.
	rec.Handle("GET /healthz", nil)
	var d Deps
	for _, g := range allRoutes(nil, nil, nil) {
		g(rec, d)
	}
	var out []specRoute
	for _, p := range rec.patterns {
		r, err := parsePattern(p)
		if err != nil {
			t.Errorf("route %q: %v", p, err)
			continue
		}
		out = append(out, r)
	}
	return out
}

// parsePattern turns a ServeMux pattern such as "PUT /v1/devices/{deviceId}"
// into the OpenAPI method and path template.
func parsePattern(p string) (specRoute, error) {
	method, path, ok := strings.Cut(p, " ")
	if !ok || method == "" {
		return specRoute{}, fmt.Errorf("no method: the spec describes one operation per method")
	}
	path = strings.TrimLeft(path, " \t")
	if !strings.HasPrefix(path, "/") {
		return specRoute{}, fmt.Errorf("pattern names a host or no path")
	}
	path = strings.TrimSuffix(path, "{$}")
	// A trailing wildcard {name...} is a template parameter in OpenAPI.
	path = strings.ReplaceAll(path, "...}", "}")
	return specRoute{method: method, path: path}, nil
}

// specOperations lists the spec's operations, sorted.
func specOperations(doc *openapi3.T) []specRoute {
	var out []specRoute
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, specRoute{method: method, path: path})
		}
	}
	sortRoutes(out)
	return out
}

// allRoutes are every route group, over st, pushing through p and
// broadcasting through b.
func allRoutes(st store.Store, p Pusher, b Broadcaster) []Routes {
	return []Routes{DeviceRoutes(st), StateRoutes(st), AdminRoutes(st), DevRoutes(st), PushRoutes(p), BroadcastRoutes(b)}
}

// capturePusher is the real delivery engine over st with vendor clients in
// capture mode: it builds every vendor request and sends nothing.
func capturePusher(t *testing.T, st store.Store) Pusher {
	t.Helper()
	venv, err := push.NewEnv(func(string) string { return "" }, push.EnvConfig{Tokens: st, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return delivery.New(delivery.Config{Store: st, Clients: vendors.NewClients(venv, st), Log: slog.New(slog.DiscardHandler)})
}

// specBroadcaster is the real broadcast service over st. Its planner hands
// its tasks to tasks and runs none; sched keeps the schedules it is given.
func specBroadcaster(st store.Store, tasks *specTasks, sched *specScheduler) *broadcast.Service {
	planner := broadcast.NewPlanner(broadcast.PlannerConfig{Store: st, Batches: &specBatches{}, Tasks: tasks,
		Log: slog.New(slog.DiscardHandler)})
	return broadcast.NewService(st, planner, sched, nil)
}

// specTasks is a planning queue that keeps the tasks enqueued on it.
type specTasks struct {
	mu    sync.Mutex
	tasks []broadcast.Task
}

func (q *specTasks) EnqueueTask(_ context.Context, t broadcast.Task) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.tasks = append(q.tasks, t)
	return nil
}

// of returns the tasks enqueued for a broadcast.
func (q *specTasks) of(id string) []broadcast.Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []broadcast.Task
	for _, t := range q.tasks {
		if t.JobID == id {
			out = append(out, t)
		}
	}
	return out
}

// specBatches is a batch queue that keeps the batches sent to it.
type specBatches struct {
	mu      sync.Mutex
	batches []delivery.Batch
}

func (q *specBatches) SendBatches(_ context.Context, batches []delivery.Batch) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.batches = append(q.batches, batches...)
	return nil
}

// specScheduler is a broadcast.Scheduler that keeps each broadcast's
// schedule expression and fires nothing.
type specScheduler struct {
	mu        sync.Mutex
	schedules map[string]string
}

func (s *specScheduler) Schedule(_ context.Context, id, expression, timezone string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.schedules == nil {
		s.schedules = map[string]string{}
	}
	s.schedules[id] = expression + " " + timezone
	return nil
}

func (s *specScheduler) Unschedule(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.schedules, id)
	return nil
}

// of returns a broadcast's schedule: its expression and time zone, or "".
func (s *specScheduler) of(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.schedules[id]
}

func sortRoutes(rs []specRoute) {
	slices.SortFunc(rs, func(a, b specRoute) int {
		if c := strings.Compare(a.path, b.path); c != 0 {
			return c
		}
		return strings.Compare(a.method, b.method)
	})
}

// diffRoutes returns the spec operations the router does not register and
// the registered routes the spec does not describe. A route registered twice
// counts as not described the second time.
func diffRoutes(spec, registered []specRoute) (notRegistered, notInSpec []specRoute) {
	want := map[specRoute]bool{}
	for _, r := range spec {
		want[r] = true
	}
	seen := map[specRoute]bool{}
	for _, r := range registered {
		if !want[r] || seen[r] {
			notInSpec = append(notInSpec, r)
		}
		seen[r] = true
	}
	for _, r := range spec {
		if !seen[r] {
			notRegistered = append(notRegistered, r)
		}
	}
	sortRoutes(notRegistered)
	sortRoutes(notInSpec)
	return notRegistered, notInSpec
}

// routeDiffError describes a difference between spec and router, or is ""
// when they agree.
func routeDiffError(notRegistered, notInSpec []specRoute) string {
	var b strings.Builder
	for _, r := range notRegistered {
		fmt.Fprintf(&b, "\n  in %s but not registered by the router: %s", specPath, r)
	}
	for _, r := range notInSpec {
		fmt.Fprintf(&b, "\n  registered by the router but not in %s: %s", specPath, r)
	}
	return b.String()
}

func TestSpecMatchesRouter(t *testing.T) {
	doc := loadSpec(t)
	registered := registeredRoutes(t)
	if len(registered) == 0 {
		t.Fatal("no routes recorded")
	}
	if msg := routeDiffError(diffRoutes(specOperations(doc), registered)); msg != "" {
		t.Errorf("spec and router disagree:%s", msg)
	}

	// The comparison must notice a difference either way.
	t.Run("detects a route missing from the spec", func(t *testing.T) {
		doc := loadSpec(t)
		const gone = "/v1/users/{userId}/kick"
		if doc.Paths.Value(gone) == nil {
			t.Fatalf("spec has no %s to remove", gone)
		}
		doc.Paths.Delete(gone)
		notRegistered, notInSpec := diffRoutes(specOperations(doc), registeredRoutes(t))
		want := []specRoute{{"POST", gone}}
		if len(notRegistered) != 0 || !slices.Equal(notInSpec, want) {
			t.Errorf("diff = %v, %v; want [], %v", notRegistered, notInSpec, want)
		}
		if msg := routeDiffError(notRegistered, notInSpec); !strings.Contains(msg, "POST "+gone) {
			t.Errorf("message %q does not name POST %s", msg, gone)
		}
	})
	t.Run("detects an operation the router lacks", func(t *testing.T) {
		doc := loadSpec(t)
		doc.Paths.Value("/v1/devices").Post = &openapi3.Operation{}
		notRegistered, notInSpec := diffRoutes(specOperations(doc), registeredRoutes(t))
		want := []specRoute{{"POST", "/v1/devices"}}
		if !slices.Equal(notRegistered, want) || len(notInSpec) != 0 {
			t.Errorf("diff = %v, %v; want %v, []", notRegistered, notInSpec, want)
		}
	})
	t.Run("detects a renamed path parameter", func(t *testing.T) {
		registered := append(registeredRoutes(t), specRoute{"GET", "/v1/certificates/{certificateId}"})
		_, notInSpec := diffRoutes(specOperations(doc), registered)
		if len(notInSpec) != 1 {
			t.Errorf("not in spec = %v, want the {certificateId} route", notInSpec)
		}
	})
}

func TestSpecParsePattern(t *testing.T) {
	tests := []struct {
		in      string
		want    specRoute
		wantErr bool
	}{
		{in: "PUT /v1/devices/{deviceId}", want: specRoute{"PUT", "/v1/devices/{deviceId}"}},
		{in: "GET /healthz", want: specRoute{"GET", "/healthz"}},
		{in: "GET /v1/{$}", want: specRoute{"GET", "/v1/"}},
		{in: "GET /files/{path...}", want: specRoute{"GET", "/files/{path}"}},
		{in: "/v1/devices", wantErr: true},
		{in: "GET example.com/v1/devices", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parsePattern(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parsePattern(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestSpecOperationsAreServed sends each spec operation, without credentials,
// to the real handler: none may fall through to the mux's "no route" 404 or
// 405. This covers the health check, which registeredRoutes records by hand.
func TestSpecOperationsAreServed(t *testing.T) {
	doc := loadSpec(t)
	h := NewHandler(Deps{Log: slog.New(slog.DiscardHandler)}, allRoutes(nil, nil, nil)...)
	sample := strings.NewReplacer("{deviceId}", "d1", "{id}", "10001", "{userId}", "alice")
	for _, op := range specOperations(doc) {
		req := httptest.NewRequest(op.method, specServer+sample.Replace(op.path), nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusMethodNotAllowed || strings.Contains(rec.Body.String(), "no route for") {
			t.Errorf("%s: the handler does not serve it: %d %s", op, rec.Code, rec.Body)
		}
	}
}

// Fixtures of the response-validation test.
const (
	specAdminKey = "spec-admin-key-0123456789"
	specSecret   = "spec-hs256-secret-0123456789abcdef0123456789"
	specAPNsHex  = "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad"
)

// specCodes is the error code the contract gives each status.
var specCodes = map[int]string{
	http.StatusBadRequest:            CodeInvalidArgument,
	http.StatusUnauthorized:          CodeUnauthenticated,
	http.StatusForbidden:             CodePermissionDenied,
	http.StatusNotFound:              CodeNotFound,
	http.StatusConflict:              CodeConflict,
	http.StatusRequestEntityTooLarge: CodePayloadTooLarge,
	http.StatusUnsupportedMediaType:  CodeUnsupportedMediaType,
	http.StatusTooManyRequests:       CodeRateLimited,
	http.StatusInternalServerError:   CodeInternal,
}

// specStep is one request of the response-validation test.
type specStep struct {
	name         string
	method, path string
	// auth is the Authorization header; empty sends none.
	auth string
	// body is sent as is; contentType defaults to application/json when
	// there is a body.
	body        string
	contentType string
	want        int
	// specRejects marks a request that deliberately breaks the spec: the
	// spec must reject it too, not only the handler.
	specRejects bool
	// check looks further at a success response.
	check func(t *testing.T, body map[string]any)
}

// specValidator validates requests and responses against the spec.
type specValidator struct {
	router routers.Router
	opts   *openapi3filter.Options
}

func newSpecValidator(t *testing.T, doc *openapi3.T) specValidator {
	t.Helper()
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router from the spec: %v", err)
	}
	return specValidator{router: router, opts: &openapi3filter.Options{
		// The handlers authenticate; the spec only names the scheme.
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true,
		MultiError:            true,
		SkipSettingDefaults:   true,
	}}
}

// request validates req against the spec and returns the input that
// its response is validated with.
func (v specValidator) request(req *http.Request) (*openapi3filter.RequestValidationInput, error) {
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return nil, fmt.Errorf("no operation in the spec: %w", err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: v.opts}
	return in, openapi3filter.ValidateRequest(context.Background(), in)
}

func (v specValidator) response(in *openapi3filter.RequestValidationInput, status int, header http.Header, body []byte) error {
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                v.opts,
	})
}

func newSpecRequest(s specStep) *http.Request {
	req := httptest.NewRequest(s.method, specServer+s.path, strings.NewReader(s.body))
	if s.body == "" {
		req = httptest.NewRequest(s.method, specServer+s.path, nil)
	}
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	ct := s.contentType
	if ct == "" && s.body != "" {
		ct = "application/json"
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	return req
}

// TestOpenAPIResponses drives the real handler over an in-memory store
// through a realistic sequence, and validates every request and response
// against the spec: a response the spec does not describe (status, body or
// header) fails the test.
func TestOpenAPIResponses(t *testing.T) {
	doc := loadSpec(t)
	v := newSpecValidator(t, doc)

	ctx := context.Background()
	st := embedded.OpenMemory(store.Options{})
	admins, err := auth.NewAdminKeys([]string{specAdminKey})
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth.NewVerifier(ctx, auth.JWTConfig{HS256Secret: []byte(specSecret)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(users.Close)
	tasks, sched := &specTasks{}, &specScheduler{}
	h := NewHandler(Deps{Users: users, Admins: admins, Log: slog.New(slog.DiscardHandler)},
		allRoutes(st, capturePusher(t, st), specBroadcaster(st, tasks, sched))...)
	captured := []push.Captured{
		{Vendor: device.APNs, CertificateID: 20001, Target: "9f3a", URL: "https://api.push.apple.com/3/device/9f3a",
			Header: map[string]string{"apns-push-type": "alert"}, Payload: []byte(`{"aps":{"alert":{"body":"hi"}}}`), CapturedAt: time.Now()},
		{Vendor: device.Meizu, CertificateID: 30002, Target: "RA50", URL: "http://server-api-push.meizu.com/garcia/api/server/push/varnished/pushByPushId",
			Payload: []byte(`appId=1&pushIds=RA50`), CapturedAt: time.Now()},
	}
	if err := st.SaveCaptured(ctx, captured); err != nil {
		t.Fatal(err)
	}

	mint := func(user string) string {
		tok, err := auth.MintHS256([]byte(specSecret), user, time.Hour, time.Now(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	alice, bob := mint("alice"), mint("bob")
	admin := "Bearer " + specAdminKey
	badJWT := "Bearer " + strings.Replace(strings.TrimPrefix(alice, "Bearer "), ".", ".x", 1)

	fcm := specJSON(t, map[string]any{
		"vendor": "fcm", "name": "android-prod",
		"fcm":         map[string]any{"serviceAccountJson": specServiceAccount(t)},
		"clickAction": map[string]any{"type": "openPage", "intent": "intent://chat/open#Intent;scheme=app;end"},
		"badgeClass":  "com.example.chat.MainActivity",
	})
	apns := specJSON(t, map[string]any{
		"id": 20001, "vendor": "apns", "name": "ios-prod",
		"apns": map[string]any{
			"environment": "production", "bundleId": "com.example.chat",
			"teamId": "ABCDE12345", "keyId": "KEY1234567", "privateKey": specP8(t),
		},
	})
	huawei := specJSON(t, map[string]any{
		"id": 30001, "vendor": "huawei", "name": "huawei-prod",
		"huawei": map[string]any{"appId": "104857600", "appSecret": "s3cret-s3cret"},
	})

	// Tags: 101 in one list, and the 100 that fill a user up.
	manyTags := func(n int) string {
		tags := make([]string, n)
		for i := range tags {
			tags[i] = fmt.Sprintf("t%03d", i)
		}
		return specJSON(t, map[string]any{"add": tags})
	}
	// ids holds broadcast IDs that steps learn; {name} in a later step's
	// path stands for ids[name].
	ids := map[string]string{}
	saveID := func(name string, b map[string]any) string {
		id, _ := b["broadcastId"].(string)
		ids[name] = id
		return id
	}
	sendAt := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	message := `"from": "admin", "msgLifeTime": 3600, "offlinePushInfo": {"desc": "Spring sale", "ext": "{\"page\":\"sale\"}"}`

	steps := []specStep{
		{name: "health", method: "GET", path: "/healthz", want: 200},

		// Capture mode.
		{name: "captured", method: "GET", path: "/v1/dev/captured", auth: admin, want: 200},
		{name: "captured apns", method: "GET", path: "/v1/dev/captured?vendor=apns&limit=1", auth: admin, want: 200},
		{name: "captured bad limit", method: "GET", path: "/v1/dev/captured?limit=0", auth: admin, want: 400, specRejects: true},
		{name: "captured unauthenticated", method: "GET", path: "/v1/dev/captured", want: 401},

		// Certificates.
		{name: "create fcm", method: "POST", path: "/v1/certificates", auth: admin, body: fcm, want: 201,
			check: func(t *testing.T, b map[string]any) {
				if b["id"] != float64(store.FirstCertificateID) {
					t.Errorf("id = %v, want the first assigned ID %d", b["id"], store.FirstCertificateID)
				}
			}},
		{name: "create apns with id", method: "POST", path: "/v1/certificates", auth: admin, body: apns, want: 201},
		{name: "create huawei", method: "POST", path: "/v1/certificates", auth: admin, body: huawei, want: 201},
		{name: "create taken id", method: "POST", path: "/v1/certificates", auth: admin, body: apns, want: 409},
		{name: "create unknown field", method: "POST", path: "/v1/certificates", auth: admin,
			body: `{"vendor": "huawei", "name": "x", "huawei": {"appId": "1", "appSecret": "s"}, "colour": "red"}`,
			want: 400, specRejects: true},
		{name: "create wrong vendor object", method: "POST", path: "/v1/certificates", auth: admin,
			body: `{"vendor": "fcm", "name": "x", "huawei": {"appId": "1", "appSecret": "s"}}`, want: 400},
		{name: "create malformed", method: "POST", path: "/v1/certificates", auth: admin, body: `{"vendor": `,
			want: 400, specRejects: true},
		{name: "create too large", method: "POST", path: "/v1/certificates", auth: admin,
			body: `{"vendor": "huawei", "name": "` + strings.Repeat("n", AdminBodyLimit) + `"}`, want: 413, specRejects: true},
		{name: "create not json", method: "POST", path: "/v1/certificates", auth: admin, body: "vendor=fcm",
			contentType: "application/x-www-form-urlencoded", want: 415, specRejects: true},
		{name: "create no key", method: "POST", path: "/v1/certificates", body: huawei, want: 401},
		{name: "create with app jwt", method: "POST", path: "/v1/certificates", auth: alice, body: huawei, want: 401},
		{name: "list certificates", method: "GET", path: "/v1/certificates", auth: admin, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if n := len(b["certificates"].([]any)); n != 3 {
					t.Errorf("%d certificates, want 3", n)
				}
			}},
		{name: "get certificate", method: "GET", path: "/v1/certificates/10001", auth: admin, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if f := b["fcm"].(map[string]any); f["projectId"] != "offpush-spec" {
					t.Errorf("fcm = %v, want projectId offpush-spec", f)
				}
			}},
		{name: "get unknown certificate", method: "GET", path: "/v1/certificates/99999", auth: admin, want: 404},
		{name: "get certificate bad id", method: "GET", path: "/v1/certificates/abc", auth: admin, want: 400, specRejects: true},
		{name: "rename keeping secrets", method: "PUT", path: "/v1/certificates/30001", auth: admin,
			body: `{"vendor": "huawei", "name": "huawei-renamed", "huawei": {"appId": "104857600"}, "defaultChannelId": "chat"}`, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if b["name"] != "huawei-renamed" || b["defaultChannelId"] != "chat" {
					t.Errorf("name, channel = %v, %v", b["name"], b["defaultChannelId"])
				}
			}},
		{name: "change vendor", method: "PUT", path: "/v1/certificates/30001", auth: admin,
			body: `{"vendor": "meizu", "name": "m", "meizu": {"appId": "1", "appSecret": "s"}}`, want: 400},
		{name: "replace unknown certificate", method: "PUT", path: "/v1/certificates/99999", auth: admin,
			body: `{"vendor": "huawei", "name": "h", "huawei": {"appId": "1", "appSecret": "s"}}`, want: 404},

		// Devices.
		{name: "upload android", method: "PUT", path: "/v1/devices/d1", auth: alice,
			body: `{"certificateId": 10001, "token": "fcm-token-abcd:1234", "platform": "android", "appVersion": "2.3.0",
				"locale": "zh-CN", "timezone": "Asia/Shanghai", "someFutureField": true}`, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if b["state"] != "background" || b["status"] != "active" || b["tokenSuffix"] != "1234" {
					t.Errorf("new device: state %v, status %v, tokenSuffix %v", b["state"], b["status"], b["tokenSuffix"])
				}
			}},
		{name: "upload ios", method: "PUT", path: "/v1/devices/ios-1", auth: alice,
			body: `{"certificateId": 20001, "token": "` + specAPNsHex + `", "platform": "ios"}`, want: 200},
		{name: "upload no auth", method: "PUT", path: "/v1/devices/d2",
			body: `{"certificateId": 10001, "token": "t", "platform": "android"}`, want: 401},
		{name: "upload bad jwt", method: "PUT", path: "/v1/devices/d2", auth: badJWT,
			body: `{"certificateId": 10001, "token": "t", "platform": "android"}`, want: 401},
		{name: "upload unknown certificate", method: "PUT", path: "/v1/devices/d2", auth: alice,
			body: `{"certificateId": 424242, "token": "t", "platform": "android"}`, want: 400},
		{name: "upload apns token not hex", method: "PUT", path: "/v1/devices/d2", auth: alice,
			body: `{"certificateId": 20001, "token": "not-hex", "platform": "ios"}`, want: 400},
		{name: "upload missing token", method: "PUT", path: "/v1/devices/d2", auth: alice,
			body: `{"certificateId": 10001, "platform": "android"}`, want: 400, specRejects: true},
		{name: "upload bad device id", method: "PUT", path: "/v1/devices/bad!id", auth: alice,
			body: `{"certificateId": 10001, "token": "t", "platform": "android"}`, want: 400, specRejects: true},
		{name: "upload not json", method: "PUT", path: "/v1/devices/d2", auth: alice, body: "token=t",
			contentType: "text/plain", want: 415, specRejects: true},
		{name: "upload too large", method: "PUT", path: "/v1/devices/d2", auth: alice,
			body: `{"certificateId": 10001, "platform": "android", "token": "` + strings.Repeat("t", AppBodyLimit) + `"}`,
			want: 413, specRejects: true},
		{name: "foreground", method: "PUT", path: "/v1/devices/d1/state", auth: alice,
			body: `{"state": "foreground", "unreadCount": 3}`, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if b["state"] != "foreground" || b["unreadCount"] != float64(3) {
					t.Errorf("state %v, unreadCount %v", b["state"], b["unreadCount"])
				}
			}},
		{name: "state unread out of range", method: "PUT", path: "/v1/devices/d1/state", auth: alice,
			body: `{"state": "background", "unreadCount": 100000}`, want: 400, specRejects: true},
		{name: "state unknown device", method: "PUT", path: "/v1/devices/nope/state", auth: alice,
			body: `{"state": "background"}`, want: 404},
		{name: "state of another user's device", method: "PUT", path: "/v1/devices/d1/state", auth: bob,
			body: `{"state": "background"}`, want: 404},
		{name: "list devices", method: "GET", path: "/v1/devices", auth: alice, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if n := len(b["devices"].([]any)); n != 2 {
					t.Errorf("%d devices, want 2", n)
				}
			}},
		{name: "list no devices", method: "GET", path: "/v1/devices", auth: bob, want: 200},
		{name: "list no auth", method: "GET", path: "/v1/devices", want: 401},

		// Users.
		{name: "push check", method: "GET", path: "/v1/users/alice", auth: admin, want: 200,
			check: func(t *testing.T, b map[string]any) {
				for _, d := range b["devices"].([]any) {
					if r, ok := d.(map[string]any)["lastResult"]; !ok || r != nil {
						t.Errorf("lastResult = %v (present %v), want null", r, ok)
					}
				}
			}},
		{name: "push check unknown user", method: "GET", path: "/v1/users/nobody", auth: admin, want: 404},
		{name: "push check with app jwt", method: "GET", path: "/v1/users/alice", auth: alice, want: 401},

		// Tags and attributes.
		{name: "tags add", method: "PUT", path: "/v1/users/alice/tags", auth: admin,
			body: `{"add": ["vip", "trial", "beta", "vip"]}`, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if got := fmt.Sprint(b["tags"]); got != "[beta trial vip]" {
					t.Errorf("tags = %s, want [beta trial vip]", got)
				}
			}},
		{name: "tags add and remove", method: "PUT", path: "/v1/users/alice/tags", auth: admin,
			body: `{"add": ["gold"], "remove": ["trial", "never-set"]}`, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if got := fmt.Sprint(b["tags"]); got != "[beta gold vip]" {
					t.Errorf("tags = %s, want [beta gold vip]", got)
				}
			}},
		{name: "tags remove all", method: "PUT", path: "/v1/users/alice/tags", auth: admin,
			body: `{"remove": ["gold"]}`, want: 200},
		{name: "tags over the cap", method: "PUT", path: "/v1/users/carol/tags", auth: admin,
			body: manyTags(101), want: 400, specRejects: true},
		{name: "tags up to the cap", method: "PUT", path: "/v1/users/carol/tags", auth: admin,
			body: manyTags(100), want: 200},
		{name: "tags past a user's cap", method: "PUT", path: "/v1/users/carol/tags", auth: admin,
			body: `{"add": ["one-more"]}`, want: 400},
		{name: "tags empty tag", method: "PUT", path: "/v1/users/alice/tags", auth: admin,
			body: `{"add": [""]}`, want: 400, specRejects: true},
		{name: "tags unknown field", method: "PUT", path: "/v1/users/alice/tags", auth: admin,
			body: `{"set": ["vip"]}`, want: 400, specRejects: true},
		{name: "tags not json", method: "PUT", path: "/v1/users/alice/tags", auth: admin, body: "add=vip",
			contentType: "application/x-www-form-urlencoded", want: 415, specRejects: true},
		{name: "tags unauthenticated", method: "PUT", path: "/v1/users/alice/tags", body: `{"add": ["vip"]}`, want: 401},
		{name: "attributes set", method: "PUT", path: "/v1/users/alice/attributes", auth: admin,
			body: `{"attributes": {"city": "sh", "level": "gold"}}`, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if got := fmt.Sprint(b["attributes"]); got != "map[city:sh level:gold]" {
					t.Errorf("attributes = %s", got)
				}
			}},
		{name: "attributes delete", method: "PUT", path: "/v1/users/alice/attributes", auth: admin,
			body: `{"attributes": {"level": null}}`, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if got := fmt.Sprint(b["attributes"]); got != "map[city:sh]" {
					t.Errorf("attributes = %s, want only city", got)
				}
			}},
		{name: "attributes bad name", method: "PUT", path: "/v1/users/alice/attributes", auth: admin,
			body: `{"attributes": {"home town": "sh"}}`, want: 400},
		{name: "attributes empty value", method: "PUT", path: "/v1/users/alice/attributes", auth: admin,
			body: `{"attributes": {"city": ""}}`, want: 400, specRejects: true},
		{name: "attributes none", method: "PUT", path: "/v1/users/alice/attributes", auth: admin,
			body: `{"attributes": {}}`, want: 400, specRejects: true},
		{name: "attributes unauthenticated", method: "PUT", path: "/v1/users/alice/attributes",
			body: `{"attributes": {"city": "sh"}}`, want: 401},
		{name: "push check shows tags and attributes", method: "GET", path: "/v1/users/alice", auth: admin, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if tags, attrs := fmt.Sprint(b["tags"]), fmt.Sprint(b["attributes"]); tags != "[beta vip]" || attrs != "map[city:sh]" {
					t.Errorf("tags %s, attributes %s", tags, attrs)
				}
			}},
		// Push.
		{name: "push", method: "POST", path: "/v1/push", auth: admin,
			body: `{"from": "admin", "fromNickname": "Support", "to": ["alice", "nobody"], "msgRandom": 7,
				"offlinePushInfo": {"desc": "You have a new message", "ext": "{\"conversationID\":\"c2c_admin\"}"}}`, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if b["duplicate"] != false || b["summary"].(map[string]any)["users"] != 2.0 {
					t.Errorf("push response %v", b)
				}
			}},
		{name: "push again", method: "POST", path: "/v1/push", auth: admin,
			body: `{"from": "admin", "to": ["alice", "nobody"], "msgRandom": 7, "offlinePushInfo": {"desc": "You have a new message", "ext": "{\"conversationID\":\"c2c_admin\"}"}}`, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if b["duplicate"] != true {
					t.Errorf("second identical push not a duplicate: %v", b)
				}
			}},
		{name: "push dry run", method: "POST", path: "/v1/push", auth: admin,
			body: `{"from": "admin", "to": ["alice"], "dryRun": true, "offlinePushInfo": {"desc": "hi"}}`, want: 200},
		{name: "push no users", method: "POST", path: "/v1/push", auth: admin, body: `{"from": "admin", "to": []}`, want: 400, specRejects: true},
		{name: "push bad ext", method: "POST", path: "/v1/push", auth: admin,
			body: `{"from": "admin", "to": ["alice"], "offlinePushInfo": {"ext": "not json"}}`, want: 400},
		{name: "push as a user", method: "POST", path: "/v1/push", auth: alice, body: `{"from": "admin", "to": ["alice"]}`, want: 401},
		{name: "test push", method: "POST", path: "/v1/users/alice/test-push", auth: admin, body: `{"title": "Test", "desc": "Hello"}`, want: 200},
		{name: "test push without body", method: "POST", path: "/v1/users/alice/test-push", auth: admin, want: 200},
		{name: "test push unknown user", method: "POST", path: "/v1/users/nobody/test-push", auth: admin, want: 404},

		{name: "kick keeping d1", method: "POST", path: "/v1/users/alice/kick", auth: admin,
			body: `{"keepDeviceId": "d1"}`, want: 200,
			check: func(t *testing.T, b map[string]any) {
				for _, d := range b["devices"].([]any) {
					d := d.(map[string]any)
					want := "kicked"
					if d["deviceId"] == "d1" {
						want = "active"
					}
					if d["status"] != want {
						t.Errorf("%v: status %v, want %s", d["deviceId"], d["status"], want)
					}
				}
			}},
		{name: "kick without body", method: "POST", path: "/v1/users/alice/kick", auth: admin, want: 200},
		{name: "kick unknown keep device", method: "POST", path: "/v1/users/alice/kick", auth: admin,
			body: `{"keepDeviceId": "ghost"}`, want: 404},
		{name: "kick unknown user", method: "POST", path: "/v1/users/nobody/kick", auth: admin, want: 404},
		{name: "kick unknown field", method: "POST", path: "/v1/users/alice/kick", auth: admin,
			body: `{"keep": "d1"}`, want: 400, specRejects: true},

		// Broadcasts.
		{name: "broadcast to tags", method: "POST", path: "/v1/broadcasts", auth: admin,
			body: `{` + message + `, "audience": {"tagsOr": ["vip", "beta", "vip"]}}`, want: 202,
			check: func(t *testing.T, b map[string]any) {
				id := saveID("tags", b)
				if b["status"] != "planning" || fmt.Sprint(b["audience"]) != "map[tagsOr:[beta vip]]" {
					t.Errorf("status %v, audience %v; want planning, tagsOr [beta vip]", b["status"], b["audience"])
				}
				if _, ok := b["duplicate"]; ok {
					t.Errorf("a new broadcast says duplicate: %v", b["duplicate"])
				}
				if n := len(tasks.of(id)); n != 1 {
					t.Errorf("%d planning tasks, want 1", n)
				}
			}},
		{name: "broadcast with msgRandom", method: "POST", path: "/v1/broadcasts", auth: admin,
			body: `{` + message + `, "msgRandom": 99, "audience": {"attributesAnd": {"city": "sh"}}}`, want: 202,
			check: func(t *testing.T, b map[string]any) {
				saveID("msgRandom", b)
				if _, ok := b["duplicate"]; ok {
					t.Errorf("the first broadcast says duplicate: %v", b["duplicate"])
				}
			}},
		{name: "broadcast with msgRandom again", method: "POST", path: "/v1/broadcasts", auth: admin,
			body: `{` + message + `, "msgRandom": 99, "audience": {"attributesAnd": {"city": "sh"}}}`, want: 202,
			check: func(t *testing.T, b map[string]any) {
				if b["duplicate"] != true || b["broadcastId"] != ids["msgRandom"] {
					t.Errorf("duplicate %v, broadcastId %v; want true, %s", b["duplicate"], b["broadcastId"], ids["msgRandom"])
				}
			}},
		{name: "broadcast at a time", method: "POST", path: "/v1/broadcasts", auth: admin,
			body: `{` + message + `, "audience": {"all": true}, "sendAt": "` + sendAt + `"}`, want: 202,
			check: func(t *testing.T, b map[string]any) {
				id := saveID("scheduled", b)
				if b["status"] != "scheduled" || b["sendAt"] != sendAt || b["startedAt"] != nil {
					t.Errorf("status %v, sendAt %v, startedAt %v; want scheduled, %s, null", b["status"], b["sendAt"], b["startedAt"], sendAt)
				}
				if got := sched.of(id); !strings.HasPrefix(got, "at(") {
					t.Errorf("schedule %q, want at(...)", got)
				}
				if n := len(tasks.of(id)); n != 0 {
					t.Errorf("%d planning tasks before its time", n)
				}
			}},
		{name: "broadcast on a cron", method: "POST", path: "/v1/broadcasts", auth: admin,
			body: `{` + message + `, "audience": {"tagsAnd": ["vip"]}, "cron": "cron(0 8 ? * MON-FRI *)", "timezone": "Asia/Shanghai"}`, want: 202,
			check: func(t *testing.T, b map[string]any) {
				id := saveID("cron", b)
				if b["status"] != "scheduled" || b["cron"] != "cron(0 8 ? * MON-FRI *)" || b["timezone"] != "Asia/Shanghai" || b["sendAt"] != nil {
					t.Errorf("status %v, cron %v, timezone %v, sendAt %v", b["status"], b["cron"], b["timezone"], b["sendAt"])
				}
				if got := sched.of(id); got != "cron(0 8 ? * MON-FRI *) Asia/Shanghai" {
					t.Errorf("schedule %q", got)
				}
			}},
		{name: "broadcast to a list", method: "POST", path: "/v1/broadcasts", auth: admin,
			body: `{` + message + `, "audience": {"users": ["alice", "bob", "alice"]}}`, want: 202,
			check: func(t *testing.T, b map[string]any) {
				if got := fmt.Sprint(b["audience"]); got != "map[usersCount:2]" {
					t.Errorf("audience %s, want only usersCount 2", got)
				}
			}},
		{name: "broadcast bad audience", method: "POST", path: "/v1/broadcasts", auth: admin,
			body: `{` + message + `, "audience": {"tagsOr": ["vip"], "attributesOr": {"city": "sh"}}}`, want: 400, specRejects: true},
		{name: "broadcast no audience", method: "POST", path: "/v1/broadcasts", auth: admin,
			body: `{` + message + `, "audience": {}}`, want: 400, specRejects: true},
		{name: "broadcast bad attribute name", method: "POST", path: "/v1/broadcasts", auth: admin,
			body: `{` + message + `, "audience": {"attributesOr": {"home town": "sh"}}}`, want: 400},
		{name: "broadcast sendAt and cron", method: "POST", path: "/v1/broadcasts", auth: admin,
			body: `{` + message + `, "audience": {"all": true}, "sendAt": "` + sendAt + `", "cron": "rate(1 day)"}`, want: 400},
		{name: "broadcast bad cron", method: "POST", path: "/v1/broadcasts", auth: admin,
			body: `{` + message + `, "audience": {"all": true}, "cron": "0 8 * * *"}`, want: 400},
		{name: "broadcast sendAt past", method: "POST", path: "/v1/broadcasts", auth: admin,
			body: `{` + message + `, "audience": {"all": true}, "sendAt": "2020-01-01T00:00:00Z"}`, want: 400},
		{name: "broadcast unknown field", method: "POST", path: "/v1/broadcasts", auth: admin,
			body: `{` + message + `, "audience": {"all": true}, "to": ["alice"]}`, want: 400, specRejects: true},
		{name: "broadcast not json", method: "POST", path: "/v1/broadcasts", auth: admin, body: "audience=all",
			contentType: "text/plain", want: 415, specRejects: true},
		{name: "broadcast unauthenticated", method: "POST", path: "/v1/broadcasts",
			body: `{` + message + `, "audience": {"all": true}}`, want: 401},
		{name: "broadcast with app jwt", method: "POST", path: "/v1/broadcasts", auth: alice,
			body: `{` + message + `, "audience": {"all": true}}`, want: 401},
		{name: "list broadcasts", method: "GET", path: "/v1/broadcasts", auth: admin, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if n := len(b["broadcasts"].([]any)); n != 5 {
					t.Errorf("%d broadcasts, want 5", n)
				}
			}},
		{name: "list scheduled broadcasts", method: "GET", path: "/v1/broadcasts?status=scheduled", auth: admin, want: 200,
			check: func(t *testing.T, b map[string]any) {
				var got []string
				for _, x := range b["broadcasts"].([]any) {
					x := x.(map[string]any)
					got = append(got, x["broadcastId"].(string))
					if x["status"] != "scheduled" {
						t.Errorf("%v: status %v", x["broadcastId"], x["status"])
					}
				}
				slices.Sort(got)
				want := []string{ids["scheduled"], ids["cron"]}
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("scheduled broadcasts %v, want %v", got, want)
				}
			}},
		{name: "list bad status", method: "GET", path: "/v1/broadcasts?status=done", auth: admin, want: 400, specRejects: true},
		{name: "list broadcasts unauthenticated", method: "GET", path: "/v1/broadcasts", want: 401},
		{name: "get broadcast", method: "GET", path: "/v1/broadcasts/{tags}", auth: admin, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if b["broadcastId"] != ids["tags"] || b["status"] != "planning" || b["startedAt"] == nil {
					t.Errorf("broadcastId %v, status %v, startedAt %v", b["broadcastId"], b["status"], b["startedAt"])
				}
			}},
		{name: "get broadcast bad id", method: "GET", path: "/v1/broadcasts/not-an-id", auth: admin, want: 400, specRejects: true},
		{name: "get unknown broadcast", method: "GET", path: "/v1/broadcasts/b0123456789abcdef0123", auth: admin, want: 404},
		{name: "cancel scheduled broadcast", method: "DELETE", path: "/v1/broadcasts/{scheduled}", auth: admin, want: 200,
			check: func(t *testing.T, b map[string]any) {
				if b["status"] != "cancelled" || b["completedAt"] == nil {
					t.Errorf("status %v, completedAt %v; want cancelled, set", b["status"], b["completedAt"])
				}
				if got := sched.of(ids["scheduled"]); got != "" {
					t.Errorf("still scheduled: %q", got)
				}
			}},
		{name: "cancel broadcast again", method: "DELETE", path: "/v1/broadcasts/{scheduled}", auth: admin, want: 409},
		{name: "cancel unknown broadcast", method: "DELETE", path: "/v1/broadcasts/b0123456789abcdef0123", auth: admin, want: 404},
		{name: "cancel broadcast bad id", method: "DELETE", path: "/v1/broadcasts/B0123456789ABCDEF0123", auth: admin, want: 400, specRejects: true},
		{name: "cancel broadcast unauthenticated", method: "DELETE", path: "/v1/broadcasts/{cron}", want: 401},

		// Cleanup.
		{name: "logout", method: "DELETE", path: "/v1/devices/d1", auth: alice, want: 204},
		{name: "logout again", method: "DELETE", path: "/v1/devices/d1", auth: alice, want: 204},
		{name: "logout bad device id", method: "DELETE", path: "/v1/devices/bad!id", auth: alice, want: 400, specRejects: true},
		{name: "list after logout", method: "GET", path: "/v1/devices", auth: alice, want: 200,
			check: func(t *testing.T, b map[string]any) {
				for _, d := range b["devices"].([]any) {
					d := d.(map[string]any)
					if d["deviceId"] == "d1" && (d["status"] != "logged_out" || d["tokenSuffix"] != "") {
						t.Errorf("d1 after logout: status %v, tokenSuffix %q", d["status"], d["tokenSuffix"])
					}
				}
			}},
		{name: "delete certificate", method: "DELETE", path: "/v1/certificates/20001", auth: admin, want: 204},
		{name: "delete certificate again", method: "DELETE", path: "/v1/certificates/20001", auth: admin, want: 404},
	}

	covered := map[specRoute]bool{}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			for name, id := range ids {
				s.path = strings.ReplaceAll(s.path, "{"+name+"}", id)
			}
			in, reqErr := v.request(newSpecRequest(s))
			if in == nil {
				t.Fatalf("%s %s: %v", s.method, s.path, reqErr)
			}
			covered[specRoute{s.method, in.Route.Path}] = true
			switch {
			case s.specRejects && reqErr == nil:
				t.Errorf("the spec accepts this request, which the test means to break it")
			case s.specRejects:
				t.Logf("the spec rejects the request, as meant: %.200v", reqErr)
			case !s.specRejects && reqErr != nil:
				t.Errorf("request does not match the spec: %v", reqErr)
			}

			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, newSpecRequest(s))
			body := rec.Body.Bytes()
			if rec.Code != s.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, s.want, body)
			}
			if err := v.response(in, rec.Code, rec.Header(), body); err != nil {
				t.Errorf("response does not match the spec: %v\nbody: %s", err, body)
			}
			if rec.Code == http.StatusNoContent && len(body) != 0 {
				t.Errorf("204 with a body: %s", body)
			}
			if rec.Code >= 300 {
				var e struct {
					Error struct{ Code string } `json:"error"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != specCodes[rec.Code] {
					t.Errorf("error code %q, want %q for %d", e.Error.Code, specCodes[rec.Code], rec.Code)
				}
			}
			if s.check != nil && rec.Code < 300 && len(body) > 0 {
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil {
					t.Fatalf("body: %v", err)
				}
				s.check(t, m)
			}
		})
	}
	for _, op := range specOperations(doc) {
		if !covered[op] {
			t.Errorf("%s: no step exercises it; add one", op)
		}
	}
}

// TestOpenAPIResponsesCanFail shows that the response validation rejects
// what the spec does not describe.
func TestOpenAPIResponsesCanFail(t *testing.T) {
	v := newSpecValidator(t, loadSpec(t))
	hdr := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name         string
		method, path string
		status       int
		body         string
	}{
		{name: "undocumented status", method: "GET", path: "/healthz", status: 500,
			body: `{"error": {"code": "internal", "message": "internal error"}}`},
		{name: "device without expiresAt", method: "GET", path: "/v1/devices", status: 200,
			body: `{"devices": [{"deviceId": "d1", "userId": "alice", "certificateId": 10001, "vendor": "fcm",
				"platform": "android", "state": "background", "status": "active", "unreadCount": 0, "tokenSuffix": "abcd",
				"appVersion": "", "locale": "", "timezone": "", "createdAt": "2026-11-21T10:00:00Z", "updatedAt": "2026-11-21T10:00:00Z"}]}`},
		{name: "secret in a response", method: "GET", path: "/v1/certificates/30001", status: 200,
			body: `{"id": 30001, "vendor": "huawei", "name": "h", "huawei": {"appId": "1", "appSecret": "leaked"},
				"clickAction": {"type": "openApp"}, "badgeClass": "", "defaultChannelId": "",
				"createdAt": "2026-11-21T10:00:00Z", "updatedAt": "2026-11-21T10:00:00Z"}`},
		{name: "error without code", method: "DELETE", path: "/v1/certificates/30001", status: 404,
			body: `{"error": {"message": "no certificate 30001"}}`},
		{name: "broadcast without sendAt", method: "GET", path: "/v1/broadcasts/b0123456789abcdef0123", status: 200,
			body: `{"broadcastId": "b0123456789abcdef0123", "status": "planning", "audience": {"all": true}, "cron": "",
				"timezone": "UTC", "counts": {"users": 0, "batches": 0, "batchesDone": 0, "devices": 0, "sent": 0, "skipped": 0,
				"failed": 0, "invalidTokens": 0}, "createdAt": "2026-11-21T10:00:00Z", "startedAt": null, "completedAt": null}`},
		{name: "broadcast with two audiences", method: "GET", path: "/v1/broadcasts/b0123456789abcdef0123", status: 200,
			body: `{"broadcastId": "b0123456789abcdef0123", "status": "planning", "audience": {"tagsOr": ["vip"], "usersCount": 3},
				"sendAt": null, "cron": "", "timezone": "UTC", "counts": {"users": 0, "batches": 0, "batchesDone": 0, "devices": 0,
				"sent": 0, "skipped": 0, "failed": 0, "invalidTokens": 0}, "createdAt": "2026-11-21T10:00:00Z", "startedAt": null,
				"completedAt": null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := specStep{method: tt.method, path: tt.path, auth: "Bearer " + specAdminKey}
			in, err := v.request(newSpecRequest(s))
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			if err := v.response(in, tt.status, hdr, []byte(tt.body)); err == nil {
				t.Errorf("response accepted, want a spec violation")
			}
		})
	}
}

func specJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// specServiceAccount is a Google service account key file with a fresh RSA
// key, as the Firebase console issues it.
func specServiceAccount(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return specJSON(t, map[string]string{
		"type":           "service_account",
		"project_id":     "offpush-spec",
		"private_key_id": "0123456789abcdef",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "push@offpush-spec.iam.gserviceaccount.com",
		"client_id":      "123456789012345678901",
		"token_uri":      "https://oauth2.googleapis.com/token",
	})
}

// specP8 is an APNs .p8 signing key: PKCS#8 ECDSA P-256 in PEM.
func specP8(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
