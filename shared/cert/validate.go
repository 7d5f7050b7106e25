package cert

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/offpush/offpush/shared/device"
)

// Limits on certificate fields.
const (
	MaxNameLen       = 64
	MaxBundleIDLen   = 155
	MaxCredentialLen = 256 // vendor app IDs, keys and secrets
	MaxBadgeClassLen = 255
	MaxChannelIDLen  = 64
	// MaxClickTargetLen bounds clickAction url and intent: vivo's skipContent
	// takes at most 1024 characters, the smallest limit of the vendors.
	MaxClickTargetLen = 1024
	MaxActivityLen    = 255

	maxPrivateKeyLen     = 8 << 10  // a .p8 file is about 250 bytes
	maxP12Len            = 64 << 10 // base64 text; a push .p12 is a few KB
	maxServiceAccountLen = 16 << 10 // a service account file is about 2.3 KB
	appleIDLen           = 10       // Team ID and Key ID
)

// Validate checks a certificate as an admin registers it (POST or PUT
// /v1/certificates) and fills the derived fields: the click action type
// (openApp when empty), the Xiaomi region (china when empty), FCM's ProjectID
// and ClientEmail, and the .p12's CertificateExpiresAt. A failure is a
// *device.FieldError naming the JSON field, such as "apns.privateKey".
//
// On PUT, call KeepSecretsFrom first so that omitted secrets are checked too.
func (c *Certificate) Validate() error {
	return c.validate(time.Now())
}

func (c *Certificate) validate(now time.Time) error {
	if c.ID != 0 {
		if err := device.ValidateCertificateID("id", c.ID); err != nil {
			return err
		}
	}
	if c.Vendor == "" {
		return device.Invalid("vendor", "is required")
	}
	if !c.Vendor.Valid() {
		return device.Invalid("vendor", "must be one of %s", vendorList())
	}
	if c.Name == "" {
		return device.Invalid("name", "is required")
	}
	if err := checkText("name", c.Name, MaxNameLen); err != nil {
		return err
	}
	if err := c.checkVendorObjects(); err != nil {
		return err
	}
	var err error
	switch c.Vendor {
	case device.APNs:
		err = c.APNs.validate(now)
	case device.FCM:
		err = c.FCM.validate()
	case device.Huawei:
		err = c.Huawei.validate()
	case device.Honor:
		err = c.Honor.validate()
	case device.Xiaomi:
		err = c.Xiaomi.validate()
	case device.OPPO:
		err = c.OPPO.validate()
	case device.Vivo:
		err = c.Vivo.validate()
	case device.Meizu:
		err = c.Meizu.validate()
	}
	if err != nil {
		return err
	}
	if err := c.ClickAction.validate(); err != nil {
		return err
	}
	if c.BadgeClass != "" {
		if err := checkClassName("badgeClass", c.BadgeClass, MaxBadgeClassLen); err != nil {
			return err
		}
	}
	if err := checkText("defaultChannelId", c.DefaultChannelID, MaxChannelIDLen); err != nil {
		return err
	}
	if c.Vendor == device.OPPO && c.DefaultChannelID == "" {
		return device.Invalid("defaultChannelId",
			"is required for oppo: OPPO shows nothing on Android 8 and later without a notification channel; "+
				"give the ID of a channel the app creates")
	}
	return nil
}

// checkVendorObjects checks that the object named by Vendor is set and no
// other vendor object is. The JSON field names equal the vendor names.
func (c *Certificate) checkVendorObjects() error {
	set := []struct {
		vendor device.Vendor
		set    bool
	}{
		{device.APNs, c.APNs != nil},
		{device.FCM, c.FCM != nil},
		{device.Huawei, c.Huawei != nil},
		{device.Honor, c.Honor != nil},
		{device.Xiaomi, c.Xiaomi != nil},
		{device.OPPO, c.OPPO != nil},
		{device.Vivo, c.Vivo != nil},
		{device.Meizu, c.Meizu != nil},
	}
	for _, o := range set {
		if o.vendor == c.Vendor && !o.set {
			return device.Invalid(string(o.vendor), "is required for vendor %s", c.Vendor)
		}
		if o.vendor != c.Vendor && o.set {
			return device.Invalid(string(o.vendor), "must not be set for vendor %s", c.Vendor)
		}
	}
	return nil
}

