// Package queue carries bulk-job batches (delivery.Batch) between broadcast
// and message-push: over Amazon SQS in AWS (SQS, with LambdaSQS on the
// consuming side of the event source mapping), and in-process for the local
// server (Local), with the same delivery semantics: delays, redelivery after
// a visibility timeout when the handler fails, and a dead-letter queue after
// too many receives.
package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/offpush/offpush/shared/delivery"
)

// MaxMessageBytes is the largest message this package sends: SQS's limit
// before August 2025, which every queue accepts whatever its
// MaximumMessageSize (SQS now takes up to 1 MiB, but queues and templates that
// set 262,144 keep it). A full batch fits with room to spare: 500 user IDs of
// 128 bytes take about 64 KiB, and at most about 190 KiB whatever their
// characters (see sqsSafe and TestFullBatchFits).
const MaxMessageBytes = 256 << 10

// maxBatchRequestBytes bounds the bodies of one SendMessageBatch call
// together. SQS now allows 1 MiB per call; 256 KiB holds on every queue, and
// ten full batches of short user IDs still fit in one call.
const maxBatchRequestBytes = 256 << 10

// maxBatchEntries is SQS's limit of entries per SendMessageBatch call.
const maxBatchEntries = 10

// MaxDelay is the longest delay SQS gives a message; longer ones are capped.
const MaxDelay = 15 * time.Minute

// ErrTooLarge: a batch's message body would be over MaxMessageBytes. It
// happens only when a retry's Done list is very long; nothing is sent.
var ErrTooLarge = delivery.ErrTooLarge

// ErrClosed: the queue no longer takes messages.
var ErrClosed = errors.New("queue closed")

// encode returns the message body of b, checked against MaxMessageBytes.
//
// HTML escaping is off: Go's default writes '<', '>' and '&' as six-byte
// \u003c escapes, and a batch of 500 128-byte user IDs made of them would
// grow to 385 KiB. With it off, no byte of a user ID takes more than three
// bytes of JSON (see sqsSafe).
func encode(b delivery.Batch) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		return nil, fmt.Errorf("encode batch %d of job %s: %w", b.Batch, b.JobID, err)
	}
	body := sqsSafe(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if len(body) > MaxMessageBytes {
		return nil, fmt.Errorf("%w: batch %d of job %s is %d bytes (%d users, %d devices); the limit is %d",
			ErrTooLarge, b.Batch, b.JobID, len(body), len(b.Users), len(b.Devices), MaxMessageBytes)
	}
	return body, nil
}

// sqsSafe escapes the characters of valid UTF-8 JSON that a queue may refuse
// in a message body. SQS refuses U+FFFE and U+FFFF (it takes #x9, #xA, #xD,
// #x20-#xD7FF, #xE000-#xFFFD and #x10000-#x10FFFF; the JSON encoder already
// escapes the control characters and never writes surrogates). fauxqs also
// refuses everything above U+FFFF, emoji included, so those are written as
// JSON surrogate pairs (\ud83d\ude00): 12 bytes for 4, which a full batch of
// 128-byte user IDs still fits. Such characters can only stand inside JSON
// strings, where escapes are allowed.
func sqsSafe(body []byte) []byte {
	if bytes.IndexFunc(body, func(r rune) bool { return r >= 0xFFFE }) < 0 {
		return body
	}
	out := make([]byte, 0, len(body)+len(body)/2)
	for len(body) > 0 {
		r, n := utf8.DecodeRune(body)
		switch {
		case r == 0xFFFE || r == 0xFFFF:
			out = fmt.Appendf(out, `\u%04x`, r)
		case r >= 0x10000:
			hi, lo := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, hi, lo)
		default:
			out = append(out, body[:n]...)
		}
		body = body[n:]
	}
	return out
}

// delaySeconds turns a delay into SQS's DelaySeconds: whole seconds rounded
// up, so a message is never seen early, and at most 900.
func delaySeconds(d time.Duration) int32 {
	switch {
	case d <= 0:
		return 0
	case d >= MaxDelay:
		return int32(MaxDelay / time.Second)
	}
	return int32((d + time.Second - 1) / time.Second)
}
