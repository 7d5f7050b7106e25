package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretGetter is the part of the Secrets Manager client that LoadAdminKeys
// uses; *secretsmanager.Client satisfies it.
type SecretGetter interface {
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// LoadAdminKeys reads the admin keys from the secret secretARN
// (OFFPUSH_ADMIN_KEYS_SECRET_ARN). The secret is a JSON object
// {"keys": ["k1", "k2"]}, a JSON array ["k1", "k2"], or a plain
// comma-separated list; a binary secret is read as the same text. Call it once
// per container. Errors never include the secret's value.
func LoadAdminKeys(ctx context.Context, sm SecretGetter, secretARN string) (*AdminKeys, error) {
	if sm == nil {
		return nil, errors.New("load admin keys: no Secrets Manager client")
	}
	if secretARN == "" {
		return nil, errors.New("load admin keys: no secret ARN")
	}
	text, err := readSecret(ctx, sm, secretARN)
	if err != nil {
		return nil, fmt.Errorf("load admin keys: %w", err)
	}
	keys, err := parseSecretKeys(text)
	if err != nil {
		return nil, fmt.Errorf("load admin keys from %s: %w", secretARN, err)
	}
	a, err := NewAdminKeys(keys)
	if err != nil {
		return nil, fmt.Errorf("load admin keys from %s: %w", secretARN, err)
	}
	return a, nil
}

// LoadSecretString reads a secret's text, such as the HS256 secret named by
// OFFPUSH_JWT_HS256_SECRET_ARN, with surrounding white space trimmed. Errors
// never include the secret's value.
func LoadSecretString(ctx context.Context, sm SecretGetter, secretARN string) (string, error) {
	if sm == nil {
		return "", errors.New("no Secrets Manager client")
	}
	text, err := readSecret(ctx, sm, secretARN)
	if err != nil {
		return "", err
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return "", fmt.Errorf("secret %s is empty", secretARN)
	}
	return text, nil
}

// readSecret fetches a secret as text; a binary secret is read as the same text.
func readSecret(ctx context.Context, sm SecretGetter, secretARN string) (string, error) {
	if secretARN == "" {
		return "", errors.New("no secret ARN")
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretARN)})
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", secretARN, err)
	}
	switch {
	case out == nil:
	case out.SecretString != nil:
		return *out.SecretString, nil
	case len(out.SecretBinary) > 0:
		return string(out.SecretBinary), nil
	}
	return "", nil
}

// parseSecretKeys reads the three secret formats. JSON errors are replaced by
// fixed messages because encoding/json quotes parts of its input (a stray
// character, a number's text) in its own.
func parseSecretKeys(text string) ([]string, error) {
	s := strings.TrimSpace(text)
	switch {
	case s == "":
		return nil, errors.New("secret is empty")
	case s[0] == '{':
		// "keys" is an array, or one comma-separated string: Secrets
		// Manager's GenerateSecretString can only generate a string value,
		// so a fresh stack's secret is {"keys": "<generated>"}.
		var obj struct {
			Keys json.RawMessage `json:"keys"`
		}
		if err := strictUnmarshal(s, &obj); err != nil || len(obj.Keys) == 0 {
			return nil, errors.New(`secret JSON object has no "keys" array or string`)
		}
		var one string
		if err := strictUnmarshal(string(obj.Keys), &one); err == nil {
			return ParseKeyList(one), nil
		}
		var keys []string
		if err := strictUnmarshal(string(obj.Keys), &keys); err != nil {
			return nil, errors.New(`secret "keys" must be an array of strings or one string`)
		}
		return keys, nil
	case s[0] == '[':
		var keys []string
		if err := strictUnmarshal(s, &keys); err != nil {
			return nil, errors.New("secret is not a valid JSON array of strings")
		}
		return keys, nil
	}
	return ParseKeyList(s), nil
}

// strictUnmarshal decodes exactly one JSON value from s into v.
func strictUnmarshal(s string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// Interface guards
var _ SecretGetter = (*secretsmanager.Client)(nil)