func vendorList() string {
	names := make([]string, len(device.Vendors))
	for i, v := range device.Vendors {
		names[i] = string(v)
	}
	return strings.Join(names, ", ")
}

// TokenAuth reports whether a signs provider tokens with a .p8 key rather
// than presenting a .p12 client certificate. It stays right on a redacted
// copy, which keeps teamId and keyId.
func (a *APNs) TokenAuth() bool {
	return a.TeamID != "" || a.KeyID != "" || a.PrivateKey != ""
}

func (a *APNs) certAuth() bool { return a.P12 != "" || a.Password != "" }

func (a *APNs) validate(now time.Time) error {
	if a.Environment != Production && a.Environment != Sandbox {
		return device.Invalid("apns.environment", "must be %s or %s", Production, Sandbox)
	}
	if err := checkBundleID("apns.bundleId", a.BundleID); err != nil {
		return err
	}
	switch token, cert := a.TokenAuth(), a.certAuth(); {
	case token && cert:
		return device.Invalid("apns", "set either teamId, keyId and privateKey (token auth) or p12 and password (certificate auth), not both")
	case token:
		a.CertificateExpiresAt = nil
		return a.validateToken()
	case cert:
		return a.validateP12(now)
	default:
		return device.Invalid("apns", "needs teamId, keyId and privateKey (token auth) or p12 and password (certificate auth)")
	}
}

func (a *APNs) validateToken() error {
	if !isAppleID(a.TeamID) {
		return device.Invalid("apns.teamId", "must be the %d-character Team ID (letters and digits)", appleIDLen)
	}
	if !isAppleID(a.KeyID) {
		return device.Invalid("apns.keyId", "must be the %d-character Key ID of the .p8 key (letters and digits)", appleIDLen)
	}
	if a.PrivateKey == "" {
		return device.Invalid("apns.privateKey", "is required with teamId and keyId")
	}
	if _, err := parseP8(a.PrivateKey); err != nil {
		return device.Invalid("apns.privateKey", "%s", err)
	}
	return nil
}

func (a *APNs) validateP12(now time.Time) error {
	if a.P12 == "" {
		return device.Invalid("apns.p12", "is required with password")
	}
	_, leaf, _, err := loadP12(a.P12, a.Password)
	if err != nil {
		return err
	}
	if now.After(leaf.NotAfter) {
		return device.Invalid("apns.p12",
			"certificate %q expired on %s; create a new APNs certificate in the Apple Developer portal and upload its .p12",
			leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	expires := leaf.NotAfter.UTC()
	a.CertificateExpiresAt = &expires
	return nil
}

// SigningKey parses the .p8 key that signs APNs provider tokens (ES256).
func (a *APNs) SigningKey() (*ecdsa.PrivateKey, error) {
	key, err := parseP8(a.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("parse apns private key: %w", err)
	}
	return key, nil
}

// TLSCertificate opens the .p12 client certificate for APNs certificate
// auth. It reads the same PKCS#12 encryptions Validate accepts (legacy
// RC2/3DES and modern AES), which golang.org/x/crypto/pkcs12 does not.
func (a *APNs) TLSCertificate() (tls.Certificate, error) {
	key, leaf, chain, err := loadP12(a.P12, a.Password)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("open apns p12: %w", err)
	}
	tc := tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc, nil
}

// parseP8 parses an APNs .p8 key: a PEM "PRIVATE KEY" block holding a PKCS#8
// ECDSA P-256 key. Its errors read as field messages.
func parseP8(s string) (*ecdsa.PrivateKey, error) {
	if len(s) > maxPrivateKeyLen {
		return nil, fmt.Errorf("must be at most %d bytes", maxPrivateKeyLen)
	}
	block, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return nil, errors.New("must be the PEM text of the .p8 key file (-----BEGIN PRIVATE KEY-----)")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("must be the .p8 key file's PKCS#8 PEM (BEGIN PRIVATE KEY), not BEGIN %s", block.Type)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("is not a readable PKCS#8 private key")
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("must be an ECDSA P-256 key (APNs tokens are signed with ES256), not %s", keyKind(key))
	}
	if ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("must be an ECDSA P-256 key (APNs tokens are signed with ES256), not ECDSA %s", ec.Curve.Params().Name)
	}
	return ec, nil
}

