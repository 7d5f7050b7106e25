package vendorutil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/offpush/offpush/shared/push"
)

// maxTokenAnswer bounds how much of a token endpoint's answer is read.
const maxTokenAnswer = 64 << 10

// AuthError is a failure to get an access token. Retryable marks a token
// service that failed (5xx, 429, unreachable) rather than refused the
// credentials.
type AuthError struct {
	Retryable bool
	Msg       string
}

func (e *AuthError) Error() string { return e.Msg }

// TokenFailure maps a failure to get an access token onto a result:
// refused credentials are Auth (never a token problem); a token service
// that is down or unreachable is Retryable.
func TokenFailure(vendor string, err error) push.Result {
	var ae *AuthError
	if errors.As(err, &ae) && !ae.Retryable {
		return push.Result{Outcome: push.Auth, Reason: vendor + " oauth: " + ae.Msg}
	}
	return push.Result{Outcome: push.Retryable, Reason: vendor + " oauth: " + err.Error()}
}

// ClientCredentials gets an OAuth 2 access token with the client
// credentials grant (Huawei, Honor). A refusal's "error" field may be a
// string or, in Huawei's answers, a number; both are read. An answer
// without expires_in gets the fallback lifetime.
func ClientCredentials(ctx context.Context, client *http.Client, tokenURL, clientID, secret string, fallback time.Duration) (string, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("build oauth request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, &AuthError{Retryable: true, Msg: err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer))
	if err != nil {
		return "", 0, &AuthError{Retryable: true, Msg: "read oauth answer: " + err.Error()}
	}
	var t struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   int64           `json:"expires_in"`
		Error       json.RawMessage `json:"error"`
		Description string          `json:"error_description"`
	}
	_ = json.Unmarshal(body, &t)
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return "", 0, &AuthError{Retryable: true, Msg: "http " + strconv.Itoa(resp.StatusCode)}
	case resp.StatusCode != http.StatusOK || len(t.Error) > 0 || t.AccessToken == "":
		msg := "http " + strconv.Itoa(resp.StatusCode)
		if len(t.Error) > 0 {
			msg += " " + strings.Trim(string(t.Error), `"`)
		}
		if t.Description != "" {
			msg += ": " + t.Description
		}
		return "", 0, &AuthError{Msg: msg}
	}
	life := time.Duration(t.ExpiresIn) * time.Second
	if life <= 0 {
		life = fallback
	}
	return t.AccessToken, life, nil
}
