package cert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/offpush/offpush/shared/device"
)

const p12Password = "correct horse"

// fixtureSet holds keys, certificates and .p12 files generated once per test
// run, so no credential is committed.
type fixtureSet struct {
	p256, p384, rsaPKCS8, rsaPKCS1, ed25519, ecSEC1 string // PEM

	p12             string // base64, Modern encoder, password p12Password
	p12Legacy       string // base64, LegacyRC2 encoder, same password
	p12NoPassword   string // base64, LegacyDES encoder, empty password
	p12Expired      string // base64, leaf expired yesterday
	p12CAFirst      string // base64, CA certificate stored before the leaf
	p12Mismatch     string // base64, certificate not for the key
	leafNotAfter    time.Time
	chainLeafExpiry time.Time
	leafKey         *rsa.PrivateKey
}

var (
	fixturesOnce sync.Once
	fixturesVal  *fixtureSet
	fixturesErr  error
)

func fixtures(t *testing.T) *fixtureSet {
	t.Helper()
	fixturesOnce.Do(func() { fixturesVal, fixturesErr = makeFixtures() })
	if fixturesErr != nil {
		t.Fatalf("make fixtures: %v", fixturesErr)
	}
	return fixturesVal
}

func makeFixtures() (*fixtureSet, error) {
	f := &fixtureSet{}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	for _, k := range []struct {
		dst *string
		key any
	}{{&f.p256, p256}, {&f.p384, p384}, {&f.rsaPKCS8, rsaKey}, {&f.ed25519, edKey}} {
		der, err := x509.MarshalPKCS8PrivateKey(k.key)
		if err != nil {
			return nil, err
		}
		*k.dst = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	f.rsaPKCS1 = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	sec1, err := x509.MarshalECPrivateKey(p256)
	if err != nil {
		return nil, err
	}
	f.ecSEC1 = string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))

	// APNs certificates are RSA 2048; the key doubles as the FCM key above.
	f.leafKey = rsaKey
	now := time.Now()
	leaf, err := makeCert(rsaKey, "Apple Push Services: com.example.chat", now.Add(-time.Hour), now.Add(365*24*time.Hour), nil, nil)
	if err != nil {
		return nil, err
	}
	f.leafNotAfter = leaf.NotAfter
	expired, err := makeCert(rsaKey, "Apple Push Services: com.example.old", now.Add(-400*24*time.Hour), now.Add(-24*time.Hour), nil, nil)
	if err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ca, err := makeCert(caKey, "Test Worldwide Developer Relations CA", now.Add(-time.Hour), now.Add(10*365*24*time.Hour), nil, nil)
	if err != nil {
		return nil, err
	}
	chainLeaf, err := makeCert(rsaKey, "Apple Push Services: com.example.chain", now.Add(-time.Hour), now.Add(200*24*time.Hour), ca, caKey)
	if err != nil {
		return nil, err
	}
	f.chainLeafExpiry = chainLeaf.NotAfter

	for _, p := range []struct {
		dst      *string
		enc      *pkcs12.Encoder
		cert     *x509.Certificate
		ca       []*x509.Certificate
		password string
	}{
		{&f.p12, pkcs12.Modern, leaf, nil, p12Password},
		{&f.p12Legacy, pkcs12.LegacyRC2, leaf, nil, p12Password},
		{&f.p12NoPassword, pkcs12.LegacyDES, leaf, nil, ""},
		{&f.p12Expired, pkcs12.Modern, expired, nil, p12Password},
		// Encode stores its certificate argument first: pass the CA there.
		{&f.p12CAFirst, pkcs12.Modern, ca, []*x509.Certificate{chainLeaf}, p12Password},
		{&f.p12Mismatch, pkcs12.Modern, ca, nil, p12Password},
	} {
		der, err := p.enc.Encode(rsaKey, p.cert, p.ca, p.password)
		if err != nil {
			return nil, err
		}
		*p.dst = base64.StdEncoding.EncodeToString(der)
	}
	return f, nil
}

