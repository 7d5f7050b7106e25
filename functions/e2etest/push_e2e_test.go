package e2etest

// The push path end to end: the real message-push bootstrap under lambdart,
// with DynamoDB Local, fauxqs as SQS, the fake Secrets Manager for the admin
// keys, and the eight strict vendor mocks reached through the OFFPUSH_*_URL
// overrides. Certificates go in through the admin bootstrap, devices through
// token-upload, state-change and admin (HTTP test) or the store (SQS test).

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	dev "github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/store/dynamo"
	"github.com/offpush/offpush/shared/testinfra/dynamolocal"
	"github.com/offpush/offpush/shared/testinfra/fauxqs"
	"github.com/offpush/offpush/shared/testinfra/lambdart"
	"github.com/offpush/offpush/shared/vendors/vendortest"
)

// Vendor credentials of the push tests: what the mocks accept. The secrets
// are remembered, so no log line may hold one.
const (
	pushBundleID  = "com.example.chat"
	pushTeamID    = "ABCDE12345"
	pushKeyID     = "KEY1234567"
	huaweiAppID   = "10086"
	huaweiSecret  = "e2e-huawei-app-secret-5f1c"
	honorAppID    = "104412345"
	honorClientID = "e2e-honor-client"
	honorSecret   = "e2e-honor-client-secret-8d2a"
	xiaomiSecret  = "e2e-xiaomi-app-secret-3b7e"
	xiaomiPackage = "com.example.chat"
	oppoAppKey    = "e2eoppoappkey"
	oppoSecret    = "e2e-oppo-master-secret-9c4d"
	vivoAppID     = "10004"
	vivoAppKey    = "25509283-3767-4b9e-83fe-b6e55ac6243e"
	vivoSecret    = "e2e-vivo-app-secret-6e1f"
	meizuAppID    = "100999"
	meizuSecret   = "e2e-meizu-app-secret-2a8b"
	badgeClass    = "com.example.chat.MainActivity"
)

func init() {
	remember(huaweiSecret, honorSecret, xiaomiSecret, oppoSecret, vivoSecret, meizuSecret)
}

// vendorCertIDs are the certificate IDs the push tests register, by vendor.
var vendorCertIDs = map[string]int64{
	"apns": 31001, "fcm": 31002, "huawei": 31003, "honor": 31004,
	"xiaomi": 31005, "oppo": 31006, "vivo": 31007, "meizu": 31008,
}

// pushVendors lists the vendors in a fixed order.
var pushVendors = []string{"apns", "fcm", "huawei", "honor", "xiaomi", "oppo", "vivo", "meizu"}

// vendorMocks are the eight strict vendor mocks of one test.
type vendorMocks struct {
	apns   *vendortest.APNsMock
	fcm    *vendortest.FCMMock
	huawei *vendortest.HuaweiMock
	honor  *vendortest.HonorMock
	xiaomi *vendortest.XiaomiMock
	oppo   *vendortest.OPPOMock
	vivo   *vendortest.VivoMock
	meizu  *vendortest.MeizuMock

	apnsKey string // the .p8 PEM the APNs certificate carries
	caFile  string // one PEM bundle trusting every TLS mock
}

