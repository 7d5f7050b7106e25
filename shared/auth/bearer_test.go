package auth

import "testing"

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		want   string
		ok     bool
	}{
		{"canonical", "Bearer abc.def.ghi", "abc.def.ghi", true},
		{"lower-case scheme", "bearer abc", "abc", true},
		{"upper-case scheme", "BEARER abc", "abc", true},
		{"several spaces", "Bearer    abc", "abc", true},
		{"surrounding whitespace", "  Bearer abc \t", "abc", true},
		{"admin key characters", "Bearer k_-.~+/=0123456789", "k_-.~+/=0123456789", true},
		{"missing", "", "", false},
		{"scheme only", "Bearer", "", false},
		{"scheme and spaces", "Bearer    ", "", false},
		{"no space", "Bearerabc", "", false},
		{"tab instead of space", "Bearer\tabc", "", false},
		{"other scheme", "Basic YWxpY2U6c2VjcmV0", "", false},
		{"token alone", "abc.def.ghi", "", false},
		{"space inside token", "Bearer abc def", "", false},
		{"control character", "Bearer abc\x00def", "", false},
		{"non-ASCII", "Bearer abcé", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := BearerToken(tc.header)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("BearerToken(%q) = %q, %v; want %q, %v", tc.header, got, ok, tc.want, tc.ok)
			}
		})
	}
}
