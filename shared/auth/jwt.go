package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/offpush/offpush/shared/device"
)

// Defaults for JWTConfig's optional fields.
const (
	DefaultLeeway                    = 30 * time.Second
	DefaultRefreshInterval           = time.Hour
	DefaultUnknownKIDRefreshInterval = time.Minute
)

const (
	// MinHS256SecretLen is the shortest HS256 secret accepted: RFC 7518 §3.2
	// requires a key at least as long as the hash output (256 bits).
	MinHS256SecretLen = 32

	// maxTokenLen bounds the work done on a presented token before its
	// signature is checked.
	maxTokenLen = 8 << 10

	// minRSABits is the smallest RSA modulus accepted from a JWKS.
	minRSABits = 2048

	// jwksHTTPTimeout bounds the initial and background JWKS fetches.
	jwksHTTPTimeout = 10 * time.Second

	// unknownKIDWaitMax bounds a refresh triggered by an unknown kid inside
	// a request. When the rate limiter would make such a request wait longer,
	// it fails at once instead of holding the request.
	unknownKIDWaitMax = 5 * time.Second
)

// JWTConfig says how app JWTs are verified. At least one of HS256Secret and
// JWKSURL must be set; only the algorithms they imply are accepted (HS256 for
// the secret, RS256 and ES256 for the JWKS).
type JWTConfig struct {
	// HS256Secret is the shared secret for HS256 tokens, at least
	// MinHS256SecretLen bytes.
	HS256Secret []byte
	// JWKSURL is an http(s) URL serving a JWK Set with the RS256/ES256
	// public keys. The set is fetched once at start, refreshed in the
	// background, and refreshed again (rate limited) when a token names a kid
	// that is not in it, so that signing-key rotation needs no restart.
	JWKSURL string
	// Issuer and Audience, when set, must match the token's iss and aud
	// (which then become required). Empty means not checked.
	Issuer, Audience string
	// HTTPClient fetches the JWKS; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Leeway allows for clock skew on exp, nbf and iat; 0 means
	// DefaultLeeway.
	Leeway time.Duration
	// RefreshInterval is how often the JWKS is refetched in the background;
	// 0 means DefaultRefreshInterval.
	RefreshInterval time.Duration
	// UnknownKIDRefreshInterval is the least time between two refreshes
	// triggered by tokens with an unknown kid, so that a flood of forged
	// tokens cannot hammer the JWKS endpoint; 0 means
	// DefaultUnknownKIDRefreshInterval.
	UnknownKIDRefreshInterval time.Duration
}

// Verifier checks app JWTs. It is safe for concurrent use; build one per
// container and Close it when done.
type Verifier struct {
	secret  []byte
	jwks    keyfunc.Keyfunc
	methods []string
	parser  *jwt.Parser
	issuer  string
	aud     string
	cancel  context.CancelFunc
}