func startVendorMocks(t *testing.T) *vendorMocks {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	opts := vendortest.Options{}
	m := &vendorMocks{apnsKey: pkcs8PEM(t, key)}
	m.apns = vendortest.NewAPNs(t, opts, vendortest.APNsConfig{BundleID: pushBundleID, TeamID: pushTeamID, KeyID: pushKeyID, Key: &key.PublicKey})
	m.fcm = vendortest.NewFCM(t, opts)
	m.huawei = vendortest.NewHuawei(t, opts, huaweiAppID, huaweiSecret)
	m.honor = vendortest.NewHonor(t, opts, honorAppID, honorClientID, honorSecret)
	m.xiaomi = vendortest.NewXiaomi(t, opts, xiaomiSecret, xiaomiPackage)
	m.oppo = vendortest.NewOPPO(t, opts, oppoAppKey, oppoSecret)
	m.vivo = vendortest.NewVivo(t, opts, vendortest.VivoApp{AppID: vivoAppID, AppKey: vivoAppKey, AppSecret: vivoSecret})
	m.meizu = vendortest.NewMeizu(t, opts, meizuAppID, meizuSecret)
	remember(strings.Split(m.fcm.ServiceAccountJSON, "\\n")[1]) // the key's first line of base64

	// Meizu's API is plain HTTP; every other mock needs its certificate.
	var bundle []byte
	for _, f := range []string{m.apns.CAFile, m.fcm.CAFile, m.huawei.CAFile, m.honor.CAFile, m.xiaomi.CAFile(t), m.oppo.CAFile, m.vivo.CAFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bundle = append(bundle, b...)
	}
	m.caFile = filepath.Join(t.TempDir(), "vendor-ca.pem")
	if err := os.WriteFile(m.caFile, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	return m
}

// env points every vendor of a function at the mocks (api.md's variables).
func (m *vendorMocks) env() map[string]string {
	return map[string]string{
		"OFFPUSH_APNS_URL":        m.apns.URL(),
		"OFFPUSH_FCM_URL":         m.fcm.URL(),
		"OFFPUSH_HUAWEI_URL":      m.huawei.URL(),
		"OFFPUSH_HUAWEI_AUTH_URL": m.huawei.URL(),
		"OFFPUSH_HONOR_URL":       m.honor.URL(),
		"OFFPUSH_HONOR_AUTH_URL":  m.honor.URL(),
		"OFFPUSH_XIAOMI_URL":      m.xiaomi.URL(),
		"OFFPUSH_OPPO_URL":        m.oppo.URL(),
		"OFFPUSH_VIVO_URL":        m.vivo.URL(),
		"OFFPUSH_MEIZU_URL":       m.meizu.URL(),
		"OFFPUSH_VENDOR_CA_FILE":  m.caFile,
	}
}

// logs returns each mock's log by vendor.
func (m *vendorMocks) logs() map[string]*vendortest.Log {
	return map[string]*vendortest.Log{
		"apns": &m.apns.Log, "fcm": &m.fcm.Log, "huawei": &m.huawei.Log, "honor": &m.honor.Log,
		"xiaomi": m.xiaomi.Log, "oppo": m.oppo.Log, "vivo": m.vivo.Log, "meizu": m.meizu.Log,
	}
}

// targets counts the targets every mock accepted, by vendor and token.
func (m *vendorMocks) targets() map[string]map[string]int {
	out := map[string]map[string]int{}
	for v, l := range m.logs() {
		out[v] = map[string]int{}
		for _, tok := range l.Targets() {
			out[v][tok]++
		}
	}
	return out
}

// requests counts the requests every mock accepted, by vendor.
func (m *vendorMocks) requests() map[string]int {
	out := map[string]int{}
	for v, l := range m.logs() {
		out[v] = len(l.Received())
	}
	return out
}

// checkClean fails the test for every vendor rule a request broke.
func (m *vendorMocks) checkClean(t *testing.T) {
	t.Helper()
	for _, v := range pushVendors {
		m.logs()[v].CheckClean(t)
	}
}

// certificate is the admin body registering the vendor's certificate.
func (m *vendorMocks) certificate(vendor string) []byte {
	c := map[string]any{"id": vendorCertIDs[vendor], "vendor": vendor, "name": "e2e-" + vendor}
	switch vendor {
	case "apns":
		c["apns"] = map[string]any{"environment": "production", "bundleId": pushBundleID, "teamId": pushTeamID, "keyId": pushKeyID, "privateKey": m.apnsKey}
	case "fcm":
		c["fcm"] = map[string]any{"serviceAccountJson": m.fcm.ServiceAccountJSON}
		c["defaultChannelId"] = "chat_default"
	case "huawei":
		c["huawei"] = map[string]any{"appId": huaweiAppID, "appSecret": huaweiSecret}
		c["badgeClass"] = badgeClass
	case "honor":
		c["honor"] = map[string]any{"appId": honorAppID, "clientId": honorClientID, "clientSecret": honorSecret}
		c["badgeClass"] = badgeClass
	case "xiaomi":
		c["xiaomi"] = map[string]any{"appSecret": xiaomiSecret, "packageName": xiaomiPackage, "region": "china"}
	case "oppo":
		c["oppo"] = map[string]any{"appKey": oppoAppKey, "masterSecret": oppoSecret}
		c["defaultChannelId"] = "chat_messages"
	case "vivo":
		c["vivo"] = map[string]any{"appId": vivoAppID, "appKey": vivoAppKey, "appSecret": vivoSecret}
	case "meizu":
		c["meizu"] = map[string]any{"appId": meizuAppID, "appSecret": meizuSecret}
	}
	return jsonBody(c)
}

// vendorToken returns a fresh token for vendor, after prefix (a mock script
// prefix such as "invalid-", or ""). APNs tokens are hex, so an APNs token
// cannot carry a script prefix.
func vendorToken(t *testing.T, vendor, prefix string) string {
	t.Helper()
	var tok string
	switch vendor {
	case "apns":
		if prefix != "" {
			t.Fatalf("an APNs token is hex: it cannot start with %q", prefix)
		}
		return apnsToken(t)
	case "fcm":
		tok = prefix + fcmToken(t)
	default:
		tok = prefix + vendor + "-" + hex.EncodeToString(randomBytes(t, 20))
	}
	remember(tok)
	return tok
}

// pushStack is one deployment for a push test: its own tables, queues,
// vendor mocks and function containers.
type pushStack struct {
	prefix   string
	store    *dynamo.Store
	mocks    *vendorMocks
	secrets  *fakeSecretsManager
	queueURL string
	dlqURL   string
	sqs      *sqs.Client

	admin, tokenUpload, stateChange, messagePush *lambdart.Function
}

// newPushStack starts a deployment whose message-push sends a batch's
// failing users to the dead-letter queue after maxAttempts attempts.
func newPushStack(t *testing.T, maxAttempts int) *pushStack {
	t.Helper()
	endpoint := dynamolocal.Endpoint(t)
	db := dynamolocal.Client(t)
	sqsEndpoint := fauxqs.Endpoint(t)
	bins := map[string]string{}
	for _, name := range []string{"token-upload", "state-change", "admin", "message-push"} {
		bins[name] = lambdart.Build(t, module+"/functions/"+name)
	}
	s := &pushStack{prefix: dynamolocal.UniquePrefix(), mocks: startVendorMocks(t), sqs: fauxqs.Client(t)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamo.CreateTables(ctx, db, s.prefix); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	s.store = dynamo.New(db, s.prefix, store.Options{})
	// template.yaml's BulkQueue: visibility 6 × the function timeout.
	s.queueURL, s.dlqURL = fauxqs.NewQueue(t, "offpush-bulk", 5, 6*time.Minute)
	s.secrets = newFakeSecretsManager(adminSecretARN, `{"keys":["`+adminKey+`"]}`)
	t.Cleanup(s.secrets.srv.Close)

	appEnv := functionEnv(endpoint, s.prefix)
	appEnv["OFFPUSH_JWT_HS256_SECRET"] = jwtSecret
	adminEnv := functionEnv(endpoint, s.prefix)
	adminEnv["OFFPUSH_ADMIN_KEYS_SECRET_ARN"] = adminSecretARN
	adminEnv["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = s.secrets.srv.URL
	// template.yaml's MessagePushFunction.
	pushEnv := maps.Clone(adminEnv)
	maps.Copy(pushEnv, map[string]string{
		"OFFPUSH_QUEUE":         "sqs",
		"OFFPUSH_QUEUE_URL":     s.queueURL,
		"OFFPUSH_DLQ_URL":       s.dlqURL,
		"OFFPUSH_MAX_ATTEMPTS":  fmt.Sprint(maxAttempts),
		"AWS_ENDPOINT_URL_SQS":  sqsEndpoint,
		"AWS_LAMBDA_LOG_FORMAT": "JSON",
	})
	maps.Copy(pushEnv, s.mocks.env())

	s.tokenUpload = lambdart.Start(t, bins["token-upload"], maps.Clone(appEnv))
	s.stateChange = lambdart.Start(t, bins["state-change"], maps.Clone(appEnv))
	s.admin = lambdart.Start(t, bins["admin"], adminEnv)
	// MessagePushTimeout's default, and its MemorySize.
	s.messagePush = lambdart.StartConfig(t, bins["message-push"], lambdart.Config{Env: pushEnv, Timeout: 60 * time.Second, MemoryMB: 512})
	return s
}

// registerCertificates registers one certificate per vendor through the
// admin bootstrap.
func (s *pushStack) registerCertificates(t *testing.T) {
	t.Helper()
	for _, v := range pushVendors {
		var c certificate
		r := do(t, s.admin, request{method: "POST", path: "/v1/certificates", auth: adminAuth, body: s.mocks.certificate(v)})
		decode(t, r, http.StatusCreated, &c)
		if c.ID != vendorCertIDs[v] || c.Vendor != v {
			t.Fatalf("%s: %s", r.what, r.body)
		}
		noneOf(t, r, huaweiSecret, honorSecret, xiaomiSecret, oppoSecret, vivoSecret, meizuSecret, "PRIVATE KEY")
	}
}

// pushDevice is one device of a push test and the outcome it must get.
type pushDevice struct {
	user, id, vendor string
	prefix           string // the mock script prefix of its token
	setup            string // "", "foreground", "logout" or "kick"
	unread           int    // the unread count reported with the background state
	outcome, reason  string // wanted in the push response
	token            string
}

func (d *pushDevice) platform() string {
	if d.vendor == "apns" {
		return "ios"
	}
	return "android"
}

// pushed reports whether the device's token goes to its vendor.
func (d *pushDevice) pushed() bool { return d.outcome == "sent" || d.outcome == "failed" }

// pushResult is the body of POST /v1/push.
type pushResult struct {
	RequestID string `json:"requestId"`
	Duplicate bool   `json:"duplicate"`
	Summary   struct {
		Users   int `json:"users"`
		Devices int `json:"devices"`
		Sent    int `json:"sent"`
		Skipped int `json:"skipped"`
		Failed  int `json:"failed"`
	} `json:"summary"`
	Results []struct {
		UserID  string `json:"userId"`
		Devices []struct {
			DeviceID        string `json:"deviceId"`
			Vendor          string `json:"vendor"`
			Outcome         string `json:"outcome"`
			Reason          string `json:"reason"`
			Detail          string `json:"detail"`
			VendorMessageID string `json:"vendorMessageId"`
		} `json:"devices"`
	} `json:"results"`
}

type lastResult struct {
	Outcome   string    `json:"outcome"`
	Reason    string    `json:"reason"`
	Detail    string    `json:"detail"`
	MessageID string    `json:"messageId"`
	At        time.Time `json:"at"`
}

// pushBody is api.md's POST /v1/push example, to users.
func pushBody(users []string) []byte {
	var req map[string]any
	if err := json.Unmarshal([]byte(`{"from": "admin", "fromNickname": "Support", "msgType": "text",
 "msgRandom": 3674128, "msgLifeTime": 86400, "dryRun": false,
 "offlinePushInfo": {
   "pushFlag": 0, "title": "", "desc": "You have a new message", "ext": "{\"conversationID\":\"c2c_admin\"}",
   "androidInfo": {"sound": "", "huaweiChannelId": "", "huaweiCategory": "IM", "huaweiImportance": "NORMAL",
                   "huaweiImage": "", "extAsHuaweiIntentParam": 0, "xiaomiChannelId": "", "oppoChannelId": "",
                   "oppoCategory": "", "oppoNotifyLevel": 0, "vivoClassification": 1, "vivoCategory": "IM",
                   "vivoNotifyType": 4, "honorImportance": "NORMAL", "honorImage": "", "googleChannelId": "",
                   "googleImage": "", "googlePriority": "high", "meizuNoticeMsgType": 1},
   "apnsInfo": {"sound": "", "badgeMode": 0, "title": "", "subTitle": "", "image": "", "mutableContent": 0}}}`), &req); err != nil {
		panic(err)
	}
	req["to"] = users
	return jsonBody(req)
}

// TestPushHTTP pushes through POST /v1/push to users spread over the eight
// vendors, then sends the same request again.
func TestPushHTTP(t *testing.T) {
	t.Parallel()
	s := newPushStack(t, 5)
	s.registerCertificates(t)

	devices := []*pushDevice{
		{user: "alice", id: "a-ios", vendor: "apns", unread: 3, outcome: "sent"},
		{user: "alice", id: "a-fcm", vendor: "fcm", outcome: "sent"},
		{user: "alice", id: "a-hw-fg", vendor: "huawei", setup: "foreground", unread: 2, outcome: "skipped", reason: "foreground"},
		{user: "bob", id: "b-ios", vendor: "apns", outcome: "sent"},
		{user: "bob", id: "b-hw", vendor: "huawei", outcome: "sent"},
		{user: "bob", id: "b-hw-dead", vendor: "huawei", prefix: "invalid-", outcome: "failed", reason: "invalid_token"},
		{user: "bob", id: "b-honor", vendor: "honor", unread: 7, outcome: "sent"},
		{user: "carol", id: "c-honor-dead", vendor: "honor", prefix: "invalid-", outcome: "failed", reason: "invalid_token"},
		{user: "carol", id: "c-xm", vendor: "xiaomi", outcome: "sent"},
		{user: "carol", id: "c-xm-dead", vendor: "xiaomi", prefix: "invalid-", outcome: "failed", reason: "invalid_token"},
		{user: "dave", id: "d-oppo", vendor: "oppo", outcome: "sent"},
		{user: "dave", id: "d-oppo-dead", vendor: "oppo", prefix: "invalid-", outcome: "failed", reason: "invalid_token"},
		{user: "dave", id: "d-vivo", vendor: "vivo", outcome: "sent"},
		{user: "erin", id: "e-vivo", vendor: "vivo", outcome: "sent"},
		{user: "erin", id: "e-vivo-dead", vendor: "vivo", prefix: "invalid-", outcome: "failed", reason: "invalid_token"},
		{user: "erin", id: "e-mz", vendor: "meizu", outcome: "sent"},
		{user: "erin", id: "e-mz-dead", vendor: "meizu", prefix: "invalid-", outcome: "failed", reason: "invalid_token"},
		{user: "frank", id: "f-fcm-dead", vendor: "fcm", prefix: "invalid-", outcome: "failed", reason: "invalid_token"},
		{user: "frank", id: "f-ios-fg", vendor: "apns", setup: "foreground", outcome: "skipped", reason: "foreground"},
		{user: "frank", id: "f-ios-out", vendor: "apns", setup: "logout", outcome: "skipped", reason: "logged_out"},
		{user: "gina", id: "g-mz", vendor: "meizu", outcome: "sent"},
		{user: "gina", id: "g-oppo", vendor: "oppo", setup: "kick", outcome: "skipped", reason: "kicked"},
		{user: "gina", id: "g-xm", vendor: "xiaomi", setup: "kick", outcome: "skipped", reason: "kicked"},
	}
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "gina", "nobody"}
	byKey := map[string]*pushDevice{}
	userDevices := map[string][]*pushDevice{}
	for _, d := range devices {
		d.token = vendorToken(t, d.vendor, d.prefix)
		byKey[d.user+"/"+d.id] = d
		userDevices[d.user] = append(userDevices[d.user], d)
	}

	// The apps upload their tokens and report their state; the admin kicks.
	for _, d := range devices {
		auth := userAuth(t, d.user)
		decode(t, do(t, s.tokenUpload, request{method: "PUT", path: "/v1/devices/" + d.id, auth: auth,
			body: upload(vendorCertIDs[d.vendor], d.token, d.platform())}), http.StatusOK, nil)
		switch {
		case d.setup == "foreground":
			decode(t, do(t, s.stateChange, request{method: "PUT", path: "/v1/devices/" + d.id + "/state", auth: auth,
				body: jsonBody(map[string]any{"state": "foreground", "unreadCount": d.unread})}), http.StatusOK, nil)
		case d.unread > 0:
			decode(t, do(t, s.stateChange, request{method: "PUT", path: "/v1/devices/" + d.id + "/state", auth: auth,
				body: jsonBody(map[string]any{"state": "background", "unreadCount": d.unread})}), http.StatusOK, nil)
		case d.setup == "logout":
			if r := do(t, s.tokenUpload, request{method: "DELETE", path: "/v1/devices/" + d.id, auth: auth}); r.status != http.StatusNoContent {
				t.Fatalf("%s: %d %s", r.what, r.status, r.body)
			}
		}
	}
	decode(t, do(t, s.admin, request{method: "POST", path: "/v1/users/gina/kick", auth: adminAuth, body: []byte(`{"keepDeviceId":"g-mz"}`)}), http.StatusOK, nil)
	if got := s.mocks.requests(); sum(got) != 0 {
		t.Fatalf("the mocks saw requests before the push: %v", got)
	}

	body := pushBody(users)
	r := do(t, s.messagePush, request{method: "POST", path: "/v1/push", auth: adminAuth, body: body})
	var first pushResult
	decode(t, r, http.StatusOK, &first)
	noneOf(t, r, tokensOf(devices)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s answered %s", r.what, r.body)
		}
	})

	t.Run("every device gets its outcome", func(t *testing.T) {
		if first.RequestID == "" || first.Duplicate {
			t.Errorf("requestId %q, duplicate %v; want an ID and false", first.RequestID, first.Duplicate)
		}
		var gotUsers []string
		seen := map[string]bool{}
		for _, u := range first.Results {
			gotUsers = append(gotUsers, u.UserID)
			for _, d := range u.Devices {
				key := u.UserID + "/" + d.DeviceID
				seen[key] = true
				want, ok := byKey[key]
				if !ok {
					t.Errorf("%s: unexpected device in the response: %+v", key, d)
					continue
				}
				if d.Vendor != want.vendor || d.Outcome != want.outcome || d.Reason != want.reason {
					t.Errorf("%s: %s %s:%s (detail %q), want %s %s:%s", key, d.Vendor, d.Outcome, d.Reason, d.Detail, want.vendor, want.outcome, want.reason)
				}
				if d.Outcome == "sent" && d.VendorMessageID == "" {
					t.Logf("%s (%s): sent without a vendorMessageId", key, d.Vendor)
				}
			}
		}
		if !slices.Equal(gotUsers, users) {
			t.Errorf("results for users %q, want %q (request order, unknown users included)", gotUsers, users)
		}
		for _, u := range first.Results {
			if u.UserID == "nobody" && len(u.Devices) != 0 {
				t.Errorf("unknown user nobody: %d devices, want none", len(u.Devices))
			}
		}
		var sent, skipped, failed int
		for _, d := range devices {
			if !seen[d.user+"/"+d.id] {
				t.Errorf("%s/%s missing from the response", d.user, d.id)
			}
			switch d.outcome {
			case "sent":
				sent++
			case "skipped":
				skipped++
			default:
				failed++
			}
		}
		sm := first.Summary
		if sm.Users != len(users) || sm.Devices != len(devices) || sm.Sent != sent || sm.Skipped != skipped || sm.Failed != failed {
			t.Errorf("summary %+v, want users %d devices %d sent %d skipped %d failed %d", sm, len(users), len(devices), sent, skipped, failed)
		}
	})

	t.Run("the vendors got exactly one request per pushed device", func(t *testing.T) {
		s.mocks.checkClean(t)
		got := s.mocks.targets()
		for _, v := range pushVendors {
			want := map[string]int{}
			for _, d := range devices {
				if d.vendor == v && d.pushed() {
					want[d.token] = 1
				}
			}
			if !maps.Equal(got[v], want) {
				t.Errorf("%s mock targets %s, want %s", v, describeTargets(got[v], devices), describeTargets(want, devices))
			}
		}
		// The badge is the device's unread count after this message.
		badges := map[string]int{}
		for _, rec := range s.mocks.apns.Log.Received() {
			var p struct {
				APS struct {
					Badge *int `json:"badge"`
				} `json:"aps"`
				Ext string `json:"ext"`
			}
			if err := json.Unmarshal(rec.Body, &p); err != nil || p.APS.Badge == nil {
				t.Errorf("APNs payload %s: no badge (%v)", rec.Body, err)
				continue
			}
			if p.Ext != `{"conversationID":"c2c_admin"}` {
				t.Errorf("APNs payload %s: ext %q", rec.Body, p.Ext)
			}
			badges[rec.Targets[0]] = *p.APS.Badge
		}
		for _, d := range devices {
			if d.vendor == "apns" && d.outcome == "sent" && badges[d.token] != d.unread+1 {
				t.Errorf("%s: APNs badge %d, want %d (unread %d + this message)", d.id, badges[d.token], d.unread+1, d.unread)
			}
		}
	})

	t.Run("the push check shows results, dead tokens and unread counts", func(t *testing.T) {
		for _, u := range users[:len(users)-1] {
			var view userView
			r := do(t, s.admin, request{method: "GET", path: "/v1/users/" + u, auth: adminAuth})
			decode(t, r, http.StatusOK, &view)
			noneOf(t, r, tokensOf(devices)...)
			got := map[string]device{}
			for _, d := range view.Devices {
				got[d.DeviceID] = d
			}
			for _, want := range userDevices[u] {
				d, ok := got[want.id]
				if !ok {
					t.Errorf("%s/%s: missing from the push check %s", u, want.id, r.body)
					continue
				}
				var lr *lastResult
				if err := json.Unmarshal(d.LastResult, &lr); err != nil || lr == nil {
					t.Errorf("%s/%s: lastResult %s, want the push's", u, want.id, d.LastResult)
					continue
				}
				if lr.Outcome != want.outcome || lr.Reason != want.reason || lr.At.IsZero() {
					t.Errorf("%s/%s: lastResult %s, want %s:%s with a time", u, want.id, d.LastResult, want.outcome, want.reason)
				}
				wantStatus, wantSuffix := "active", suffix(want.token)
				switch want.setup {
				case "logout":
					wantStatus, wantSuffix = "logged_out", ""
				case "kick":
					wantStatus = "kicked"
				}
				if want.reason == "invalid_token" {
					wantStatus, wantSuffix = "invalid", ""
				}
				if d.Status != wantStatus || d.TokenSuffix != wantSuffix {
					t.Errorf("%s/%s: status %s, tokenSuffix %q; want %s, %q", u, want.id, d.Status, d.TokenSuffix, wantStatus, wantSuffix)
				}
				wantUnread := want.unread
				if want.outcome == "sent" {
					wantUnread++ // badgeMode 0 counts the message
				}
				if d.UnreadCount != wantUnread {
					t.Errorf("%s/%s (%s): unreadCount %d, want %d", u, want.id, want.outcome, d.UnreadCount, wantUnread)
				}
			}
		}
	})

	t.Run("the same msgRandom is a duplicate", func(t *testing.T) {
		before, beforeAPNs := s.mocks.targets(), s.mocks.apns.Requests()
		r := do(t, s.messagePush, request{method: "POST", path: "/v1/push", auth: adminAuth, body: body})
		var again pushResult
		decode(t, r, http.StatusOK, &again)
		if !again.Duplicate {
			t.Errorf("second push: duplicate false: %s", r.body)
		}
		again.Duplicate = false
		if a, b := jsonBody(again), jsonBody(first); string(a) != string(b) {
			t.Errorf("second push answered\n %s\nwant the first push's result\n %s", a, b)
		}
		if after := s.mocks.targets(); !reflectEqualTargets(before, after) || s.mocks.apns.Requests() != beforeAPNs {
			t.Errorf("the duplicate reached the vendors: targets before %v, after %v", before, after)
		}
		s.mocks.checkClean(t)
	})

	checkFunctionLogs(t, s.messagePush)
}

