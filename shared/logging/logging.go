// Package logging builds offpush's slog logger: JSON through aws-lambda-go's
// lambdacontext handler inside Lambda (each line carries the request ID),
// and a plain text or JSON handler on stderr elsewhere.
package logging

import (
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// New returns the logger for this environment. OFFPUSH_LOG_FORMAT=json
// selects JSON outside Lambda; OFFPUSH_LOG_LEVEL sets the level (debug,
// info, warn, error) outside Lambda, where AWS_LAMBDA_LOG_LEVEL rules.
func New(getenv func(string) string) *slog.Logger {
	if getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		return lambdacontext.NewLogger()
	}
	return NewWriter(os.Stderr, getenv("OFFPUSH_LOG_FORMAT"), getenv("OFFPUSH_LOG_LEVEL"))
}

// NewWriter returns a logger writing to w in format ("json" or text) at level.
func NewWriter(w io.Writer, format, level string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: parseLevel(level)}
	if strings.EqualFold(format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
