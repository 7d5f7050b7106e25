package fcm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"firebase.google.com/go/v4/errorutils"
	"golang.org/x/oauth2"

	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/internal/vendorutil"
)

// FCM error codes: details[@type=FcmError].errorCode of an error answer
// (ErrorCode reference).
const (
	codeUnregistered     = "UNREGISTERED"
	codeSenderIDMismatch = "SENDER_ID_MISMATCH"
	codeInvalidArgument  = "INVALID_ARGUMENT"
	codeQuotaExceeded    = "QUOTA_EXCEEDED"
	codeUnavailable      = "UNAVAILABLE"
	codeInternal         = "INTERNAL"
	codeThirdPartyAuth   = "THIRD_PARTY_AUTH_ERROR"
	codeAPNsAuth         = "APNS_AUTH_ERROR" // the older name; the SDK treats it as THIRD_PARTY_AUTH_ERROR
	codeUnspecified      = "UNSPECIFIED_ERROR"

	fcmErrorType = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
)

// QuotaRetryAfter is the delay for QUOTA_EXCEEDED without Retry-After: FCM
// asks to retry "using exponential backoff with a minimum initial delay of 1
// minute"; the quota refills in the following minute.
const QuotaRetryAfter = time.Minute

// errorBody is Google's error answer.
type errorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type      string `json:"@type"`
			ErrorCode string `json:"errorCode"`
		} `json:"details"`
	} `json:"error"`
}

// classify maps a failed send onto a result. reauth reports that FCM refused
// the access token itself, so a new one may succeed.
func (c *Client) classify(ctx context.Context, a *attempt, err error) (r push.Result, reauth bool) {
	switch {
	case a.tokenErr != nil:
		return classifyTokenError(a.tokenErr), false
	case a.netErr != nil:
		return push.Result{Outcome: push.Retryable, Reason: "transport: " + truncate(a.netErr.Error(), 200)}, false
	case a.stopped && a.status != 0:
		return classifyHTTP(a.status, a.header, a.body, c.now())
	}
	if resp := errorutils.HTTPResponse(err); resp != nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return classifyHTTP(resp.StatusCode, resp.Header, body, c.now())
	}
	if ctx.Err() != nil {
		return push.Result{Outcome: push.Retryable, Reason: "not sent: " + ctx.Err().Error()}, false
	}
	// Left: the SDK's own message checks (Build keeps to them) or an
	// unreadable success answer. Retrying the same message will not help.
	return push.Result{Outcome: push.Rejected, Reason: "fcm sdk: " + truncate(err.Error(), 200)}, false
}

// classifyTokenError maps a failure to get an access token. The token
// endpoint refusing the service account (invalid_grant for a deleted key,
// invalid_client, …) is a credential problem; anything else (network,
// 5xx, 429) passes.
func classifyTokenError(err error) push.Result {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		code := re.Response.StatusCode
		reason := fmt.Sprintf("oauth token: HTTP %d", code)
		// x/oauth2/jwt leaves the RFC 6749 error fields to the caller.
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(re.Body, &oe)
		if oe.Error != "" {
			reason += " " + truncate(oe.Error, 50)
		}
		if oe.Description != "" {
			reason += ": " + truncate(oe.Description, 200)
		}
		if code >= 400 && code < 500 && code != http.StatusTooManyRequests && code != http.StatusRequestTimeout {
			return push.Result{Outcome: push.Auth, Reason: reason}
		}
		return push.Result{Outcome: push.Retryable, Reason: reason, RetryAfter: retryAfter(re.Response.Header, time.Now())}
	}
	return push.Result{Outcome: push.Retryable, Reason: "oauth token: " + truncate(err.Error(), 200)}
}