// TestPushSQS drives message-push with SQS events of bulk-job batches: a
// delivery, its redelivery, a busy vendor that recovers on the re-enqueued
// attempt, one that never does (dead-letter queue), and malformed bodies
// (dead-lettered at once).
func TestPushSQS(t *testing.T) {
	t.Parallel()
	s := newPushStack(t, 2)
	s.registerCertificates(t)
	ctx := context.Background()

	type jobDevice struct {
		user, id, vendor, prefix, token string
	}
	var batchDevices []*jobDevice
	add := func(user, id, vendor, prefix string) *jobDevice {
		d := &jobDevice{user: user, id: id, vendor: vendor, prefix: prefix, token: vendorToken(t, vendor, prefix)}
		platform := dev.Android
		if vendor == "apns" {
			platform = dev.IOS
		}
		if _, err := s.store.UpsertDevice(ctx, dev.Upload{UserID: user, DeviceID: id, CertificateID: vendorCertIDs[vendor],
			Token: d.token, Platform: platform, AppVersion: "2.3.0"}); err != nil {
			t.Fatalf("upload %s/%s: %v", user, id, err)
		}
		batchDevices = append(batchDevices, d)
		return d
	}
	// Job 1: one user per vendor, and r1 whose Meizu device is busy five
	// times: three sends in the first invocation, two more and a success
	// in the second.
	var job1Users []string
	for _, v := range pushVendors {
		u := "s-" + v
		add(u, u+"-1", v, "")
		job1Users = append(job1Users, u)
	}
	r1ios := add("r1", "r1-ios", "apns", "")
	r1mz := add("r1", "r1-mz", "meizu", "busy5-")
	job1Users = append(job1Users, "r1")
	// Job 2: d1, whose Meizu device stays busy past the last attempt.
	d1fcm := add("d1", "d1-fcm", "fcm", "")
	d1mz := add("d1", "d1-mz", "meizu", "busy99-")

	msg := push.Message{Type: push.Text, From: "admin", FromNickname: "Support", TTL: time.Hour,
		Info: push.OfflinePushInfo{Desc: "Campaign message", Ext: `{"conversationID":"c2c_admin"}`,
			AndroidInfo: push.AndroidInfo{HuaweiCategory: "IM", VivoCategory: "IM", VivoClassification: ptrInt(1)}}}
	job1, job2 := "job-"+hex.EncodeToString(randomBytes(t, 6)), "job-"+hex.EncodeToString(randomBytes(t, 6))
	for _, id := range []string{job1, job2} {
		m := msg
		m.ID = id
		// As the broadcast planner leaves a job of one batch.
		users := job1Users
		if id == job2 {
			users = []string{"d1"}
		}
		started := time.Now()
		j := store.Job{ID: id, Message: m, Status: store.JobSending, Planned: true, CreatedAt: started, StartedAt: &started,
			Counts: store.JobCounts{Users: int64(len(users)), Batches: 1}}
		if err := s.store.PutJob(ctx, j); err != nil {
			t.Fatalf("put job %s: %v", id, err)
		}
	}
	arn := queueARN(s.queueURL)
	rec1 := sqsRecord(arn, "m-job1", batchJSON(batch{JobID: job1, Users: job1Users, Attempt: 1}))
	rec2 := sqsRecord(arn, "m-job2", batchJSON(batch{JobID: job2, Users: []string{"d1"}, Attempt: 1}))
	first := sqsEventJSON(rec1, rec2)

	want := map[string]int{} // token → requests the mocks should have seen
	checkTargets := func(t *testing.T, when string) {
		t.Helper()
		got := map[string]int{}
		for _, m := range s.mocks.targets() {
			for tok, n := range m {
				got[tok] += n
			}
		}
		for _, d := range batchDevices {
			if got[d.token] != want[d.token] {
				t.Errorf("%s: %s/%s (%s %s…): %d requests at the mock, want %d", when, d.user, d.id, d.vendor, d.prefix, got[d.token], want[d.token])
			}
		}
		if sum(got) != sum(want) {
			t.Errorf("%s: the mocks saw %d targets, want %d: %v", when, sum(got), sum(want), got)
		}
		s.mocks.checkClean(t)
	}
	lastOutcome := func(t *testing.T, d *jobDevice) string {
		t.Helper()
		u, err := s.store.GetUser(ctx, d.user)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range u.Devices {
			if x.DeviceID == d.id && x.LastResult != nil {
				return x.LastResult.Outcome + ":" + x.LastResult.Reason
			}
		}
		return "none"
	}

	// The job's status and counters, as the worker keeps them.
	checkJob := func(t *testing.T, id string, status store.JobStatus, c store.JobCounts) {
		t.Helper()
		j, err := s.store.GetJob(ctx, id)
		if err != nil {
			t.Fatalf("get job %s: %v", id, err)
		}
		if j.Status != status || j.Counts != c || (status == store.JobCompleted) != (j.CompletedAt != nil) {
			t.Errorf("job %s: status %s, counts %+v, completedAt %v; want %s, %+v", id, j.Status, j.Counts, j.CompletedAt, status, c)
		}
	}

	t.Run("a batch is delivered once", func(t *testing.T) {
		resp := invokeSQS(t, s.messagePush, "two batches", first, true)
		if len(resp.BatchItemFailures) != 0 {
			t.Errorf("batchItemFailures %+v, want none", resp.BatchItemFailures)
		}
		for _, d := range batchDevices {
			switch d.prefix {
			case "":
				want[d.token] = 1
			default:
				want[d.token] = 3 // the in-invocation attempts
			}
		}
		checkTargets(t, "after the first delivery")
		if got := lastOutcome(t, r1mz); got != "failed:unavailable" {
			t.Errorf("r1-mz lastResult %s, want failed:unavailable", got)
		}
		if got := lastOutcome(t, r1ios); got != "sent:" {
			t.Errorf("r1-ios lastResult %s, want sent", got)
		}
		// A retryable failure is counted once no attempt follows.
		checkJob(t, job1, store.JobSending, store.JobCounts{Users: 9, Batches: 1, Devices: 10, Sent: 9})
		checkJob(t, job2, store.JobSending, store.JobCounts{Users: 1, Batches: 1, Devices: 2, Sent: 1})
	})

	t.Run("a redelivered batch sends nothing", func(t *testing.T) {
		resp := invokeSQS(t, s.messagePush, "the same two batches again", first, false)
		if len(resp.BatchItemFailures) != 0 {
			t.Errorf("batchItemFailures %+v, want none", resp.BatchItemFailures)
		}
		checkTargets(t, "after the redelivery")
		checkJob(t, job1, store.JobSending, store.JobCounts{Users: 9, Batches: 1, Devices: 10, Sent: 9})
		checkJob(t, job2, store.JobSending, store.JobCounts{Users: 1, Batches: 1, Devices: 2, Sent: 1})
	})

	t.Run("malformed bodies are dead-lettered at once", func(t *testing.T) {
		bodies := map[string]string{
			"m-not-json":    `{"jobId":`,
			"m-no-users":    string(batchJSON(batch{JobID: job1, Users: []string{}, Attempt: 1})),
			"m-unknown-job": string(batchJSON(batch{JobID: "job-nope", Users: []string{"s-fcm"}, Attempt: 1})),
		}
		ev := sqsEventJSON(
			sqsRecord(arn, "m-not-json", bodies["m-not-json"]),
			sqsRecord(arn, "m-no-users", bodies["m-no-users"]),
			sqsRecord(arn, "m-unknown-job", bodies["m-unknown-job"]),
			sqsRecord(arn, "m-redelivered", rec1.Body),
		)
		resp := invokeSQS(t, s.messagePush, "malformed batches", ev, true)
		if len(resp.BatchItemFailures) != 0 {
			t.Errorf("batchItemFailures %+v, want none: malformed messages go to the dead-letter queue, not back", resp.BatchItemFailures)
		}
		dead := receive(t, s.sqs, s.dlqURL, 3, 10*time.Second)
		got := map[string]string{}
		for _, m := range dead {
			got[aws.ToString(m.Body)] = aws.ToString(m.MessageAttributes["reason"].StringValue)
		}
		for id, body := range bodies {
			if r, ok := got[body]; !ok || !strings.Contains(r, "malformed batch message") {
				t.Errorf("%s: dead letter with reason %q (present %v), want its body as it came with a reason", id, r, ok)
			}
		}
		checkTargets(t, "after the malformed batches")
	})

	// The worker re-enqueued each batch's failing user with a delay (30 s,
	// WorkerConfig.RetryDelay's default; no variable sets it).
	var retries []sqstypes.Message
	t.Run("failing users are re-enqueued", func(t *testing.T) {
		retries = receive(t, s.sqs, s.queueURL, 2, 50*time.Second)
		bodies := map[string]batch{}
		for _, m := range retries {
			var b batch
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &b); err != nil {
				t.Fatalf("queue message %s: %v", aws.ToString(m.Body), err)
			}
			bodies[b.JobID] = b
		}
		for job, w := range map[string]batch{
			job1: {JobID: job1, Users: []string{"r1"}, Devices: []string{"r1/r1-mz"}, Attempt: 2},
			job2: {JobID: job2, Users: []string{"d1"}, Devices: []string{"d1/d1-mz"}, Attempt: 2},
		} {
			if got := bodies[job]; string(batchJSON(got)) != string(batchJSON(w)) {
				t.Errorf("retry of %s: %s, want %s", job, batchJSON(got), batchJSON(w))
			}
		}
		if len(retries) != 2 {
			t.FailNow()
		}
	})

	t.Run("the busy vendor recovers on the retry", func(t *testing.T) {
		m := retryOf(t, retries, job1)
		resp := invokeSQS(t, s.messagePush, "retry of job 1", sqsEventJSON(receivedRecord(arn, m)), true)
		if len(resp.BatchItemFailures) != 0 {
			t.Errorf("batchItemFailures %+v, want none", resp.BatchItemFailures)
		}
		want[r1mz.token] += 3 // two more busy answers, then the one success
		checkTargets(t, "after the retry")
		if got := lastOutcome(t, r1mz); got != "sent:" {
			t.Errorf("r1-mz lastResult %s, want sent", got)
		}
		if got := lastOutcome(t, r1ios); got != "sent:" {
			t.Errorf("r1-ios lastResult %s, want sent (delivered by the first attempt)", got)
		}
		checkJob(t, job1, store.JobCompleted, store.JobCounts{Users: 9, Batches: 1, BatchesDone: 1, Devices: 10, Sent: 10})
	})

	t.Run("past the last attempt the batch is dead-lettered", func(t *testing.T) {
		m := retryOf(t, retries, job2)
		resp := invokeSQS(t, s.messagePush, "retry of job 2", sqsEventJSON(receivedRecord(arn, m)), true)
		if len(resp.BatchItemFailures) != 0 {
			t.Errorf("batchItemFailures %+v, want none (the worker dead-letters it itself)", resp.BatchItemFailures)
		}
		want[d1mz.token] += 3
		checkTargets(t, "after the last attempt")
		dead := receive(t, s.sqs, s.dlqURL, 1, 10*time.Second)
		if len(dead) != 1 {
			t.FailNow()
		}
		var b batch
		json.Unmarshal([]byte(aws.ToString(dead[0].Body)), &b)
		if w := (batch{JobID: job2, Users: []string{"d1"}, Devices: []string{"d1/d1-mz"}, Attempt: 3}); string(batchJSON(b)) != string(batchJSON(w)) {
			t.Errorf("dead letter %s, want %s", aws.ToString(dead[0].Body), batchJSON(w))
		}
		if r := aws.ToString(dead[0].MessageAttributes["reason"].StringValue); !strings.Contains(r, "2 attempts") {
			t.Errorf("dead letter reason %q, want one naming the 2 attempts", r)
		}
		if got := lastOutcome(t, d1mz); got != "failed:unavailable" {
			t.Errorf("d1-mz lastResult %s, want failed:unavailable", got)
		}
		if got := lastOutcome(t, d1fcm); got != "sent:" {
			t.Errorf("d1-fcm lastResult %s, want sent", got)
		}
		checkJob(t, job2, store.JobCompleted, store.JobCounts{Users: 1, Batches: 1, BatchesDone: 1, Devices: 2, Sent: 1, Failed: 1})
		if more := receive(t, s.sqs, s.queueURL, 0, time.Second); len(more) != 0 {
			t.Errorf("the queue holds %d more messages after the dead letter: %v", len(more), more)
		}
	})

	checkFunctionLogs(t, s.messagePush)
}

