package queue

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/delivery"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/testinfra/fauxqs"
)

func TestMain(m *testing.M) { os.Exit(fauxqs.Main(m)) }

// fullBatch returns a batch of delivery.MaxBatchUsers distinct user IDs of
// device.MaxUserIDLen bytes, each made of fill (plus a distinct tail).
func fullBatch(fill string) delivery.Batch {
	b := delivery.Batch{JobID: strings.Repeat("j", 128), Batch: 1 << 20, Attempt: 99}
	for i := 0; i < delivery.MaxBatchUsers; i++ {
		tail := []byte{byte('a' + i%26), byte('a' + i/26%26)}
		id := strings.Repeat(fill, (device.MaxUserIDLen-2)/len(fill)) + string(tail)
		b.Users = append(b.Users, id+strings.Repeat("z", device.MaxUserIDLen-len(id)))
	}
	return b
}

func TestFullBatchFits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fill    string
		atMost  int
		htmlBad bool // Go's default json.Marshal would not fit
	}{
		{"plain ASCII", "u", 66 << 10, false},
		// '"' and '\' take two bytes of JSON: the worst case.
		{"quotes", `"`, 130 << 10, false},
		{"backslashes", `\`, 130 << 10, false},
		// json.Marshal writes '<' as \u003c (6 bytes); encode does not.
		{"angle brackets", "<", 66 << 10, true},
		{"line separators", "\u2028", 130 << 10, false},
		{"noncharacters", "\uFFFF", 130 << 10, false},
		// Written as surrogate pairs: 12 bytes for 4, the largest growth.
		{"emoji", "😀", 190 << 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fullBatch(tc.fill)
			for i, u := range b.Users {
				if err := device.ValidateUserID("u", u); err != nil || len(u) != device.MaxUserIDLen {
					t.Fatalf("test user %d (%d bytes) invalid: %v", i, len(u), err)
				}
			}
			body, err := encode(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(body) > tc.atMost || len(body) > MaxMessageBytes {
				t.Fatalf("500 users of 128 bytes encode to %d bytes; want at most %d (limit %d)", len(body), tc.atMost, MaxMessageBytes)
			}
			var back delivery.Batch
			if err := json.Unmarshal(body, &back); err != nil || !reflect.DeepEqual(back, b) {
				t.Fatalf("body does not decode to the batch: %v", err)
			}
			if plain, _ := json.Marshal(b); (len(plain) > MaxMessageBytes) != tc.htmlBad {
				t.Errorf("json.Marshal gives %d bytes; the test expected over the limit: %v", len(plain), tc.htmlBad)
			}
		})
	}
}

func TestBodyHasOnlySQSCharacters(t *testing.T) {
	body, err := encode(delivery.Batch{JobID: "j", Batch: 1, Attempt: 1, Users: []string{"a\uFFFEb\uFFFFc\u2028d<&>\"\\é😀"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range string(body) {
		// SQS also takes #x10000-#x10FFFF; fauxqs does not.
		if !(r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD)) {
			t.Fatalf("body %q holds %U, which SQS or fauxqs refuses", body, r)
		}
	}
	var back delivery.Batch
	if err := json.Unmarshal(body, &back); err != nil || back.Users[0] != "a\uFFFEb\uFFFFc\u2028d<&>\"\\é😀" {
		t.Fatalf("decoded %q, %v", back.Users, err)
	}
}

func TestTooLarge(t *testing.T) {
	b := fullBatch("u")
	for i := 0; i < 2000; i++ {
		b.Devices = append(b.Devices, b.Users[i%len(b.Users)]+"/"+strings.Repeat("d", device.MaxDeviceIDLen))
	}
	_, err := encode(b)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "2000 devices") {
		t.Fatalf("encode = %v; want ErrTooLarge naming the devices", err)
	}
}

func TestDelaySeconds(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want int32
	}{
		{-time.Second, 0},
		{0, 0},
		{time.Nanosecond, 1},
		{time.Second, 1},
		{1500 * time.Millisecond, 2},
		{30 * time.Second, 30},
		{15 * time.Minute, 900},
		{15*time.Minute + time.Nanosecond, 900},
		{time.Duration(1<<63 - 1), 900},
	} {
		if got := delaySeconds(tc.in); got != tc.want {
			t.Errorf("delaySeconds(%s) = %d; want %d", tc.in, got, tc.want)
		}
	}
}

func TestChunks(t *testing.T) {
	body := func(n int) []byte { return make([]byte, n) }
	var small [][]byte
	for i := 0; i < 23; i++ {
		small = append(small, body(100))
	}
	if got := chunks(small); len(got) != 3 || len(got[0]) != 10 || len(got[1]) != 10 || len(got[2]) != 3 {
		t.Fatalf("23 small bodies: chunks %v; want 10, 10, 3", got)
	}
	// Full batches of 128-byte IDs (~64 KiB) fit three to a call.
	var big [][]byte
	for i := 0; i < 7; i++ {
		big = append(big, body(66<<10))
	}
	got := chunks(big)
	seen := 0
	for _, c := range got {
		size := 0
		for _, i := range c {
			if i != seen {
				t.Fatalf("chunks out of order: %v", got)
			}
			seen++
			size += len(big[i])
		}
		if size > maxBatchRequestBytes || len(c) > maxBatchEntries {
			t.Fatalf("chunk %v holds %d bytes", c, size)
		}
	}
	if seen != len(big) || len(got) != 3 {
		t.Fatalf("7 bodies of 66 KiB: chunks %v; want 3 calls holding all", got)
	}
}