// loadP12 decodes a base64 .p12 and returns its private key, the certificate
// for that key and the other certificates. Errors are *device.FieldError for
// apns.p12 or apns.password.
func loadP12(b64, password string) (crypto.PrivateKey, *x509.Certificate, []*x509.Certificate, error) {
	if len(b64) > maxP12Len {
		return nil, nil, nil, device.Invalid("apns.p12", "must be at most %d bytes of base64", maxP12Len)
	}
	if strings.HasPrefix(strings.TrimSpace(b64), "-----BEGIN") {
		return nil, nil, nil, device.Invalid("apns.p12", "must be the base64 of the .p12 file, not PEM text")
	}
	// Tools wrap base64 at 64 or 76 columns; the line breaks carry nothing.
	compact := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, b64)
	data, err := base64.StdEncoding.DecodeString(compact)
	if err != nil {
		data, err = base64.RawStdEncoding.DecodeString(compact)
	}
	if err != nil {
		return nil, nil, nil, device.Invalid("apns.p12", "must be the base64-encoded .p12 file")
	}
	key, first, rest, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		var notImpl pkcs12.NotImplementedError
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption):
			return nil, nil, nil, device.Invalid("apns.password", "does not open the .p12 file")
		case errors.As(err, &notImpl):
			return nil, nil, nil, device.Invalid("apns.p12", "uses an unsupported PKCS#12 feature (%s); export it again from Keychain Access", strings.TrimPrefix(err.Error(), "pkcs12: "))
		default:
			// Say what was missing, but not the ASN.1 parser's internals.
			if msg := strings.TrimPrefix(err.Error(), "pkcs12: "); !strings.Contains(msg, "asn1") {
				return nil, nil, nil, device.Invalid("apns.p12", "is not a .p12 file with one certificate and its private key (%s)", msg)
			}
			return nil, nil, nil, device.Invalid("apns.p12", "is not a readable .p12 file")
		}
	}
	// The file's first certificate is not always the key's own: find the
	// one whose public key matches.
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, nil, device.Invalid("apns.p12", "holds an unsupported %s private key", keyKind(key))
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return nil, nil, nil, device.Invalid("apns.p12", "holds an unsupported %s private key", keyKind(key))
	}
	all := append([]*x509.Certificate{first}, rest...)
	for i, c := range all {
		if pub.Equal(c.PublicKey) {
			others := append(all[:i:i], all[i+1:]...)
			return key, c, others, nil
		}
	}
	return nil, nil, nil, device.Invalid("apns.p12", "holds no certificate for its private key")
}

func keyKind(key any) string {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return "RSA"
	case *ecdsa.PrivateKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PrivateKey:
		return "Ed25519"
	case *ecdh.PrivateKey:
		return "ECDH"
	default:
		return fmt.Sprintf("%T", key)
	}
}

func isAppleID(s string) bool {
	if len(s) != appleIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// checkBundleID checks an Apple bundle ID: reverse-DNS labels of A-Z a-z 0-9
// and '-', separated by dots.
func checkBundleID(field, s string) error {
	if s == "" {
		return device.Invalid(field, "is required")
	}
	if len(s) > MaxBundleIDLen {
		return device.Invalid(field, "must be at most %d bytes", MaxBundleIDLen)
	}
	labels := strings.Split(s, ".")
	ok := len(labels) >= 2
	for _, l := range labels {
		if l == "" {
			ok = false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				ok = false
			}
		}
	}
	if !ok {
		return device.Invalid(field, "must be the app's bundle ID in reverse-DNS form, such as com.example.chat (A-Z a-z 0-9 - .)")
	}
	return nil
}

// serviceAccount is the part of a Google service account key file that FCM
// sending needs.
type serviceAccount struct {
	Type        string
	ProjectID   string
	ClientEmail string
	PrivateKey  string
	TokenURI    string
}

func (f *FCM) validate() error {
	const field = "fcm.serviceAccountJson"
	if f.ServiceAccountJSON == "" {
		return device.Invalid(field, "is required")
	}
	sa, err := parseServiceAccount(f.ServiceAccountJSON)
	if err != nil {
		return device.Invalid(field, "%s", err)
	}
	f.ProjectID = sa.ProjectID
	f.ClientEmail = sa.ClientEmail
	return nil
}