// batch is delivery.Batch as it travels on the queue.
type batch struct {
	JobID   string   `json:"jobId"`
	Batch   int64    `json:"batch"`
	Users   []string `json:"users"`
	Devices []string `json:"devices,omitempty"`
	Attempt int      `json:"attempt"`
}

func batchJSON(b batch) string { return string(jsonBody(b)) }

func ptrInt(n int) *int { return &n }

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func reflectEqualTargets(a, b map[string]map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !maps.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func tokensOf(devices []*pushDevice) []string {
	out := make([]string, len(devices))
	for i, d := range devices {
		out[i] = d.token
	}
	return out
}

// describeTargets names the devices of targets, for failure messages.
func describeTargets(targets map[string]int, devices []*pushDevice) string {
	names := map[string]string{}
	for _, d := range devices {
		names[d.token] = d.id
	}
	var out []string
	for tok, n := range targets {
		name := names[tok]
		if name == "" {
			name = "unknown …" + suffix(tok)
		}
		out = append(out, fmt.Sprintf("%s×%d", name, n))
	}
	sort.Strings(out)
	return "[" + strings.Join(out, " ") + "]"
}

// queueARN is the ARN of the queue at url, as the event source mapping
// puts it in each record.
func queueARN(url string) string {
	return "arn:aws:sqs:us-east-1:000000000000:" + url[strings.LastIndexByte(url, '/')+1:]
}

// sqsRecord is a record of an SQS event as Lambda's event source mapping
// delivers it.
func sqsRecord(arn, id, body string) events.SQSMessage {
	now := fmt.Sprint(time.Now().UnixMilli())
	return events.SQSMessage{
		MessageId:     id,
		ReceiptHandle: "rh-" + id,
		Body:          body,
		Md5OfBody:     fmt.Sprintf("%x", md5.Sum([]byte(body))),
		Attributes: map[string]string{
			"ApproximateReceiveCount":          "1",
			"SentTimestamp":                    now,
			"SenderId":                         "AIDAIENQZJOLO23YVJ4VO",
			"ApproximateFirstReceiveTimestamp": now,
		},
		MessageAttributes: map[string]events.SQSMessageAttribute{},
		EventSourceARN:    arn,
		EventSource:       "aws:sqs",
		AWSRegion:         "us-east-1",
	}
}

// receivedRecord is the record of a message received from fauxqs.
func receivedRecord(arn string, m sqstypes.Message) events.SQSMessage {
	r := sqsRecord(arn, aws.ToString(m.MessageId), aws.ToString(m.Body))
	r.ReceiptHandle = aws.ToString(m.ReceiptHandle)
	maps.Copy(r.Attributes, m.Attributes)
	return r
}

func sqsEventJSON(records ...events.SQSMessage) []byte {
	return jsonBody(events.SQSEvent{Records: records})
}

// invokeSQS invokes fn with an SQS event and returns its partial batch
// response. It checks the invocation's log lines; logged says whether the
// invocation must have written one.
func invokeSQS(t *testing.T, fn *lambdart.Function, what string, event []byte, logged bool) events.SQSEventResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout+30*time.Second)
	defer cancel()
	inv := fn.Call(ctx, event)
	what = fn.Name() + " SQS " + what
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s: RequestId %s, event %s\nlogs:\n%s", what, inv.RequestID, event, inv.Logs)
		}
	})
	if inv.Err != nil {
		t.Fatalf("%s: the function failed: %v\nevent: %s\nlogs:\n%s", what, inv.Err, event, inv.Logs)
	}
	var resp events.SQSEventResponse
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(inv.Response, &raw); err != nil || raw["batchItemFailures"] == nil {
		t.Fatalf("%s: response %s is not a partial batch response (batchItemFailures)", what, inv.Response)
	}
	if err := json.Unmarshal(inv.Response, &resp); err != nil {
		t.Fatalf("%s: response %s: %v", what, inv.Response, err)
	}
	checkInvocationLines(t, what, inv, logged)
	return resp
}

