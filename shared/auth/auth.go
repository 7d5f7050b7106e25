// Package auth authenticates offpush's callers: apps with a JWT whose `sub`
// is the user ID (HS256 with a shared secret, or RS256/ES256 with keys from a
// JWKS URL), and operators with admin keys compared in constant time, several
// of which may be valid at once so that keys can be rotated. Admin keys come
// from the environment locally and from AWS Secrets Manager on Lambda.
//
// Every authentication failure wraps ErrUnauthenticated, so the HTTP layer
// maps it to 401 with errors.Is, and its message is a short reason that is
// safe to show the caller.
package auth

import "errors"

// ErrUnauthenticated is wrapped by every error that Verifier.Verify returns:
// a missing, malformed, expired or badly signed credential.
var ErrUnauthenticated = errors.New("unauthenticated")

// Error is a rejected credential. Reason is short and safe to return to the
// caller ("token expired", "bad signature", "missing sub"); it never carries
// key material or token contents. The underlying cause, if any, stays
// reachable with errors.Is and errors.As for logs but is not part of Error().
type Error struct {
	Reason string
	cause  error
}

func (e *Error) Error() string { return "unauthenticated: " + e.Reason }

// Unwrap returns ErrUnauthenticated and, when there is one, the cause.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrUnauthenticated}
	}
	return []error{ErrUnauthenticated, e.cause}
}

func reject(reason string, cause error) error {
	return &Error{Reason: reason, cause: cause}
}
