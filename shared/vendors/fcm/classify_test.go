package fcm

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/offpush/offpush/shared/push"
)

func fcmBody(code int, status, message, fcmCode string) []byte {
	details := ""
	if fcmCode != "" {
		details = fmt.Sprintf(`,"details":[{"@type":"type.googleapis.com/google.rpc.BadRequest"},{"@type":%q,"errorCode":%q}]`, fcmErrorType, fcmCode)
	}
	return fmt.Appendf(nil, `{"error":{"code":%d,"message":%q,"status":%q%s}}`, code, message, status, details)
}

func TestClassifyHTTP(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       []byte
		want       push.Outcome
		retryAfter time.Duration
		reauth     bool
		reason     string
	}{
		{"unregistered", 404, nil, fcmBody(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"), push.InvalidToken, 0, false, "UNREGISTERED: Requested entity was not found."},
		{"sender id mismatch", 403, nil, fcmBody(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"), push.InvalidToken, 0, false, "SENDER_ID_MISMATCH"},
		{"invalid registration token", 400, nil, fcmBody(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token", "INVALID_ARGUMENT"), push.InvalidToken, 0, false, "INVALID_ARGUMENT: The registration token"},
		{"invalid argument, other field", 400, nil, fcmBody(400, "INVALID_ARGUMENT", "Invalid value at 'message.data[0].value' (TYPE_STRING), 12", "INVALID_ARGUMENT"), push.Rejected, 0, false, "INVALID_ARGUMENT"},
		{"invalid argument, BadRequest detail only", 400, nil, fcmBody(400, "INVALID_ARGUMENT", "Invalid value at 'message.data[0].value'", ""), push.Rejected, 0, false, "INVALID_ARGUMENT"},
		{"quota without Retry-After waits a minute", 429, nil, fcmBody(429, "RESOURCE_EXHAUSTED", "Quota exceeded", "QUOTA_EXCEEDED"), push.Retryable, time.Minute, false, "QUOTA_EXCEEDED"},
		{"quota with Retry-After", 429, hdr("Retry-After", "120"), fcmBody(429, "RESOURCE_EXHAUSTED", "Quota exceeded", "QUOTA_EXCEEDED"), push.Retryable, 2 * time.Minute, false, "QUOTA_EXCEEDED"},
		{"unavailable with Retry-After date", 503, hdr("Retry-After", now.Add(30*time.Second).Format(http.TimeFormat)), fcmBody(503, "UNAVAILABLE", "overloaded", "UNAVAILABLE"), push.Retryable, 30 * time.Second, false, "UNAVAILABLE"},
		{"unavailable without Retry-After", 503, nil, fcmBody(503, "UNAVAILABLE", "overloaded", "UNAVAILABLE"), push.Retryable, 0, false, "UNAVAILABLE"},
		{"internal", 500, hdr("Retry-After", "5"), fcmBody(500, "INTERNAL", "Internal error", "INTERNAL"), push.Retryable, 5 * time.Second, false, "INTERNAL"},
		{"unspecified", 500, nil, fcmBody(500, "UNKNOWN", "", "UNSPECIFIED_ERROR"), push.Retryable, 0, false, "UNSPECIFIED_ERROR"},
		{"third party auth", 401, nil, fcmBody(401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR"), push.Auth, 0, false, "THIRD_PARTY_AUTH_ERROR"},
		{"apns auth, the older name", 401, nil, fcmBody(401, "UNAUTHENTICATED", "", "APNS_AUTH_ERROR"), push.Auth, 0, false, "APNS_AUTH_ERROR"},
		{"401 without FcmError: token refused", 401, nil, fcmBody(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", ""), push.Auth, 0, true, "UNAUTHENTICATED"},
		{"403 without FcmError: no permission", 403, nil, fcmBody(403, "PERMISSION_DENIED", "Permission denied", ""), push.Auth, 0, false, "PERMISSION_DENIED"},
		{"429 without FcmError", 429, nil, fcmBody(429, "RESOURCE_EXHAUSTED", "", ""), push.Retryable, time.Minute, false, "RESOURCE_EXHAUSTED"},
		{"502 from a proxy, not JSON", 502, hdr("Retry-After", "7"), []byte("<html>Bad Gateway</html>"), push.Retryable, 7 * time.Second, false, "HTTP 502"},
		{"404 without FcmError", 404, nil, fcmBody(404, "NOT_FOUND", "Requested entity was not found.", ""), push.Rejected, 0, false, "NOT_FOUND"},
		{"413", 413, nil, nil, push.Rejected, 0, false, "HTTP 413"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			r, reauth := classifyHTTP(tt.status, h, tt.body, now)
			if r.Outcome != tt.want || r.RetryAfter != tt.retryAfter || reauth != tt.reauth || !strings.HasPrefix(r.Reason, tt.reason) {
				t.Errorf("got %+v reauth %v, want %s retryAfter %v reauth %v reason %q…", r, reauth, tt.want, tt.retryAfter, tt.reauth, tt.reason)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"3", 3 * time.Second},
		{"-1", 0},
		{now.Add(time.Minute).Format(http.TimeFormat), time.Minute},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	} {
		h := http.Header{}
		if tc.v != "" {
			h.Set("Retry-After", tc.v)
		}
		if got := retryAfter(h, now); got != tc.want {
			t.Errorf("Retry-After %q = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestClassifyTokenError(t *testing.T) {
	retrieve := func(code int, body string) error {
		return fmt.Errorf("get vendor access token fcm#x: %w", &oauth2.RetrieveError{
			Response: &http.Response{StatusCode: code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))},
			Body:     []byte(body),
		})
	}
	for _, tc := range []struct {
		name   string
		err    error
		want   push.Outcome
		reason string
	}{
		{"deleted key", retrieve(400, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`), push.Auth, "oauth token: HTTP 400 invalid_grant: Invalid JWT Signature."},
		{"disabled account", retrieve(401, `{"error":"invalid_client"}`), push.Auth, "oauth token: HTTP 401 invalid_client"},
		{"token endpoint down", retrieve(503, ``), push.Retryable, "oauth token: HTTP 503"},
		{"rate limited", retrieve(429, ``), push.Retryable, "oauth token: HTTP 429"},
		{"network", errors.New("oauth2: cannot fetch token: dial tcp: connection refused"), push.Retryable, "oauth token: oauth2: cannot fetch token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := classifyTokenError(tc.err)
			if r.Outcome != tc.want || !strings.HasPrefix(r.Reason, tc.reason) {
				t.Errorf("got %+v, want %s %q…", r, tc.want, tc.reason)
			}
		})
	}
}

func TestTokenInvalid(t *testing.T) {
	for msg, want := range map[string]bool{
		"The registration token is not a valid FCM registration token": true,
		"Invalid registration token":                                   true,
		"Request contains an invalid argument.":                        false,
		"Invalid value at 'message.android.ttl'":                       false,
		"":                                                             false,
	} {
		if got := tokenInvalid(msg); got != want {
			t.Errorf("tokenInvalid(%q) = %v", msg, got)
		}
	}
}

func TestGuardSenderMismatch(t *testing.T) {
	mismatch := push.Result{Outcome: push.InvalidToken, Reason: codeSenderIDMismatch + ": wrong sender"}
	unregistered := push.Result{Outcome: push.InvalidToken, Reason: codeUnregistered}
	all := []push.Result{mismatch, mismatch, mismatch}
	guardSenderMismatch(all)
	for _, r := range all {
		if r.Outcome != push.Auth {
			t.Fatalf("every token mismatched: %+v, want Auth", r)
		}
	}
	some := []push.Result{mismatch, unregistered}
	guardSenderMismatch(some)
	if some[0].Outcome != push.InvalidToken || some[1].Outcome != push.InvalidToken {
		t.Fatalf("a mixed send changed: %+v", some)
	}
	one := []push.Result{mismatch}
	guardSenderMismatch(one)
	if one[0].Outcome != push.InvalidToken {
		t.Fatalf("a single mismatch changed: %+v", one)
	}
}