// checkInvocationLines is checkLogs for invocations that may log nothing:
// every line is JSON with the invocation's request ID (init lines of a cold
// start aside) and holds no token or secret.
func checkInvocationLines(t *testing.T, what string, inv lambdart.Invocation, logged bool) {
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
			t.Errorf("%s: log line is not JSON: %q", what, line)
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
	if logged && !own {
		t.Errorf("%s: no log line carries the request ID %s; logs: %q", what, inv.RequestID, inv.Logs)
	}
}

// checkFunctionLogs checks everything fn wrote: JSON objects without
// repeated names (a second "requestId" makes the request ID ambiguous), no
// token or secret.
func checkFunctionLogs(t *testing.T, fn *lambdart.Function) {
	t.Helper()
	secrets := sensitiveValues()
	repeated := map[string]string{} // message and names → an example line
	for _, line := range strings.Split(fn.Logs(), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if !json.Valid([]byte(line)) {
			t.Errorf("%s wrote a log line that is not JSON: %q", fn.Name(), line)
			continue
		}
		if names := repeatedNames(line); len(names) > 0 {
			var rec struct {
				Message string `json:"message"`
			}
			json.Unmarshal([]byte(line), &rec)
			key := fmt.Sprintf("%q repeats %q", rec.Message, names)
			if _, seen := repeated[key]; !seen {
				repeated[key] = line
			}
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("%s logged a whole token or secret (…%s): %q", fn.Name(), s[len(s)-4:], line)
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(repeated)) {
		t.Errorf("%s: log line %s, such as %s", fn.Name(), key, repeated[key])
	}
}

// repeatedNames lists the names a JSON object line has more than once.
func repeatedNames(line string) []string {
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		name, _ := tok.(string)
		if seen[name] {
			out = append(out, name)
		}
		seen[name] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return out
		}
	}
	return out
}