// parseServiceAccount reads and checks a service account key file. Its
// errors read as field messages.
func parseServiceAccount(s string) (serviceAccount, error) {
	var sa serviceAccount
	if len(s) > maxServiceAccountLen {
		return sa, fmt.Errorf("must be at most %d bytes", maxServiceAccountLen)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return sa, errors.New("must be the service account key file's JSON object (Firebase console, Project settings, Service accounts)")
	}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"type", &sa.Type},
		{"project_id", &sa.ProjectID},
		{"client_email", &sa.ClientEmail},
		{"private_key", &sa.PrivateKey},
		{"token_uri", &sa.TokenURI},
	} {
		raw, ok := m[f.key]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			return sa, fmt.Errorf("%s must be a string", f.key)
		}
	}
	if sa.Type != "" && sa.Type != "service_account" {
		return sa, fmt.Errorf("type must be service_account, not %q: download a service account key, not user credentials", sa.Type)
	}
	if sa.ProjectID == "" {
		return sa, errors.New("project_id is missing")
	}
	if !isProjectID(sa.ProjectID) {
		return sa, errors.New("project_id must be a Google Cloud project ID (a-z 0-9 - . :)")
	}
	if sa.ClientEmail == "" {
		return sa, errors.New("client_email is missing")
	}
	if len(sa.ClientEmail) > MaxCredentialLen || strings.Count(sa.ClientEmail, "@") != 1 || hasSpaceOrControl(sa.ClientEmail) {
		return sa, errors.New("client_email must be the service account's email address")
	}
	if sa.PrivateKey == "" {
		return sa, errors.New("private_key is missing")
	}
	if err := checkRSAKey(sa.PrivateKey); err != nil {
		return sa, fmt.Errorf("private_key %s", err)
	}
	if sa.TokenURI == "" {
		return sa, errors.New("token_uri is missing")
	}
	if err := checkHTTPURL(sa.TokenURI); err != nil {
		return sa, fmt.Errorf("token_uri %s", err)
	}
	return sa, nil
}

// isProjectID accepts Google Cloud project IDs, including the older
// domain-scoped ones ("example.com:project"). The ID goes into the FCM URL
// path, so nothing else may pass.
func isProjectID(s string) bool {
	if len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func checkRSAKey(s string) error {
	block, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return errors.New("must be a PEM private key (-----BEGIN PRIVATE KEY-----)")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return fmt.Errorf("must be a PEM RSA private key, not BEGIN %s", block.Type)
	}
	if err != nil {
		return errors.New("is not a readable private key")
	}
	if _, ok := key.(*rsa.PrivateKey); !ok {
		return fmt.Errorf("must be an RSA key, not %s", keyKind(key))
	}
	return nil
}

// The Android vendors' app IDs, keys and secrets are checked alike: 1 to 256
// printable ASCII characters without spaces, which catches the stray space or
// line break of a copy from a console page.

func (h *Huawei) validate() error {
	// Huawei App IDs are numeric in practice, but the vendor notes do not
	// confirm a format (it doubles as the OAuth client ID), so any credential
	// text passes.
	if err := checkCredential("huawei.appId", h.AppID); err != nil {
		return err
	}
	return checkCredential("huawei.appSecret", h.AppSecret)
}

func (h *Honor) validate() error {
	if err := checkCredential("honor.appId", h.AppID); err != nil {
		return err
	}
	if err := checkCredential("honor.clientId", h.ClientID); err != nil {
		return err
	}
	return checkCredential("honor.clientSecret", h.ClientSecret)
}

func (x *Xiaomi) validate() error {
	if err := checkCredential("xiaomi.appSecret", x.AppSecret); err != nil {
		return err
	}
	if err := checkCredential("xiaomi.packageName", x.PackageName); err != nil {
		return err
	}
	switch x.Region {
	case "":
		x.Region = RegionChina
	case RegionChina, RegionGlobal:
	default:
		return device.Invalid("xiaomi.region", "must be %s or %s", RegionChina, RegionGlobal)
	}
	return nil
}

func (o *OPPO) validate() error {
	if err := checkCredential("oppo.appKey", o.AppKey); err != nil {
		return err
	}
	return checkCredential("oppo.masterSecret", o.MasterSecret)
}

func (v *Vivo) validate() error {
	// vivo's send API takes appId as a JSON number (both Go SDKs in the
	// vendor notes type it int), so it must be digits.
	if err := checkCredential("vivo.appId", v.AppID); err != nil {
		return err
	}
	if !isDigits(v.AppID) {
		return device.Invalid("vivo.appId", "must be the numeric App ID")
	}
	if err := checkCredential("vivo.appKey", v.AppKey); err != nil {
		return err
	}
	return checkCredential("vivo.appSecret", v.AppSecret)
}

