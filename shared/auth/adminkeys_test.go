package auth

import (
	"slices"
	"strings"
	"testing"
)

const (
	adminKeyOld = "old-admin-key-0123456789"
	adminKeyNew = "new-admin-key-9876543210"
)

func TestAdminKeysCheck(t *testing.T) {
	a, err := NewAdminKeys([]string{adminKeyOld, adminKeyNew})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  string
		want bool
	}{
		{"old key during rotation", adminKeyOld, true},
		{"new key during rotation", adminKeyNew, true},
		{"wrong key", "wrong-admin-key-000000000", false},
		{"prefix of a key", adminKeyOld[:20], false},
		{"key with a suffix", adminKeyOld + "x", false},
		{"other case", strings.ToUpper(adminKeyOld), false},
		{"empty", "", false},
		{"both keys joined", adminKeyOld + "," + adminKeyNew, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.Check(tc.key); got != tc.want {
				t.Fatalf("Check(%q) = %v, want %v", tc.key, got, tc.want)
			}
		})
	}
	t.Run("nil keys", func(t *testing.T) {
		var none *AdminKeys
		if none.Check(adminKeyOld) {
			t.Fatal("nil AdminKeys accepted a key")
		}
	})
	t.Run("after rotation", func(t *testing.T) {
		b, err := NewAdminKeys([]string{adminKeyNew})
		if err != nil {
			t.Fatal(err)
		}
		if b.Check(adminKeyOld) {
			t.Fatal("withdrawn key accepted")
		}
		if !b.Check(adminKeyNew) {
			t.Fatal("current key rejected")
		}
	})
}

func TestNewAdminKeysErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []string
	}{
		{"nil list", nil},
		{"empty list", []string{}},
		{"empty key", []string{""}},
		{"15 bytes", []string{"fifteen-bytes-k"}},
		{"one short key among good ones", []string{adminKeyOld, "short-key"}},
		{"space inside", []string{"admin key with spaces"}},
		{"control character", []string{"admin-key-0123456\n789"}},
		{"non-ASCII", []string{"admin-key-0123456789-ключ"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewAdminKeys(tc.keys)
			if err == nil {
				t.Fatalf("NewAdminKeys accepted %q", tc.keys)
			}
			if a != nil {
				t.Errorf("non-nil AdminKeys with error")
			}
			for _, k := range tc.keys {
				if k != "" && strings.Contains(err.Error(), k) {
					t.Errorf("error %q leaks a key", err)
				}
			}
		})
	}
	t.Run("16 bytes accepted", func(t *testing.T) {
		a, err := NewAdminKeys([]string{"sixteen-bytes-ky"})
		if err != nil {
			t.Fatal(err)
		}
		if !a.Check("sixteen-bytes-ky") {
			t.Fatal("key rejected")
		}
	})
}

func TestParseKeyList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{",,", nil},
		{"k1", []string{"k1"}},
		{"k1,k2", []string{"k1", "k2"}},
		{" k1 , k2 ,", []string{"k1", "k2"}},
		{"\tk1,\n k2\n", []string{"k1", "k2"}},
		{"k1,,k2", []string{"k1", "k2"}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := ParseKeyList(tc.in); !slices.Equal(got, tc.want) {
				t.Fatalf("ParseKeyList(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
