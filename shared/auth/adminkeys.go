package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

// MinAdminKeyLen is the shortest admin key accepted.
const MinAdminKeyLen = 16

// AdminKeys holds the admin keys that are valid at once. Several may be
// configured so that a new key can be rolled out before the old one is
// withdrawn. Only SHA-256 digests are kept.
type AdminKeys struct {
	digests [][sha256.Size]byte
}

// NewAdminKeys accepts a non-empty list of keys, each at least
// MinAdminKeyLen bytes of printable ASCII without spaces (what a bearer
// credential can carry). Errors name a key by its position, never by value.
func NewAdminKeys(keys []string) (*AdminKeys, error) {
	if len(keys) == 0 {
		return nil, errors.New("admin keys: none configured")
	}
	a := &AdminKeys{digests: make([][sha256.Size]byte, 0, len(keys))}
	for i, k := range keys {
		if len(k) < MinAdminKeyLen {
			return nil, fmt.Errorf("admin keys: key %d is shorter than %d bytes", i+1, MinAdminKeyLen)
		}
		if !isTokenText(k) {
			return nil, fmt.Errorf("admin keys: key %d has characters other than printable ASCII without spaces", i+1)
		}
		a.digests = append(a.digests, sha256.Sum256([]byte(k)))
	}
	return a, nil
}

// Check reports whether key (the part after "Bearer ", see BearerToken) is
// one of the configured admin keys. It compares SHA-256 digests in constant
// time and always visits every configured key, so neither the key's content
// nor which key matched shows in the timing.
func (a *AdminKeys) Check(key string) bool {
	if a == nil || key == "" {
		return false
	}
	d := sha256.Sum256([]byte(key))
	match := 0
	for i := range a.digests {
		match |= subtle.ConstantTimeCompare(d[:], a.digests[i][:])
	}
	return match == 1
}

// ParseKeyList splits a comma-separated list (OFFPUSH_ADMIN_KEYS), trimming
// spaces around each item and dropping empty ones.
func ParseKeyList(s string) []string {
	var out []string
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// isTokenText reports whether s is visible ASCII (0x21–0x7e): no spaces,
// no control characters, nothing outside ASCII.
func isTokenText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