func makeCert(key crypto.Signer, cn string, notBefore, notAfter time.Time, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// serviceAccountJSON builds a service account key file from the defaults,
// changed by set and without the keys in drop.
func serviceAccountJSON(t *testing.T, set map[string]any, drop ...string) string {
	t.Helper()
	m := map[string]any{
		"type":                        "service_account",
		"project_id":                  "example-chat",
		"private_key_id":              "0123456789abcdef",
		"private_key":                 fixtures(t).rsaPKCS8,
		"client_email":                "push@example-chat.iam.gserviceaccount.com",
		"client_id":                   "112233445566778899",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   "https://oauth2.googleapis.com/token",
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
	}
	for k, v := range set {
		m[k] = v
	}
	for _, k := range drop {
		delete(m, k)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// validCert returns a certificate for v that passes Validate.
func validCert(t *testing.T, v device.Vendor) Certificate {
	t.Helper()
	f := fixtures(t)
	c := Certificate{Vendor: v, Name: "prod " + string(v)}
	switch v {
	case device.APNs:
		c.APNs = &APNs{Environment: Production, BundleID: "com.example.chat", TeamID: "ABCDE12345", KeyID: "KEY1234567", PrivateKey: f.p256}
	case device.FCM:
		c.FCM = &FCM{ServiceAccountJSON: serviceAccountJSON(t, nil)}
	case device.Huawei:
		c.Huawei = &Huawei{AppID: "104512345", AppSecret: "hw0123456789abcdef0123456789abcdef"}
	case device.Honor:
		c.Honor = &Honor{AppID: "104400001", ClientID: "honor-client-1", ClientSecret: "honor-client-secret"}
	case device.Xiaomi:
		c.Xiaomi = &Xiaomi{AppSecret: "mi+Secret/Zx9Q==", PackageName: "com.example.chat"}
	case device.OPPO:
		c.OPPO = &OPPO{AppKey: "oppoappkey", MasterSecret: "oppomastersecret"}
		c.DefaultChannelID = "messages"
	case device.Vivo:
		c.Vivo = &Vivo{AppID: "10501", AppKey: "vivoappkey", AppSecret: "vivoappsecret"}
	case device.Meizu:
		c.Meizu = &Meizu{AppID: "110001", AppSecret: "meizuappsecret"}
	}
	return c
}

// apnsP12 switches an APNs certificate to certificate auth.
func apnsP12(p12, password string) func(*Certificate) {
	return func(c *Certificate) {
		c.APNs.TeamID, c.APNs.KeyID, c.APNs.PrivateKey = "", "", ""
		c.APNs.P12, c.APNs.Password = p12, password
	}
}

func TestValidate(t *testing.T) {
	f := fixtures(t)
	long := func(n int) string { return strings.Repeat("a", n) }
	sa := func(set map[string]any, drop ...string) func(*Certificate) {
		s := serviceAccountJSON(t, set, drop...)
		return func(c *Certificate) { c.FCM.ServiceAccountJSON = s }
	}
	tests := []struct {
		name   string
		vendor device.Vendor
		change func(*Certificate)
		field  string // "" when valid
	}{
		{"apns token", device.APNs, nil, ""},
		{"id given", device.APNs, func(c *Certificate) { c.ID = 10001 }, ""},
		{"id max", device.APNs, func(c *Certificate) { c.ID = device.MaxCertificateID }, ""},
		{"id negative", device.APNs, func(c *Certificate) { c.ID = -1 }, "id"},
		{"id too large", device.APNs, func(c *Certificate) { c.ID = device.MaxCertificateID + 1 }, "id"},

		{"vendor empty", device.APNs, func(c *Certificate) { c.Vendor = "" }, "vendor"},
		{"vendor unknown", device.APNs, func(c *Certificate) { c.Vendor = "getui" }, "vendor"},

		{"name empty", device.APNs, func(c *Certificate) { c.Name = "" }, "name"},
		{"name 64 bytes", device.APNs, func(c *Certificate) { c.Name = long(MaxNameLen) }, ""},
		{"name too long", device.APNs, func(c *Certificate) { c.Name = long(MaxNameLen + 1) }, "name"},
		{"name utf-8", device.APNs, func(c *Certificate) { c.Name = "生产环境 iOS" }, ""},
		{"name control", device.APNs, func(c *Certificate) { c.Name = "ios\nprod" }, "name"},
		{"name invalid utf-8", device.APNs, func(c *Certificate) { c.Name = "ios\xff" }, "name"},

		{"vendor object missing", device.APNs, func(c *Certificate) { c.APNs = nil }, "apns"},
		{"other vendor object", device.APNs, func(c *Certificate) { c.FCM = &FCM{} }, "fcm"},
		{"apns object on fcm", device.FCM, func(c *Certificate) { c.APNs = &APNs{} }, "apns"},
		{"meizu object on huawei", device.Huawei, func(c *Certificate) { c.Meizu = &Meizu{} }, "meizu"},
		{"huawei object missing", device.Huawei, func(c *Certificate) { c.Huawei = nil }, "huawei"},

		{"apns sandbox", device.APNs, func(c *Certificate) { c.APNs.Environment = Sandbox }, ""},
		{"apns environment empty", device.APNs, func(c *Certificate) { c.APNs.Environment = "" }, "apns.environment"},
		{"apns environment development", device.APNs, func(c *Certificate) { c.APNs.Environment = "development" }, "apns.environment"},
		{"apns bundleId empty", device.APNs, func(c *Certificate) { c.APNs.BundleID = "" }, "apns.bundleId"},
		{"apns bundleId one label", device.APNs, func(c *Certificate) { c.APNs.BundleID = "chat" }, "apns.bundleId"},
		{"apns bundleId empty label", device.APNs, func(c *Certificate) { c.APNs.BundleID = "com..chat" }, "apns.bundleId"},
		{"apns bundleId leading dot", device.APNs, func(c *Certificate) { c.APNs.BundleID = ".com.chat" }, "apns.bundleId"},
		{"apns bundleId bad char", device.APNs, func(c *Certificate) { c.APNs.BundleID = "com.example.chat_app" }, "apns.bundleId"},
		{"apns bundleId hyphen", device.APNs, func(c *Certificate) { c.APNs.BundleID = "com.example-co.Chat2" }, ""},
		{"apns bundleId too long", device.APNs, func(c *Certificate) { c.APNs.BundleID = "com." + long(MaxBundleIDLen-3) }, "apns.bundleId"},
		{"apns bundleId longest", device.APNs, func(c *Certificate) { c.APNs.BundleID = "com." + long(MaxBundleIDLen-4) }, ""},

		{"apns token and p12", device.APNs, func(c *Certificate) { c.APNs.P12 = f.p12 }, "apns"},
		{"apns token and password", device.APNs, func(c *Certificate) { c.APNs.Password = "x" }, "apns"},
		{"apns no credential", device.APNs, apnsP12("", ""), "apns"},
		{"apns teamId missing", device.APNs, func(c *Certificate) { c.APNs.TeamID = "" }, "apns.teamId"},
		{"apns teamId short", device.APNs, func(c *Certificate) { c.APNs.TeamID = "ABCDE1234" }, "apns.teamId"},
		{"apns teamId punctuation", device.APNs, func(c *Certificate) { c.APNs.TeamID = "ABCDE-1234" }, "apns.teamId"},
		{"apns keyId missing", device.APNs, func(c *Certificate) { c.APNs.KeyID = "" }, "apns.keyId"},
		{"apns keyId long", device.APNs, func(c *Certificate) { c.APNs.KeyID = "KEY12345678" }, "apns.keyId"},
		{"apns privateKey missing", device.APNs, func(c *Certificate) { c.APNs.PrivateKey = "" }, "apns.privateKey"},
		{"apns privateKey not PEM", device.APNs, func(c *Certificate) { c.APNs.PrivateKey = "MIGTAgEAMBMGByqGSM49" }, "apns.privateKey"},
		{"apns privateKey SEC1", device.APNs, func(c *Certificate) { c.APNs.PrivateKey = f.ecSEC1 }, "apns.privateKey"},
		{"apns privateKey garbage", device.APNs, func(c *Certificate) {
			c.APNs.PrivateKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage")}))
		}, "apns.privateKey"},
		{"apns privateKey P-384", device.APNs, func(c *Certificate) { c.APNs.PrivateKey = f.p384 }, "apns.privateKey"},
		{"apns privateKey RSA", device.APNs, func(c *Certificate) { c.APNs.PrivateKey = f.rsaPKCS8 }, "apns.privateKey"},
		{"apns privateKey Ed25519", device.APNs, func(c *Certificate) { c.APNs.PrivateKey = f.ed25519 }, "apns.privateKey"},
		{"apns privateKey too long", device.APNs, func(c *Certificate) { c.APNs.PrivateKey = f.p256 + long(maxPrivateKeyLen) }, "apns.privateKey"},
		{"apns privateKey surrounding space", device.APNs, func(c *Certificate) { c.APNs.PrivateKey = "\n  " + f.p256 + "\n" }, ""},

		{"apns p12 modern", device.APNs, apnsP12(f.p12, p12Password), ""},
		{"apns p12 legacy RC2", device.APNs, apnsP12(f.p12Legacy, p12Password), ""},
		{"apns p12 no password", device.APNs, apnsP12(f.p12NoPassword, ""), ""},
		{"apns p12 wrapped base64", device.APNs, apnsP12(wrap(f.p12, 64), p12Password), ""},
		{"apns p12 unpadded base64", device.APNs, apnsP12(strings.TrimRight(f.p12, "="), p12Password), ""},
		{"apns p12 CA first", device.APNs, apnsP12(f.p12CAFirst, p12Password), ""},
		{"apns p12 wrong password", device.APNs, apnsP12(f.p12, "wrong"), "apns.password"},
		{"apns p12 missing password", device.APNs, apnsP12(f.p12, ""), "apns.password"},
		{"apns p12 legacy wrong password", device.APNs, apnsP12(f.p12Legacy, "wrong"), "apns.password"},
		{"apns p12 expired", device.APNs, apnsP12(f.p12Expired, p12Password), "apns.p12"},
		{"apns p12 no certificate for key", device.APNs, apnsP12(f.p12Mismatch, p12Password), "apns.p12"},
		{"apns p12 not base64", device.APNs, apnsP12("!!not base64!!", p12Password), "apns.p12"},
		{"apns p12 PEM", device.APNs, apnsP12(f.rsaPKCS8, p12Password), "apns.p12"},
		{"apns p12 not PKCS#12", device.APNs, apnsP12(base64.StdEncoding.EncodeToString([]byte("hello")), p12Password), "apns.p12"},
		{"apns p12 too long", device.APNs, apnsP12(long(maxP12Len+1), p12Password), "apns.p12"},
		{"apns password without p12", device.APNs, apnsP12("", p12Password), "apns.p12"},

		{"fcm", device.FCM, nil, ""},
		{"fcm no type", device.FCM, sa(nil, "type"), ""},
		{"fcm PKCS#1 key", device.FCM, sa(map[string]any{"private_key": f.rsaPKCS1}), ""},
		{"fcm http token_uri", device.FCM, sa(map[string]any{"token_uri": "http://127.0.0.1:9443/token"}), ""},
		{"fcm domain-scoped project", device.FCM, sa(map[string]any{"project_id": "example.com:chat-prod"}), ""},
		{"fcm empty", device.FCM, func(c *Certificate) { c.FCM.ServiceAccountJSON = "" }, "fcm.serviceAccountJson"},
		{"fcm not JSON", device.FCM, func(c *Certificate) { c.FCM.ServiceAccountJSON = "project_id=x" }, "fcm.serviceAccountJson"},
		{"fcm array", device.FCM, func(c *Certificate) { c.FCM.ServiceAccountJSON = "[]" }, "fcm.serviceAccountJson"},
		{"fcm null", device.FCM, func(c *Certificate) { c.FCM.ServiceAccountJSON = "null" }, "fcm.serviceAccountJson"},
		{"fcm too long", device.FCM, func(c *Certificate) { c.FCM.ServiceAccountJSON = `{"x":"` + long(maxServiceAccountLen) + `"}` }, "fcm.serviceAccountJson"},
		{"fcm user credentials", device.FCM, sa(map[string]any{"type": "authorized_user"}), "fcm.serviceAccountJson"},
		{"fcm type not string", device.FCM, sa(map[string]any{"type": 1}), "fcm.serviceAccountJson"},
		{"fcm project_id missing", device.FCM, sa(nil, "project_id"), "fcm.serviceAccountJson"},
		{"fcm project_id number", device.FCM, sa(map[string]any{"project_id": 123}), "fcm.serviceAccountJson"},
		{"fcm project_id slash", device.FCM, sa(map[string]any{"project_id": "chat/../x"}), "fcm.serviceAccountJson"},
		{"fcm client_email missing", device.FCM, sa(nil, "client_email"), "fcm.serviceAccountJson"},
		{"fcm client_email no at", device.FCM, sa(map[string]any{"client_email": "push"}), "fcm.serviceAccountJson"},
		{"fcm private_key missing", device.FCM, sa(nil, "private_key"), "fcm.serviceAccountJson"},
		{"fcm private_key not PEM", device.FCM, sa(map[string]any{"private_key": "MIIEvQIBADANBg"}), "fcm.serviceAccountJson"},
		{"fcm private_key EC", device.FCM, sa(map[string]any{"private_key": f.p256}), "fcm.serviceAccountJson"},
		{"fcm private_key SEC1", device.FCM, sa(map[string]any{"private_key": f.ecSEC1}), "fcm.serviceAccountJson"},
		{"fcm token_uri missing", device.FCM, sa(nil, "token_uri"), "fcm.serviceAccountJson"},
		{"fcm token_uri relative", device.FCM, sa(map[string]any{"token_uri": "/token"}), "fcm.serviceAccountJson"},
		{"fcm token_uri ftp", device.FCM, sa(map[string]any{"token_uri": "ftp://oauth2.googleapis.com/token"}), "fcm.serviceAccountJson"},

		{"huawei", device.Huawei, nil, ""},
		{"huawei appId not numeric", device.Huawei, func(c *Certificate) { c.Huawei.AppID = "hw-app" }, ""},
		{"huawei appId empty", device.Huawei, func(c *Certificate) { c.Huawei.AppID = "" }, "huawei.appId"},
		{"huawei appSecret empty", device.Huawei, func(c *Certificate) { c.Huawei.AppSecret = "" }, "huawei.appSecret"},
		{"huawei appSecret trailing newline", device.Huawei, func(c *Certificate) { c.Huawei.AppSecret += "\n" }, "huawei.appSecret"},
		{"huawei appSecret longest", device.Huawei, func(c *Certificate) { c.Huawei.AppSecret = long(MaxCredentialLen) }, ""},
		{"huawei appSecret too long", device.Huawei, func(c *Certificate) { c.Huawei.AppSecret = long(MaxCredentialLen + 1) }, "huawei.appSecret"},

		{"honor", device.Honor, nil, ""},
		{"honor appId empty", device.Honor, func(c *Certificate) { c.Honor.AppID = "" }, "honor.appId"},
		{"honor clientId space", device.Honor, func(c *Certificate) { c.Honor.ClientID = "client 1" }, "honor.clientId"},
		{"honor clientSecret empty", device.Honor, func(c *Certificate) { c.Honor.ClientSecret = "" }, "honor.clientSecret"},

		{"xiaomi", device.Xiaomi, nil, ""},
		{"xiaomi global", device.Xiaomi, func(c *Certificate) { c.Xiaomi.Region = RegionGlobal }, ""},
		{"xiaomi region unknown", device.Xiaomi, func(c *Certificate) { c.Xiaomi.Region = "europe" }, "xiaomi.region"},
		{"xiaomi appSecret non-ASCII", device.Xiaomi, func(c *Certificate) { c.Xiaomi.AppSecret = "密钥" }, "xiaomi.appSecret"},
		{"xiaomi packageName empty", device.Xiaomi, func(c *Certificate) { c.Xiaomi.PackageName = "" }, "xiaomi.packageName"},
		{"xiaomi packageName tab", device.Xiaomi, func(c *Certificate) { c.Xiaomi.PackageName = "com.example\tchat" }, "xiaomi.packageName"},

		{"oppo", device.OPPO, nil, ""},
		{"oppo appKey empty", device.OPPO, func(c *Certificate) { c.OPPO.AppKey = "" }, "oppo.appKey"},
		{"oppo masterSecret control", device.OPPO, func(c *Certificate) { c.OPPO.MasterSecret = "abc\x00" }, "oppo.masterSecret"},
		{"oppo without channel", device.OPPO, func(c *Certificate) { c.DefaultChannelID = "" }, "defaultChannelId"},

		{"vivo", device.Vivo, nil, ""},
		{"vivo appId not numeric", device.Vivo, func(c *Certificate) { c.Vivo.AppID = "10501a" }, "vivo.appId"},
		{"vivo appId empty", device.Vivo, func(c *Certificate) { c.Vivo.AppID = "" }, "vivo.appId"},
		{"vivo appKey empty", device.Vivo, func(c *Certificate) { c.Vivo.AppKey = "" }, "vivo.appKey"},
		{"vivo appSecret leading space", device.Vivo, func(c *Certificate) { c.Vivo.AppSecret = " vivoappsecret" }, "vivo.appSecret"},

		{"meizu", device.Meizu, nil, ""},
		{"meizu appId not numeric", device.Meizu, func(c *Certificate) { c.Meizu.AppID = "mz-app" }, ""},
		{"meizu appId empty", device.Meizu, func(c *Certificate) { c.Meizu.AppID = "" }, "meizu.appId"},
		{"meizu appSecret empty", device.Meizu, func(c *Certificate) { c.Meizu.AppSecret = "" }, "meizu.appSecret"},

		{"click openApp", device.Huawei, func(c *Certificate) { c.ClickAction.Type = ClickOpenApp }, ""},
		{"click type unknown", device.Huawei, func(c *Certificate) { c.ClickAction.Type = "openWeb" }, "clickAction.type"},
		{"click openUrl", device.Huawei, func(c *Certificate) {
			c.ClickAction = ClickAction{Type: ClickOpenURL, URL: "https://example.com/chat?id=1"}
		}, ""},
		{"click openUrl http", device.Huawei, func(c *Certificate) { c.ClickAction = ClickAction{Type: ClickOpenURL, URL: "http://example.com/"} }, ""},
		{"click openUrl missing url", device.Huawei, func(c *Certificate) { c.ClickAction = ClickAction{Type: ClickOpenURL} }, "clickAction.url"},
		{"click openUrl relative", device.Huawei, func(c *Certificate) { c.ClickAction = ClickAction{Type: ClickOpenURL, URL: "/chat"} }, "clickAction.url"},
		{"click openUrl no host", device.Huawei, func(c *Certificate) { c.ClickAction = ClickAction{Type: ClickOpenURL, URL: "https:///chat"} }, "clickAction.url"},
		{"click openUrl scheme", device.Huawei, func(c *Certificate) { c.ClickAction = ClickAction{Type: ClickOpenURL, URL: "javascript:alert(1)"} }, "clickAction.url"},
		{"click openUrl space", device.Huawei, func(c *Certificate) { c.ClickAction = ClickAction{Type: ClickOpenURL, URL: "https://example.com/a b"} }, "clickAction.url"},
		{"click openUrl too long", device.Huawei, func(c *Certificate) {
			c.ClickAction = ClickAction{Type: ClickOpenURL, URL: "https://example.com/" + long(MaxClickTargetLen)}
		}, "clickAction.url"},
		{"click openUrl with intent", device.Huawei, func(c *Certificate) {
			c.ClickAction = ClickAction{Type: ClickOpenURL, URL: "https://example.com/", Intent: "intent://x#Intent;end"}
		}, "clickAction.intent"},
		{"click openApp with url", device.Huawei, func(c *Certificate) { c.ClickAction.URL = "https://example.com/" }, "clickAction.url"},
		{"click openApp with intent", device.Huawei, func(c *Certificate) { c.ClickAction.Intent = "intent://x#Intent;end" }, "clickAction.intent"},
		{"click openApp with activity", device.Huawei, func(c *Certificate) { c.ClickAction.Activity = "com.example.chat.Main" }, "clickAction.activity"},
		{"click openPage intent", device.Huawei, func(c *Certificate) {
			c.ClickAction = ClickAction{Type: ClickOpenPage, Intent: "intent://com.example.chat/chat?#Intent;scheme=chat;launchFlags=0x4000000;end"}
		}, ""},
		{"click openPage activity", device.Meizu, func(c *Certificate) {
			c.ClickAction = ClickAction{Type: ClickOpenPage, Activity: "com.example.chat.ChatActivity"}
		}, ""},
		{"click openPage both", device.OPPO, func(c *Certificate) {
			c.ClickAction = ClickAction{Type: ClickOpenPage, Intent: "chat://open", Activity: "com.example.chat.ChatActivity"}
		}, ""},
		{"click openPage neither", device.Huawei, func(c *Certificate) { c.ClickAction = ClickAction{Type: ClickOpenPage} }, "clickAction.intent"},
		{"click openPage with url", device.Huawei, func(c *Certificate) {
			c.ClickAction = ClickAction{Type: ClickOpenPage, Intent: "chat://open", URL: "https://example.com/"}
		}, "clickAction.url"},
		{"click openPage intent control", device.Huawei, func(c *Certificate) {
			c.ClickAction = ClickAction{Type: ClickOpenPage, Intent: "chat://open\n"}
		}, "clickAction.intent"},
		{"click openPage intent too long", device.Huawei, func(c *Certificate) {
			c.ClickAction = ClickAction{Type: ClickOpenPage, Intent: long(MaxClickTargetLen + 1)}
		}, "clickAction.intent"},
		{"click openPage activity unqualified", device.Meizu, func(c *Certificate) {
			c.ClickAction = ClickAction{Type: ClickOpenPage, Activity: "ChatActivity"}
		}, "clickAction.activity"},
		{"click openPage activity digit", device.Meizu, func(c *Certificate) {
			c.ClickAction = ClickAction{Type: ClickOpenPage, Activity: "com.example.1Chat"}
		}, "clickAction.activity"},

		{"badgeClass", device.Honor, func(c *Certificate) { c.BadgeClass = "com.example.chat.MainActivity" }, ""},
		{"badgeClass inner", device.Honor, func(c *Certificate) { c.BadgeClass = "com.example_co.Main$Launcher" }, ""},
		{"badgeClass unqualified", device.Honor, func(c *Certificate) { c.BadgeClass = "MainActivity" }, "badgeClass"},
		{"badgeClass space", device.Honor, func(c *Certificate) { c.BadgeClass = "com.example.Main Activity" }, "badgeClass"},
		{"badgeClass trailing dot", device.Honor, func(c *Certificate) { c.BadgeClass = "com.example." }, "badgeClass"},
		{"badgeClass too long", device.Honor, func(c *Certificate) { c.BadgeClass = "com." + long(MaxBadgeClassLen) }, "badgeClass"},

		{"channel", device.Xiaomi, func(c *Certificate) { c.DefaultChannelID = "im_消息" }, ""},
		{"channel too long", device.Xiaomi, func(c *Certificate) { c.DefaultChannelID = long(MaxChannelIDLen + 1) }, "defaultChannelId"},
		{"channel control", device.Xiaomi, func(c *Certificate) { c.DefaultChannelID = "im\x7f" }, "defaultChannelId"},
		{"oppo channel too long", device.OPPO, func(c *Certificate) { c.DefaultChannelID = long(MaxChannelIDLen + 1) }, "defaultChannelId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validCert(t, tt.vendor)
			if tt.change != nil {
				tt.change(&c)
			}
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *device.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *device.FieldError for %s", err, tt.field)
			}
			if fe.Field != tt.field || fe.Message == "" {
				t.Fatalf("Validate() = %q, want field %s", err, tt.field)
			}
		})
	}
}

func wrap(s string, width int) string {
	var b strings.Builder
	for len(s) > width {
		b.WriteString(s[:width] + "\r\n")
		s = s[width:]
	}
	b.WriteString(s)
	return b.String()
}

func TestValidateMessages(t *testing.T) {
	f := fixtures(t)
	tests := []struct {
		name   string
		vendor device.Vendor
		change func(*Certificate)
		want   string
	}{
		{"other vendor object", device.APNs, func(c *Certificate) { c.FCM = &FCM{} }, "fcm: must not be set for vendor apns"},
		{"P-384", device.APNs, func(c *Certificate) { c.APNs.PrivateKey = f.p384 }, "P-256"},
		{"RSA", device.APNs, func(c *Certificate) { c.APNs.PrivateKey = f.rsaPKCS8 }, "not RSA"},
		{"expired", device.APNs, apnsP12(f.p12Expired, p12Password), "expired on " + time.Now().Add(-24*time.Hour).UTC().Format(time.DateOnly)},
		{"oppo channel", device.OPPO, func(c *Certificate) { c.DefaultChannelID = "" }, "Android 8"},
		{"fcm field named", device.FCM, func(c *Certificate) { c.FCM.ServiceAccountJSON = serviceAccountJSON(t, nil, "client_email") }, "client_email is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validCert(t, tt.vendor)
			tt.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestValidateFillsDerivedFields(t *testing.T) {
	f := fixtures(t)

	t.Run("p12 expiry", func(t *testing.T) {
		for _, tt := range []struct {
			name, p12, password string
			want                time.Time
		}{
			{"modern", f.p12, p12Password, f.leafNotAfter},
			{"legacy", f.p12Legacy, p12Password, f.leafNotAfter},
			{"no password", f.p12NoPassword, "", f.leafNotAfter},
			{"leaf after CA", f.p12CAFirst, p12Password, f.chainLeafExpiry},
		} {
			t.Run(tt.name, func(t *testing.T) {
				c := validCert(t, device.APNs)
				apnsP12(tt.p12, tt.password)(&c)
				if err := c.Validate(); err != nil {
					t.Fatal(err)
				}
				got := c.APNs.CertificateExpiresAt
				if got == nil || !got.Equal(tt.want) || got.Location() != time.UTC {
					t.Fatalf("CertificateExpiresAt = %v, want %v UTC", got, tt.want)
				}
			})
		}
	})

	t.Run("token auth clears expiry", func(t *testing.T) {
		c := validCert(t, device.APNs)
		stale := time.Now()
		c.APNs.CertificateExpiresAt = &stale
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.APNs.CertificateExpiresAt != nil {
			t.Fatalf("CertificateExpiresAt = %v, want nil", c.APNs.CertificateExpiresAt)
		}
	})

	t.Run("fcm project and email", func(t *testing.T) {
		c := validCert(t, device.FCM)
		c.FCM.ProjectID, c.FCM.ClientEmail = "sent-by-client", "sent@by.client"
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.FCM.ProjectID != "example-chat" || c.FCM.ClientEmail != "push@example-chat.iam.gserviceaccount.com" {
			t.Fatalf("ProjectID, ClientEmail = %q, %q", c.FCM.ProjectID, c.FCM.ClientEmail)
		}
	})

	t.Run("defaults", func(t *testing.T) {
		c := validCert(t, device.Xiaomi)
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.Xiaomi.Region != RegionChina {
			t.Errorf("Region = %q, want %q", c.Xiaomi.Region, RegionChina)
		}
		if c.ClickAction.Type != ClickOpenApp {
			t.Errorf("ClickAction.Type = %q, want %q", c.ClickAction.Type, ClickOpenApp)
		}
	})
}

func TestAPNsHelpers(t *testing.T) {
	f := fixtures(t)

	c := validCert(t, device.APNs)
	if !c.APNs.TokenAuth() || !c.Redacted().APNs.TokenAuth() {
		t.Error("TokenAuth() = false for a .p8 credential or its redacted copy")
	}
	key, err := c.APNs.SigningKey()
	if err != nil || key.Curve != elliptic.P256() {
		t.Errorf("SigningKey() = %v, %v", key, err)
	}

	apnsP12(f.p12CAFirst, p12Password)(&c)
	if c.APNs.TokenAuth() || c.Redacted().APNs.TokenAuth() {
		t.Error("TokenAuth() = true for a .p12 credential or its redacted copy")
	}
	tc, err := c.APNs.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if !tc.Leaf.NotAfter.Equal(f.chainLeafExpiry) || len(tc.Certificate) != 2 || !bytes.Equal(tc.Certificate[0], tc.Leaf.Raw) {
		t.Errorf("TLSCertificate() leaf expires %v with %d certificates, want the leaf first", tc.Leaf.NotAfter, len(tc.Certificate))
	}
	if !f.leafKey.Equal(tc.PrivateKey) {
		t.Error("TLSCertificate() returned another private key")
	}

	c.APNs.Password = "wrong"
	if _, err := c.APNs.TLSCertificate(); err == nil {
		t.Error("TLSCertificate() with a wrong password succeeded")
	}
}

// secretsOf lists every secret value set in c.
func secretsOf(c Certificate) []string {
	var s []string
	add := func(v ...string) {
		for _, x := range v {
			if x != "" {
				s = append(s, x)
			}
		}
	}
	if c.APNs != nil {
		add(c.APNs.PrivateKey, c.APNs.P12, c.APNs.Password)
	}
	if c.FCM != nil {
		add(c.FCM.ServiceAccountJSON)
	}
	if c.Huawei != nil {
		add(c.Huawei.AppSecret)
	}
	if c.Honor != nil {
		add(c.Honor.ClientSecret)
	}
	if c.Xiaomi != nil {
		add(c.Xiaomi.AppSecret)
	}
	if c.OPPO != nil {
		add(c.OPPO.MasterSecret)
	}
	if c.Vivo != nil {
		add(c.Vivo.AppSecret)
	}
	if c.Meizu != nil {
		add(c.Meizu.AppSecret)
	}
	return s
}

// needles returns the strings whose presence in JSON output would leak
// secret: the value as JSON encodes it, and each longer line of a PEM or
// JSON secret, which JSON escaping would otherwise hide.
func needles(t *testing.T, secret string) []string {
	t.Helper()
	enc, err := json.Marshal(secret)
	if err != nil {
		t.Fatal(err)
	}
	n := []string{string(enc[1 : len(enc)-1])}
	for _, line := range strings.Split(secret, "\n") {
		line = strings.TrimSpace(line)
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			n = append(n, line)
		}
	}
	// The PEM key inside the service account file, as it appears there.
	if strings.HasPrefix(secret, "{") {
		var m map[string]any
		if json.Unmarshal([]byte(secret), &m) == nil {
			if pk, ok := m["private_key"].(string); ok {
				n = append(n, needles(t, pk)...)
			}
		}
	}
	return n
}

func TestRedacted(t *testing.T) {
	f := fixtures(t)
	p12 := validCert(t, device.APNs)
	apnsP12(f.p12, p12Password)(&p12)
	certs := []Certificate{p12}
	for _, v := range device.Vendors {
		certs = append(certs, validCert(t, v))
	}
	for _, c := range certs {
		name := string(c.Vendor)
		if c.APNs != nil && c.APNs.P12 != "" {
			name += " p12"
		}
		t.Run(name, func(t *testing.T) {
			c.ID = 10001
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			secrets := secretsOf(c)
			if len(secrets) == 0 {
				t.Fatal("fixture has no secrets")
			}
			before, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}

			r := c.Redacted()
			out, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range secrets {
				for _, n := range needles(t, s) {
					if bytes.Contains(out, []byte(n)) {
						t.Errorf("redacted JSON contains secret %.20q…: %s", n, out)
					}
				}
			}
			if left := secretsOf(r); len(left) != 0 {
				t.Errorf("Redacted() kept %d secrets", len(left))
			}

			after, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) || len(secretsOf(c)) != len(secrets) {
				t.Errorf("Redacted() changed the original:\nbefore %s\nafter  %s", before, after)
			}

			var m map[string]any
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatal(err)
			}
			if m["id"] != float64(10001) || m["name"] != c.Name || m["vendor"] != string(c.Vendor) {
				t.Errorf("redacted JSON lost id, name or vendor: %s", out)
			}
			obj, _ := m[string(c.Vendor)].(map[string]any)
			if obj == nil {
				t.Fatalf("redacted JSON has no %s object: %s", c.Vendor, out)
			}
			switch {
			case c.APNs != nil:
				if r.APNs == c.APNs {
					t.Error("Redacted() shares the APNs struct")
				}
				if c.APNs.P12 != "" {
					if obj["certificateExpiresAt"] == nil {
						t.Errorf("redacted JSON lost certificateExpiresAt: %s", out)
					}
					if r.APNs.CertificateExpiresAt == c.APNs.CertificateExpiresAt {
						t.Error("Redacted() shares CertificateExpiresAt")
					}
				} else if obj["teamId"] != "ABCDE12345" || obj["keyId"] != "KEY1234567" {
					t.Errorf("redacted JSON lost teamId or keyId: %s", out)
				}
			case c.FCM != nil:
				if obj["projectId"] != "example-chat" || obj["clientEmail"] == nil {
					t.Errorf("redacted JSON lost projectId or clientEmail: %s", out)
				}
			case c.Huawei != nil:
				if obj["appId"] != c.Huawei.AppID || r.Huawei == c.Huawei {
					t.Errorf("redacted Huawei lost appId or shares the struct: %s", out)
				}
			case c.Honor != nil:
				if obj["clientId"] != c.Honor.ClientID || r.Honor == c.Honor {
					t.Errorf("redacted Honor lost clientId or shares the struct: %s", out)
				}
			case c.Xiaomi != nil:
				if obj["packageName"] != c.Xiaomi.PackageName || r.Xiaomi == c.Xiaomi {
					t.Errorf("redacted Xiaomi lost packageName or shares the struct: %s", out)
				}
			case c.OPPO != nil:
				if obj["appKey"] != c.OPPO.AppKey || r.OPPO == c.OPPO {
					t.Errorf("redacted OPPO lost appKey or shares the struct: %s", out)
				}
			case c.Vivo != nil:
				if obj["appKey"] != c.Vivo.AppKey || r.Vivo == c.Vivo {
					t.Errorf("redacted vivo lost appKey or shares the struct: %s", out)
				}
			case c.Meizu != nil:
				if obj["appId"] != c.Meizu.AppID || r.Meizu == c.Meizu {
					t.Errorf("redacted Meizu lost appId or shares the struct: %s", out)
				}
			}
		})
	}
}

