package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/offpush/offpush/shared/auth"
)

// HandlerFunc is an API handler: it writes a success response, or returns an
// error that Handle turns into the JSON error body.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// UserVerifier verifies an app's bearer JWT and returns the user ID.
type UserVerifier interface {
	Verify(ctx context.Context, bearer string) (string, error)
}

// AdminChecker checks an admin key.
type AdminChecker interface {
	Check(bearer string) bool
}

// Deps are what the handlers need; the function mains build them once per
// container.
type Deps struct {
	Users  UserVerifier
	Admins AdminChecker
	Log    *slog.Logger
}

type ctxKey int

const (
	userKey ctxKey = iota
	logKey
)

// UserID is the authenticated app user of a request behind App.
func UserID(ctx context.Context) string {
	s, _ := ctx.Value(userKey).(string)
	return s
}

// requestLog is what the access log line learns while a request runs.
type requestLog struct{ user string }

// Handle adapts fn to http.Handler, writing any error it returns.
func (d Deps) Handle(fn HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			WriteError(w, r, d.Log, err)
		}
	})
}

// App guards fn with app JWT authentication; the user ID is then in the
// request context (UserID).
func (d Deps) App(fn HandlerFunc) http.Handler {
	return d.Handle(func(w http.ResponseWriter, r *http.Request) error {
		token, ok := auth.BearerToken(r.Header.Get("Authorization"))
		if !ok {
			return Unauthenticated("missing bearer token")
		}
		user, err := d.Users.Verify(r.Context(), token)
		if err != nil {
			return Unauthenticated(authReason(err))
		}
		if rl, ok := r.Context().Value(logKey).(*requestLog); ok {
			rl.user = user
		}
		return fn(w, r.WithContext(context.WithValue(r.Context(), userKey, user)))
	})
}

// Admin guards fn with an admin key.
func (d Deps) Admin(fn HandlerFunc) http.Handler {
	return d.Handle(func(w http.ResponseWriter, r *http.Request) error {
		key, ok := auth.BearerToken(r.Header.Get("Authorization"))
		if !ok {
			return Unauthenticated("missing bearer token")
		}
		if d.Admins == nil || !d.Admins.Check(key) {
			return Unauthenticated("invalid admin key")
		}
		return fn(w, r)
	})
}

// authReason is the caller-safe text of a verification error.
func authReason(err error) string {
	var e *auth.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return "invalid credential"
}

// statusWriter records the status a handler wrote, for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Middleware wraps the whole router: it turns an unmatched route into the
// JSON 404, a wrong method into the JSON 405, recovers panics as 500, and
// writes one log line per request.
func Middleware(log *slog.Logger, mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		rl := &requestLog{}
		r = r.WithContext(context.WithValue(r.Context(), logKey, rl))
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(r.Context(), "handler panic", "method", r.Method, "path", r.URL.Path, "panic", p)
				if sw.status == 0 {
					WriteError(sw, r, log, &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"})
				}
			}
			log.InfoContext(r.Context(), "request", "method", r.Method, "route", r.Pattern, "status", sw.status,
				"durationMs", time.Since(start).Milliseconds(), "user", rl.user)
		}()
		h, pattern := mux.Handler(r)
		if pattern == "" {
			// The mux answers unmatched paths and methods with plain text;
			// give them the contract's JSON body instead.
			rec := &probeWriter{header: http.Header{}}
			h.ServeHTTP(rec, r)
			switch rec.status {
			case http.StatusMethodNotAllowed:
				if allow := rec.header.Get("Allow"); allow != "" {
					sw.Header().Set("Allow", allow)
				}
				WriteError(sw, r, log, &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "method " + r.Method + " is not allowed here"})
			case http.StatusNotFound:
				WriteError(sw, r, log, NotFound("no route for %s %s", r.Method, r.URL.Path))
			default:
				// Redirects (path cleaning) pass through as the mux wrote them.
				for k, v := range rec.header {
					sw.Header()[k] = v
				}
				sw.WriteHeader(rec.status)
			}
			return
		}
		mux.ServeHTTP(sw, r)
	})
}

// probeWriter captures what the mux writes for an unmatched request.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header         { return p.header }
func (p *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *probeWriter) WriteHeader(code int)        { p.status = code }
