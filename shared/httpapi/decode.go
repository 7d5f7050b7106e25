package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Request body limits of the API contract.
const (
	AppBodyLimit   = 16 << 10
	AdminBodyLimit = 1 << 20
)

// DecodeOptions says how a body is decoded.
type DecodeOptions struct {
	// Limit is the largest body accepted (413 past it).
	Limit int64
	// Strict rejects unknown fields (admin routes); app routes ignore them so
	// that old app builds keep working.
	Strict bool
	// Optional accepts an empty body, leaving dst as it is.
	Optional bool
}

// Decode reads r's JSON body into dst, with the contract's errors: 415 for a
// body that is not application/json, 413 over the limit, 400 naming the
// field for malformed JSON or a wrong type.
func Decode(w http.ResponseWriter, r *http.Request, dst any, o DecodeOptions) error {
	// A required body must be declared JSON, even when empty; an optional
	// one only when present (clients often label an empty body as a form).
	if !o.Optional && !isJSON(r) {
		return unsupported()
	}
	if r.ContentLength > o.Limit {
		return tooLarge(o.Limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, o.Limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(o.Limit)
		}
		return BadRequest("", "could not read the request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if o.Optional {
			return nil
		}
		return BadRequest("", "request body is required")
	}
	if o.Optional && r.Header.Get("Content-Type") != "" && !isJSON(r) {
		return unsupported()
	}
	return DecodeBytes(body, dst, o.Strict)
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func unsupported() error {
	return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType, Message: "Content-Type must be application/json"}
}

func tooLarge(limit int64) error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge, Message: "request body is larger than " + formatSize(limit)}
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// DecodeBytes decodes one JSON value from body into dst, naming the field
// of any type error. It is separate from Decode so the fuzz target can reach
// it without HTTP plumbing.
func DecodeBytes(body []byte, dst any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return BadRequest("", "request body must hold a single JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return BadRequest("", "malformed JSON at byte %d", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("", "malformed JSON: unexpected end")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return BadRequest("", "request body must be a JSON object")
		}
		return BadRequest(field, "must be %s", describeType(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return BadRequest(field, "unknown field")
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe
	}
	return BadRequest("", "malformed JSON")
}

func describeType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer in range"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	}
	return "of another type"
}