func TestKeepSecretsFrom(t *testing.T) {
	f := fixtures(t)
	stored := func(v device.Vendor) Certificate { return validCert(t, v) }
	storedP12 := func() Certificate {
		c := validCert(t, device.APNs)
		apnsP12(f.p12, p12Password)(&c)
		return c
	}
	// request returns what a PUT sends after a GET: the redacted stored
	// certificate, changed by change.
	request := func(old Certificate, change func(*Certificate)) Certificate {
		c := old.Redacted()
		c.Name = "renamed"
		if change != nil {
			change(&c)
		}
		return c
	}
	tests := []struct {
		name   string
		old    Certificate
		change func(*Certificate)
		want   func(*testing.T, Certificate, Certificate) // new, old
		field  string                                     // Validate's error field, "" when valid
	}{
		{"apns key kept", stored(device.APNs), nil, func(t *testing.T, c, old Certificate) {
			if c.APNs.PrivateKey != old.APNs.PrivateKey {
				t.Error("privateKey not kept")
			}
		}, ""},
		{"apns new keyId needs its key", stored(device.APNs), func(c *Certificate) { c.APNs.KeyID = "NEWKEY1234" }, nil, "apns.privateKey"},
		{"apns new teamId needs its key", stored(device.APNs), func(c *Certificate) { c.APNs.TeamID = "NEWTEAM123" }, nil, "apns.privateKey"},
		{"apns new key replaces", stored(device.APNs), func(c *Certificate) { c.APNs.PrivateKey = f.p384 }, nil, "apns.privateKey"},
		{"apns p12 kept with password", storedP12(), nil, func(t *testing.T, c, old Certificate) {
			if c.APNs.P12 != old.APNs.P12 || c.APNs.Password != p12Password || c.APNs.CertificateExpiresAt == nil {
				t.Error("p12 and password not kept")
			}
		}, ""},
		{"apns new p12 keeps no password", storedP12(), func(c *Certificate) { c.APNs.P12 = f.p12NoPassword }, func(t *testing.T, c, old Certificate) {
			if c.APNs.Password != "" {
				t.Error("old password kept for a new p12")
			}
		}, ""},
		{"apns new password for kept p12", storedP12(), func(c *Certificate) { c.APNs.Password = "wrong" }, nil, "apns.password"},
		{"apns p12 to token auth", storedP12(), func(c *Certificate) {
			c.APNs.TeamID, c.APNs.KeyID, c.APNs.PrivateKey = "ABCDE12345", "KEY1234567", f.p256
		}, func(t *testing.T, c, old Certificate) {
			if c.APNs.P12 != "" || c.APNs.Password != "" {
				t.Error("p12 kept after switching to token auth")
			}
		}, ""},
		{"apns p12 to token auth without key", storedP12(), func(c *Certificate) {
			c.APNs.TeamID, c.APNs.KeyID = "ABCDE12345", "KEY1234567"
		}, nil, "apns.privateKey"},
		{"apns token to p12 auth", stored(device.APNs), func(c *Certificate) {
			apnsP12(f.p12, p12Password)(c)
		}, func(t *testing.T, c, old Certificate) {
			if c.APNs.PrivateKey != "" {
				t.Error("privateKey kept after switching to certificate auth")
			}
		}, ""},

		{"fcm kept", stored(device.FCM), nil, func(t *testing.T, c, old Certificate) {
			if c.FCM.ServiceAccountJSON != old.FCM.ServiceAccountJSON || c.FCM.ProjectID != "example-chat" {
				t.Error("serviceAccountJson not kept")
			}
		}, ""},
		{"fcm replaced", stored(device.FCM), func(c *Certificate) {
			c.FCM.ServiceAccountJSON = serviceAccountJSON(t, map[string]any{"project_id": "other-project"})
		}, func(t *testing.T, c, old Certificate) {
			if c.FCM.ProjectID != "other-project" {
				t.Errorf("ProjectID = %q, want other-project", c.FCM.ProjectID)
			}
		}, ""},

		{"huawei kept", stored(device.Huawei), nil, keptSecret(func(c Certificate) string { return c.Huawei.AppSecret }), ""},
		{"huawei new appId", stored(device.Huawei), func(c *Certificate) { c.Huawei.AppID = "999" }, nil, "huawei.appSecret"},
		{"huawei new secret", stored(device.Huawei), func(c *Certificate) { c.Huawei.AppSecret = "newsecret" }, newSecret(func(c Certificate) string { return c.Huawei.AppSecret }), ""},
		{"honor kept", stored(device.Honor), nil, keptSecret(func(c Certificate) string { return c.Honor.ClientSecret }), ""},
		{"honor new clientId", stored(device.Honor), func(c *Certificate) { c.Honor.ClientID = "other" }, nil, "honor.clientSecret"},
		{"honor new appId", stored(device.Honor), func(c *Certificate) { c.Honor.AppID = "other" }, nil, "honor.clientSecret"},
		{"xiaomi kept", stored(device.Xiaomi), nil, keptSecret(func(c Certificate) string { return c.Xiaomi.AppSecret }), ""},
		{"xiaomi new package", stored(device.Xiaomi), func(c *Certificate) { c.Xiaomi.PackageName = "com.example.other" }, nil, "xiaomi.appSecret"},
		{"oppo kept", stored(device.OPPO), nil, keptSecret(func(c Certificate) string { return c.OPPO.MasterSecret }), ""},
		{"oppo new appKey", stored(device.OPPO), func(c *Certificate) { c.OPPO.AppKey = "other" }, nil, "oppo.masterSecret"},
		{"vivo kept", stored(device.Vivo), nil, keptSecret(func(c Certificate) string { return c.Vivo.AppSecret }), ""},
		{"vivo new appId", stored(device.Vivo), func(c *Certificate) { c.Vivo.AppID = "20502" }, nil, "vivo.appSecret"},
		{"vivo new appKey", stored(device.Vivo), func(c *Certificate) { c.Vivo.AppKey = "other" }, nil, "vivo.appSecret"},
		{"meizu kept", stored(device.Meizu), nil, keptSecret(func(c Certificate) string { return c.Meizu.AppSecret }), ""},
		{"meizu new appId", stored(device.Meizu), func(c *Certificate) { c.Meizu.AppID = "220002" }, nil, "meizu.appSecret"},

		{"vendor changed", stored(device.Huawei), func(c *Certificate) {
			c.Vendor, c.Huawei, c.Honor = device.Honor, nil, &Honor{AppID: "104512345", ClientID: "c"}
		}, nil, "honor.clientSecret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := tt.old
			if err := old.Validate(); err != nil {
				t.Fatal(err)
			}
			oldJSON, _ := json.Marshal(old)
			c := request(old, tt.change)
			c.KeepSecretsFrom(old)
			err := c.Validate()
			if tt.field == "" && err != nil {
				t.Fatalf("Validate() after KeepSecretsFrom = %v", err)
			}
			if tt.field != "" {
				var fe *device.FieldError
				if !errors.As(err, &fe) || fe.Field != tt.field {
					t.Fatalf("Validate() after KeepSecretsFrom = %v, want field %s", err, tt.field)
				}
			}
			if tt.want != nil {
				tt.want(t, c, old)
			}
			if c.Name != "renamed" {
				t.Errorf("Name = %q, want renamed", c.Name)
			}
			if newJSON, _ := json.Marshal(old); !bytes.Equal(oldJSON, newJSON) {
				t.Error("KeepSecretsFrom changed old")
			}
		})
	}
}

func keptSecret(get func(Certificate) string) func(*testing.T, Certificate, Certificate) {
	return func(t *testing.T, c, old Certificate) {
		t.Helper()
		if get(c) == "" || get(c) != get(old) {
			t.Errorf("secret %q not kept from %q", get(c), get(old))
		}
	}
}

func newSecret(get func(Certificate) string) func(*testing.T, Certificate, Certificate) {
	return func(t *testing.T, c, old Certificate) {
		t.Helper()
		if get(c) == get(old) {
			t.Error("old secret replaced the new one")
		}
	}
}
