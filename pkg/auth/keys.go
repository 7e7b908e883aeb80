package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"strings"
	"time"
)

// Scope is a permission an API key or session carries.
type Scope string

// The scopes.
const (
	ScopeIngest Scope = "ingest" // ship logs
	ScopeQuery  Scope = "query"  // search, aggregate, tail
	ScopeAdmin  Scope = "admin"  // manage keys and account settings
	// ScopeOperator is Sawmill's operators' scope (OperatorService). Only
	// the configured operator credential (Authenticator.OperatorKey) carries
	// it: ParseScope does not know it, so no API key or session can be
	// granted it.
	ScopeOperator Scope = "operator"
)

// ParseScope reports whether s names a scope.
func ParseScope(s string) (Scope, bool) {
	switch Scope(s) {
	case ScopeIngest, ScopeQuery, ScopeAdmin:
		return Scope(s), true
	}
	return "", false
}

// Key is an API key as stored in the keys KV bucket (JSON), keyed by ID. The
// secret itself is never stored: only its SHA-256, which is enough for keys of
// 160 random bits and keeps verification fast on the hot path.
type Key struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Name      string    `json:"name"`
	Scopes    []Scope   `json:"scopes"`
	Hash      string    `json:"hash"` // hex SHA-256 of the secret part
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"` // user id
}

// Has reports whether the key carries scope s.
func (k *Key) Has(s Scope) bool {
	for _, x := range k.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// keyPrefix starts every API key, so that leaked keys are easy to scan for.
const keyPrefix = "sm_"

// lowerBase32 encodes without padding in lower case: no underscores, safe in
// KV keys and NATS subjects.
var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// RandomID returns n random bytes encoded as lower-case base32; IDs for keys,
// tenants and users come from here.
func RandomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	return lowerBase32.EncodeToString(b)
}

// NewKeySecret returns a fresh key id, its secret, and the full key
// "sm_<id>_<secret>" that is shown to the user once.
func NewKeySecret() (id, secret, full string) {
	id = RandomID(8)      // 13 chars
	secret = RandomID(20) // 32 chars, 160 bits
	return id, secret, keyPrefix + id + "_" + secret
}

// ParseKey splits a full API key into id and secret; ok is false when s does
// not have the sm_<id>_<secret> shape.
func ParseKey(s string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(s, keyPrefix)
	if !found {
		return "", "", false
	}
	id, secret, found = strings.Cut(rest, "_")
	if !found || id == "" || secret == "" || strings.Contains(secret, "_") {
		return "", "", false
	}
	return id, secret, true
}

// HashSecret returns the stored form of a key secret.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// checkSecret compares a presented secret with a stored hash in constant time.
func checkSecret(secret, hash string) bool {
	return subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(hash)) == 1
}