// NewVerifier builds a Verifier from cfg. With a JWKSURL it fetches the key
// set before returning (a failed first fetch is logged, not returned, so a
// brief outage of the key server does not stop a cold start; the next token
// with an unknown kid retries) and starts a goroutine that refreshes it until
// ctx is cancelled or Close is called.
func NewVerifier(ctx context.Context, cfg JWTConfig) (*Verifier, error) {
	if len(cfg.HS256Secret) == 0 && cfg.JWKSURL == "" {
		return nil, errors.New("jwt config: set an HS256 secret, a JWKS URL or both")
	}
	if len(cfg.HS256Secret) > 0 && len(cfg.HS256Secret) < MinHS256SecretLen {
		return nil, fmt.Errorf("jwt config: HS256 secret must be at least %d bytes", MinHS256SecretLen)
	}
	if cfg.Leeway < 0 || cfg.RefreshInterval < 0 || cfg.UnknownKIDRefreshInterval < 0 {
		return nil, errors.New("jwt config: durations must not be negative")
	}
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}

	v := &Verifier{issuer: cfg.Issuer, aud: cfg.Audience, cancel: func() {}}
	if len(cfg.HS256Secret) > 0 {
		v.secret = slices.Clone(cfg.HS256Secret)
		v.methods = append(v.methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.JWKSURL != "" {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, errors.New("jwt config: JWKS URL must be an absolute http or https URL")
		}
		refresh := cfg.RefreshInterval
		if refresh == 0 {
			refresh = DefaultRefreshInterval
		}
		unknownKID := cfg.UnknownKIDRefreshInterval
		if unknownKID == 0 {
			unknownKID = DefaultUnknownKIDRefreshInterval
		}
		kctx, cancel := context.WithCancel(ctx)
		kf, err := keyfunc.NewDefaultOverrideCtx(kctx, []string{cfg.JWKSURL}, keyfunc.Override{
			Client:            cfg.HTTPClient,
			HTTPTimeout:       jwksHTTPTimeout,
			RefreshInterval:   refresh,
			RefreshUnknownKID: rate.NewLimiter(rate.Every(unknownKID), 1),
			RateLimitWaitMax:  unknownKIDWaitMax,
		})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("jwt config: JWKS: %w", err)
		}
		v.jwks = kf
		v.cancel = cancel
		v.methods = append(v.methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Close stops the background JWKS refresh. Verify keeps working with the
// keys already fetched. Close is safe to call more than once.
func (v *Verifier) Close() { v.cancel() }

// Verify checks token (the part after "Bearer ", see BearerToken) and returns
// its subject, the user ID. Every error wraps ErrUnauthenticated and is an
// *Error whose Reason is safe to show the caller. ctx bounds a JWKS refresh
// triggered by an unknown kid.
func (v *Verifier) Verify(ctx context.Context, token string) (userID string, err error) {
	if token == "" {
		return "", reject("missing token", nil)
	}
	if len(token) > maxTokenLen {
		return "", reject("token too large", nil)
	}
	var claims jwt.RegisteredClaims
	tok, err := v.parser.ParseWithClaims(token, &claims, v.keyFunc(ctx))
	if err != nil {
		return "", v.classify(tok, &claims, err)
	}
	if claims.Subject == "" {
		return "", reject("missing sub", nil)
	}
	if !validUserID(claims.Subject) {
		return "", reject("invalid sub", nil)
	}
	return claims.Subject, nil
}

// keyFunc picks the verification key by the token's algorithm, so an HS256
// token is only ever checked against the shared secret and an RS256/ES256
// token only against JWKS keys of the matching type: a public key can never
// be used as an HMAC secret.
func (v *Verifier) keyFunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		switch {
		case alg == jwt.SigningMethodHS256.Alg() && v.secret != nil:
			return v.secret, nil
		case (alg == jwt.SigningMethodRS256.Alg() || alg == jwt.SigningMethodES256.Alg()) && v.jwks != nil:
		default:
			return nil, reject("unsupported algorithm", nil)
		}
		key, err := v.jwks.KeyfuncCtx(ctx)(t)
		if err != nil {
			return nil, reject("unknown signing key", err)
		}
		if set, ok := key.(jwt.VerificationKeySet); ok {
			// No kid in the token: try every JWKS key of the right type.
			var fit jwt.VerificationKeySet
			for _, k := range set.Keys {
				if keyFits(alg, k) {
					fit.Keys = append(fit.Keys, k)
				}
			}
			if len(fit.Keys) == 0 {
				return nil, reject("unknown signing key", nil)
			}
			return fit, nil
		}
		if !keyFits(alg, key) {
			return nil, reject("unusable signing key", nil)
		}
		return key, nil
	}
}

// keyFits reports whether key is a public key that alg may be verified with.
func keyFits(alg string, key any) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return alg == jwt.SigningMethodRS256.Alg() && k.N != nil && k.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey:
		return alg == jwt.SigningMethodES256.Alg() && k.Curve == elliptic.P256()
	}
	return false
}

// classify turns a jwt parse error into an *Error with a caller-safe reason.
func (v *Verifier) classify(tok *jwt.Token, claims *jwt.RegisteredClaims, err error) error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return reject("malformed token", err)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// The header names an algorithm the jwt package does not know.
		return reject("unsupported algorithm", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if tok != nil && tok.Method != nil && !slices.Contains(v.methods, tok.Method.Alg()) {
			return reject("unsupported algorithm", err)
		}
		return reject("bad signature", err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return reject("token expired", err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		switch {
		case claims.ExpiresAt == nil:
			return reject("missing exp", err)
		case v.issuer != "" && claims.Issuer == "":
			return reject("missing iss", err)
		case v.aud != "":
			return reject("missing aud", err)
		}
		return reject("missing claim", err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return reject("token not valid yet", err)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return reject("token issued in the future", err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return reject("wrong issuer", err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return reject("wrong audience", err)
	}
	return reject("invalid token", err)
}

// MintHS256 signs an HS256 token for userID that expires ttl after now, with
// iss and aud set when issuer and audience are not empty. The local server's
// `make token USER=alice` and tests use it; production apps get their tokens
// from their own backend.
func MintHS256(secret []byte, userID string, ttl time.Duration, now time.Time, issuer, audience string) (string, error) {
	if len(secret) < MinHS256SecretLen {
		return "", fmt.Errorf("mint token: HS256 secret must be at least %d bytes", MinHS256SecretLen)
	}
	if !validUserID(userID) {
		return "", fmt.Errorf("mint token: user ID must be 1 to %d bytes of UTF-8 without control characters, '/' or '#'", device.MaxUserIDLen)
	}
	if ttl <= 0 {
		return "", errors.New("mint token: ttl must be positive")
	}
	claims := jwt.RegisteredClaims{
		Subject:   userID,
		Issuer:    issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	if audience != "" {
		claims.Audience = jwt.ClaimStrings{audience}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return s, nil
}

// validUserID applies the user-ID rule of the API (device.ValidateUserID).
func validUserID(id string) bool { return device.ValidateUserID("sub", id) == nil }