// receive reads messages from the queue until it has n or wait has passed
// (n 0: whatever arrives within wait), deleting each as Lambda does once
// it has been handled.
func receive(t *testing.T, c *sqs.Client, url string, n int, wait time.Duration) []sqstypes.Message {
	t.Helper()
	var out []sqstypes.Message
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 || (n > 0 && len(out) >= n) {
			break
		}
		secs := min(int32(left/time.Second), 20)
		ctx, cancel := context.WithTimeout(context.Background(), left+5*time.Second)
		got, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: secs,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		cancel()
		if err != nil {
			t.Fatalf("receive from %s: %v", url, err)
		}
		for _, m := range got.Messages {
			out = append(out, m)
			if _, err := c.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete from %s: %v", url, err)
			}
		}
	}
	if n > 0 && len(out) != n {
		t.Errorf("received %d messages from %s within %s, want %d", len(out), url, wait, n)
	}
	return out
}

// retryOf finds the re-enqueued batch of job.
func retryOf(t *testing.T, msgs []sqstypes.Message, job string) sqstypes.Message {
	t.Helper()
	for _, m := range msgs {
		if strings.Contains(aws.ToString(m.Body), `"jobId":"`+job+`"`) {
			return m
		}
	}
	t.Fatalf("no re-enqueued batch of %s", job)
	return sqstypes.Message{}
}
