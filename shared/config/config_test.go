package config

import (
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadDefaults(t *testing.T) {
	local, err := Load(envOf(nil), Local)
	if err != nil {
		t.Fatal(err)
	}
	if local.Store != "file:.offpush/data.db" || local.Queue != "local" || local.VendorMode != "capture" || local.Addr != "127.0.0.1:8080" || local.TablePrefix != "offpush-" {
		t.Fatalf("local defaults: %+v", local)
	}
	lambda, err := Load(envOf(nil), Lambda)
	if err != nil {
		t.Fatal(err)
	}
	if lambda.Store != "dynamodb" || lambda.Queue != "sqs" || lambda.VendorMode != "live" || lambda.CreateTables {
		t.Fatalf("lambda defaults: %+v", lambda)
	}
}

func TestLoadReadsContractVariables(t *testing.T) {
	c, err := Load(envOf(map[string]string{
		"OFFPUSH_STORE": "memory", "OFFPUSH_TABLE_PREFIX": "t-", "OFFPUSH_ADMIN_KEYS": " k1-0123456789abcdef , k2-0123456789abcdef,",
		"OFFPUSH_CREATE_TABLES": "true", "OFFPUSH_MAX_DEVICES": "5", "OFFPUSH_JWT_ISSUER": "iss", "OFFPUSH_JWT_AUDIENCE": "aud",
		"OFFPUSH_JWT_JWKS_URL": "https://id.example.com/jwks.json", "OFFPUSH_JWT_HS256_SECRET_ARN": "  ",
	}), Lambda)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store != "memory" || c.TablePrefix != "t-" || len(c.AdminKeys) != 2 || !c.CreateTables || c.MaxDevices != 5 ||
		c.JWTIssuer != "iss" || c.JWTAudience != "aud" || c.JWKSURL == "" || c.JWTSecretARN != "" {
		t.Fatalf("config: %+v", c)
	}
}

func TestLoadRejects(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"OFFPUSH_STORE":         {"OFFPUSH_STORE": "redis"},
		"OFFPUSH_STORE ":        {"OFFPUSH_STORE": "file:"},
		"OFFPUSH_QUEUE":         {"OFFPUSH_QUEUE": "kafka"},
		"OFFPUSH_VENDOR_MODE":   {"OFFPUSH_VENDOR_MODE": "dry"},
		"OFFPUSH_CREATE_TABLES": {"OFFPUSH_CREATE_TABLES": "yes please"},
		"OFFPUSH_MAX_DEVICES":   {"OFFPUSH_MAX_DEVICES": "0"},
	} {
		_, err := Load(envOf(env), Local)
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(name)) {
			t.Errorf("%s: error %v, want one naming the variable", name, err)
		}
	}
}
