// Package scrub provides per-tenant redaction of secrets and personal data
// in log events: rules (sensitive keys, built-in value detectors such as
// Luhn-valid card numbers, bearer tokens and AWS access keys, and custom
// regular expressions), their compiled form, and a table of every tenant's
// compiled rules kept current from a KV watch.
//
// It must not do I/O, publish metrics or log: callers count what it reports.
package scrub

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Replacement is what a redacted value, or the redacted span of a value,
// becomes.
const Replacement = "[REDACTED]"

// Limits on tenant-supplied rules, so one tenant cannot slow every edge.
const (
	MaxKeys         = 200
	MaxKeyBytes     = 64
	MaxPatterns     = 20
	MaxPatternBytes = 512
	maxPatternName  = 40
)

// DefaultKeys are the attribute keys whose values are redacted for tenants
// without rules of their own.
var DefaultKeys = []string{
	"password", "passwd", "pwd", "secret", "client_secret", "secret_key", "private_key",
	"token", "access_token", "refresh_token", "id_token", "auth_token", "csrf_token", "csrftoken",
	"api_key", "apikey", "x_api_key", "authorization", "proxy_authorization",
	"cookie", "set_cookie", "session", "sessionid", "session_id",
	"card_number", "cardnumber", "cc_number", "ccnumber", "credit_card", "creditcard",
	"credit_card_number", "cvv", "cvc", "card_cvv",
}

// Rules is one tenant's scrubbing configuration, as stored (JSON) in the
// scrubbing KV bucket and edited at /v1/scrubbing.
type Rules struct {
	// Keys are attribute keys whose whole value is replaced (and whose
	// numeric attribute is dropped). A key matches the last segment of a
	// dotted attribute key ("request.headers.Authorization" matches
	// "authorization"), case-insensitively, with '-' and '_' equivalent.
	Keys []string `json:"keys"`
	// CardNumbers redacts digit runs of 13–19 digits (optionally grouped
	// by spaces or dashes) that start like a card number and pass Luhn.
	CardNumbers bool `json:"card_numbers"`
	// BearerTokens redacts the token after "Bearer " (the word is kept).
	BearerTokens bool `json:"bearer_tokens"`
	// AWSKeys redacts AWS access key ids (AKIA…/ASIA… and 16 more
	// upper-case letters or digits).
	AWSKeys bool `json:"aws_keys"`
	// Emails redacts e-mail addresses. Off by default.
	Emails bool `json:"emails"`
	// Patterns are custom regular expressions (RE2 syntax); every match is
	// replaced.
	Patterns []Pattern `json:"patterns"`
}

// Pattern is a named custom regular expression.
type Pattern struct {
	Name   string `json:"name"`
	Regexp string `json:"regexp"`
}

// Defaults returns the rules that apply to a tenant without its own: the
// DefaultKeys, card numbers, bearer tokens and AWS keys; no e-mails, no
// custom patterns.
func Defaults() Rules {
	return Rules{
		Keys:         append([]string(nil), DefaultKeys...),
		CardNumbers:  true,
		BearerTokens: true,
		AWSKeys:      true,
	}
}

// Validate reports the first problem with r, in words a client can act on,
// or nil. It compiles every pattern.
func (r Rules) Validate() error {
	_, err := Compile(r)
	return err
}

// Compile checks r and returns its compiled form. Errors name the offending
// key or pattern.
func Compile(r Rules) (*Scrubber, error) {
	if len(r.Keys) > MaxKeys {
		return nil, fmt.Errorf("%d keys, at most %d", len(r.Keys), MaxKeys)
	}
	s := &Scrubber{rules: r, keys: make(map[string]struct{}, len(r.Keys))}
	for i, k := range r.Keys {
		if k == "" || len(k) > MaxKeyBytes {
			return nil, fmt.Errorf("keys[%d]: must be 1 to %d bytes", i, MaxKeyBytes)
		}
		if strings.ContainsRune(k, '.') {
			return nil, fmt.Errorf("keys[%d] %q: give the last segment only (no '.'): keys match the last segment of dotted attribute keys", i, k)
		}
		var buf [MaxKeyBytes]byte
		s.keys[string(foldKey(buf[:0], k))] = struct{}{}
		h := keyHash(k)
		s.keyBloom[h/64] |= 1 << (h % 64)
	}
	if len(r.Patterns) > MaxPatterns {
		return nil, fmt.Errorf("%d patterns, at most %d", len(r.Patterns), MaxPatterns)
	}
	for i, p := range r.Patterns {
		re, err := compilePattern(p)
		if err != nil {
			return nil, fmt.Errorf("patterns[%d]: %w", i, err)
		}
		s.patterns = append(s.patterns, re)
	}
	if len(s.keys) > 0 {
		// Inline key=value pairs first, so a value goes whole.
		s.detectors = append(s.detectors, detector{RuleKey, len("pwd=x"), s.nextKeyValue})
	}
	s.detectors = append(s.detectors, detectorsFor(r)...)
	return s, nil
}

func compilePattern(p Pattern) (*regexp.Regexp, error) {
	if p.Name == "" || len(p.Name) > maxPatternName {
		return nil, fmt.Errorf("name must be 1 to %d characters", maxPatternName)
	}
	if p.Regexp == "" || len(p.Regexp) > MaxPatternBytes {
		return nil, fmt.Errorf("%s: regexp must be 1 to %d bytes", p.Name, MaxPatternBytes)
	}
	re, err := regexp.Compile(p.Regexp)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%s: invalid regexp: %s: %q", p.Name, se.Code, se.Expr)
		}
		return nil, fmt.Errorf("%s: invalid regexp: %w", p.Name, err)
	}
	if re.MatchString("") {
		return nil, fmt.Errorf("%s: regexp matches the empty string; it would redact between every character", p.Name)
	}
	return re, nil
}

// foldKey appends the canonical form of key to dst: ASCII lower case, '-'
// as '_'.
func foldKey(dst []byte, key string) []byte {
	for i := 0; i < len(key); i++ {
		dst = append(dst, foldByte(key[i]))
	}
	return dst
}