// classifyHTTP maps an FCM error answer onto a result (vendor-apis.md §3):
//
//	UNREGISTERED (404)                       InvalidToken
//	SENDER_ID_MISMATCH (403)                 InvalidToken
//	INVALID_ARGUMENT (400), token invalid    InvalidToken
//	INVALID_ARGUMENT (400), anything else    Rejected
//	QUOTA_EXCEEDED (429)                     Retryable, Retry-After else 1 minute
//	UNAVAILABLE (503), INTERNAL (500)        Retryable, Retry-After if given
//	UNSPECIFIED_ERROR                        Retryable
//	THIRD_PARTY_AUTH_ERROR (401)             Auth
//	401 without an FCM code                  Auth, after one retry with a new token
//	403 without an FCM code                  Auth
//	429, 5xx without an FCM code             Retryable
//	other 4xx                                Rejected
//
// QUOTA_EXCEEDED is Retryable, not Quota: FCM's quota is per minute and
// refills in the following minute, where push.Quota means "not today".
func classifyHTTP(status int, header http.Header, body []byte, now time.Time) (push.Result, bool) {
	var eb errorBody
	_ = json.Unmarshal(body, &eb) // an unreadable body leaves the HTTP status to decide
	var code string
	for _, d := range eb.Error.Details {
		if d.Type == fcmErrorType && d.ErrorCode != "" {
			code = d.ErrorCode
			break
		}
	}
	msg := truncate(eb.Error.Message, 200)
	reason := code
	if reason == "" {
		reason = eb.Error.Status
	}
	if reason == "" {
		reason = "HTTP " + strconv.Itoa(status)
	}
	if msg != "" {
		reason += ": " + msg
	}
	ra := retryAfter(header, now)
	result := func(o push.Outcome) push.Result { return push.Result{Outcome: o, Reason: reason} }
	retry := func(d time.Duration) push.Result {
		return push.Result{Outcome: push.Retryable, Reason: reason, RetryAfter: d}
	}

	switch code {
	case codeUnregistered, codeSenderIDMismatch:
		return result(push.InvalidToken), false
	case codeInvalidArgument:
		if tokenInvalid(eb.Error.Message) {
			return result(push.InvalidToken), false
		}
		return result(push.Rejected), false
	case codeQuotaExceeded:
		if ra <= 0 {
			ra = QuotaRetryAfter
		}
		return retry(ra), false
	case codeUnavailable, codeInternal, codeUnspecified:
		return retry(ra), false
	case codeThirdPartyAuth, codeAPNsAuth:
		return result(push.Auth), false
	}

	// No FCM code (or one this client does not know): the HTTP status and
	// Google's canonical status decide. That 401 and 403 without an FCM code
	// mean the OAuth token or the service account's permission is general
	// Google API behaviour; FCM's error reference does not list them.
	switch {
	case status == http.StatusUnauthorized:
		// UNAUTHENTICATED: the access token was refused (expired or
		// revoked). A new token may do; the service account may also be
		// disabled, which the second try shows.
		return result(push.Auth), true
	case status == http.StatusForbidden:
		// PERMISSION_DENIED: the service account may not send for this
		// project, or the FCM API is disabled.
		return result(push.Auth), false
	case status == http.StatusTooManyRequests:
		if ra <= 0 {
			ra = QuotaRetryAfter
		}
		return retry(ra), false
	case status >= 500 || status == http.StatusRequestTimeout:
		return retry(ra), false
	case status == http.StatusBadRequest && eb.Error.Status == codeInvalidArgument && tokenInvalid(eb.Error.Message):
		return result(push.InvalidToken), false
	}
	return result(push.Rejected), false
}

// tokenInvalid reports whether an INVALID_ARGUMENT message says the
// registration token is malformed ("The registration token is not a valid
// FCM registration token"), the one INVALID_ARGUMENT that means the token
// must go rather than the request be fixed.
func tokenInvalid(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "registration token") && (strings.Contains(m, "not a valid") || strings.Contains(m, "invalid"))
}

// retryAfter reads Retry-After: seconds or an HTTP date; 0 when absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	return vendorutil.RetryAfterHeader(h, now)
}