func (m *Meizu) validate() error {
	// Meizu's API doc shows a numeric appId only in an example and states no
	// format, so any credential text passes.
	if err := checkCredential("meizu.appId", m.AppID); err != nil {
		return err
	}
	return checkCredential("meizu.appSecret", m.AppSecret)
}

func checkCredential(field, s string) error {
	if s == "" {
		return device.Invalid(field, "is required")
	}
	if len(s) > MaxCredentialLen {
		return device.Invalid(field, "must be at most %d characters", MaxCredentialLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return device.Invalid(field, "must be printable ASCII without spaces or line breaks")
		}
	}
	return nil
}

func (a *ClickAction) validate() error {
	if a.Type == "" {
		a.Type = ClickOpenApp
	}
	switch a.Type {
	case ClickOpenApp:
	case ClickOpenURL:
		if a.URL == "" {
			return device.Invalid("clickAction.url", "is required for type %s", ClickOpenURL)
		}
		if err := checkText("clickAction.url", a.URL, MaxClickTargetLen); err != nil {
			return err
		}
		if err := checkHTTPURL(a.URL); err != nil {
			return device.Invalid("clickAction.url", "%s", err)
		}
	case ClickOpenPage:
		if a.Intent == "" && a.Activity == "" {
			return device.Invalid("clickAction.intent", "is required for type %s unless activity is set", ClickOpenPage)
		}
		if err := checkText("clickAction.intent", a.Intent, MaxClickTargetLen); err != nil {
			return err
		}
		if a.Activity != "" {
			if err := checkClassName("clickAction.activity", a.Activity, MaxActivityLen); err != nil {
				return err
			}
		}
	default:
		return device.Invalid("clickAction.type", "must be %s, %s or %s", ClickOpenApp, ClickOpenURL, ClickOpenPage)
	}
	// A target that the type does not use would be silently ignored.
	if a.URL != "" && a.Type != ClickOpenURL {
		return device.Invalid("clickAction.url", "is only used with type %s", ClickOpenURL)
	}
	if a.Intent != "" && a.Type != ClickOpenPage {
		return device.Invalid("clickAction.intent", "is only used with type %s", ClickOpenPage)
	}
	if a.Activity != "" && a.Type != ClickOpenPage {
		return device.Invalid("clickAction.activity", "is only used with type %s", ClickOpenPage)
	}
	return nil
}

// checkHTTPURL checks an absolute http or https URL. Its errors read as
// field messages.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || hasSpaceOrControl(s) || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("must be an absolute http or https URL")
	}
	return nil
}

// checkClassName checks a fully qualified Java class name, such as
// com.example.chat.MainActivity.
func checkClassName(field, s string, max int) error {
	if len(s) > max {
		return device.Invalid(field, "must be at most %d bytes", max)
	}
	parts := strings.Split(s, ".")
	ok := len(parts) >= 2
	for _, p := range parts {
		if p == "" || p[0] >= '0' && p[0] <= '9' {
			ok = false
		}
		for i := 0; i < len(p); i++ {
			if !isAlnum(p[i]) && p[i] != '_' && p[i] != '$' {
				ok = false
			}
		}
	}
	if !ok {
		return device.Invalid(field, "must be a fully qualified Java class name, such as com.example.chat.MainActivity")
	}
	return nil
}

// checkText checks an optional free-text field: at most max bytes of UTF-8
// without control characters.
func checkText(field, s string, max int) error {
	if len(s) > max || !utf8.ValidString(s) {
		return device.Invalid(field, "must be at most %d bytes of UTF-8", max)
	}
	for _, r := range s {
		if r < 0x20 || r >= 0x7f && r < 0xa0 {
			return device.Invalid(field, "must not contain control characters")
		}
	}
	return nil
}

func hasSpaceOrControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Redacted returns a deep copy of c with every secret cleared (APNs
// privateKey, p12 and password; FCM serviceAccountJson; the Android vendors'
// appSecret, clientSecret and masterSecret), so its JSON omits them. The
// public derived fields (projectId, clientEmail, certificateExpiresAt) and
// the IDs stay. c and the structs it points to are left untouched.
func (c Certificate) Redacted() Certificate {
	r := c
	if c.APNs != nil {
		a := *c.APNs
		a.PrivateKey, a.P12, a.Password = "", "", ""
		if a.CertificateExpiresAt != nil {
			t := *a.CertificateExpiresAt
			a.CertificateExpiresAt = &t
		}
		r.APNs = &a
	}
	if c.FCM != nil {
		f := *c.FCM
		f.ServiceAccountJSON = ""
		r.FCM = &f
	}
	if c.Huawei != nil {
		h := *c.Huawei
		h.AppSecret = ""
		r.Huawei = &h
	}
	if c.Honor != nil {
		h := *c.Honor
		h.ClientSecret = ""
		r.Honor = &h
	}
	if c.Xiaomi != nil {
		x := *c.Xiaomi
		x.AppSecret = ""
		r.Xiaomi = &x
	}
	if c.OPPO != nil {
		o := *c.OPPO
		o.MasterSecret = ""
		r.OPPO = &o
	}
	if c.Vivo != nil {
		v := *c.Vivo
		v.AppSecret = ""
		r.Vivo = &v
	}
	if c.Meizu != nil {
		m := *c.Meizu
		m.AppSecret = ""
		r.Meizu = &m
	}
	return r
}

// KeepSecretsFrom fills the secrets that a replacement certificate (PUT
// /v1/certificates/{id}) leaves empty with those of old, the stored
// certificate it replaces, so an admin can change the name or push defaults
// without sending the credentials again — GET returns them redacted.
//
// A secret is kept only while the vendor and the identifiers it belongs to
// are unchanged: a new appId, appKey, clientId, packageName, or APNs teamId
// or keyId needs its own secret, and Validate then reports it missing rather
// than pairing an old secret with a new app. An APNs .p12 (with its password)
// is kept when the request names no token-auth fields and no new .p12; a new
// .p12 never inherits the old password. Call it before Validate.
func (c *Certificate) KeepSecretsFrom(old Certificate) {
	if c.Vendor != old.Vendor {
		return
	}
	switch {
	case c.APNs != nil && old.APNs != nil:
		c.APNs.keepSecretsFrom(old.APNs)
	case c.FCM != nil && old.FCM != nil:
		keep(&c.FCM.ServiceAccountJSON, old.FCM.ServiceAccountJSON, true)
	case c.Huawei != nil && old.Huawei != nil:
		keep(&c.Huawei.AppSecret, old.Huawei.AppSecret, c.Huawei.AppID == old.Huawei.AppID)
	case c.Honor != nil && old.Honor != nil:
		keep(&c.Honor.ClientSecret, old.Honor.ClientSecret,
			c.Honor.AppID == old.Honor.AppID && c.Honor.ClientID == old.Honor.ClientID)
	case c.Xiaomi != nil && old.Xiaomi != nil:
		keep(&c.Xiaomi.AppSecret, old.Xiaomi.AppSecret, c.Xiaomi.PackageName == old.Xiaomi.PackageName)
	case c.OPPO != nil && old.OPPO != nil:
		keep(&c.OPPO.MasterSecret, old.OPPO.MasterSecret, c.OPPO.AppKey == old.OPPO.AppKey)
	case c.Vivo != nil && old.Vivo != nil:
		keep(&c.Vivo.AppSecret, old.Vivo.AppSecret,
			c.Vivo.AppID == old.Vivo.AppID && c.Vivo.AppKey == old.Vivo.AppKey)
	case c.Meizu != nil && old.Meizu != nil:
		keep(&c.Meizu.AppSecret, old.Meizu.AppSecret, c.Meizu.AppID == old.Meizu.AppID)
	}
}

func (a *APNs) keepSecretsFrom(old *APNs) {
	if a.PrivateKey != "" || a.P12 != "" {
		return // a new credential, whole
	}
	if old.PrivateKey != "" && a.TeamID != "" && a.TeamID == old.TeamID && a.KeyID == old.KeyID && a.Password == "" {
		a.PrivateKey = old.PrivateKey
		return
	}
	if old.P12 != "" && a.TeamID == "" && a.KeyID == "" {
		a.P12 = old.P12
		if a.Password == "" {
			a.Password = old.Password
		}
	}
}

func keep(secret *string, old string, sameApp bool) {
	if *secret == "" && sameApp {
		*secret = old
	}
}
