package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Session JWT constants: the algorithm is pinned, issuer and audience checked.
const (
	sessionIssuer   = "sawmill"
	sessionAudience = "sawmill-api"
)

// SessionClaims are the claims of a session token.
type SessionClaims struct {
	TenantID string  `json:"tid"`
	Scopes   []Scope `json:"scopes"`
	jwt.RegisteredClaims
}

// Sessions issues and verifies session JWTs (HS256) with one signing key.
// It is safe for concurrent use.
type Sessions struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewSessions returns a Sessions signing with key (at least 32 bytes) and
// issuing tokens valid for ttl (0 → 1 hour).
func NewSessions(key []byte, ttl time.Duration) (*Sessions, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("session signing key is %d bytes, need at least 32", len(key))
	}
	if ttl <= 0 {
		ttl = time.Hour
	}
	return &Sessions{key: key, ttl: ttl, now: time.Now}, nil
}

// Issue returns a signed token for a user of a tenant and its expiry.
func (s *Sessions) Issue(userID, tenantID string, scopes []Scope) (string, time.Time, error) {
	return s.IssueAt(s.now(), userID, tenantID, scopes)
}

// IssueAt is Issue as if the time were now; tests use it to make expired
// tokens.
func (s *Sessions) IssueAt(now time.Time, userID, tenantID string, scopes []Scope) (string, time.Time, error) {
	exp := now.Add(s.ttl)
	claims := SessionClaims{
		TenantID: tenantID,
		Scopes:   scopes,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    sessionIssuer,
			Audience:  jwt.ClaimStrings{sessionAudience},
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign session: %w", err)
	}
	return tok, exp, nil
}

// ErrSessionExpired is returned by Verify for a well-signed but expired token.
var ErrSessionExpired = errors.New("session expired")

// Verify checks a token's signature (HS256 only), expiry, issuer and audience.
func (s *Sessions) Verify(token string) (*SessionClaims, error) {
	var c SessionClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(sessionIssuer),
		jwt.WithAudience(sessionAudience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now),
	)
	if errors.Is(err, jwt.ErrTokenExpired) {
		return nil, ErrSessionExpired
	}
	if err != nil {
		return nil, fmt.Errorf("verify session: %w", err)
	}
	if c.TenantID == "" || c.Subject == "" {
		return nil, errors.New("verify session: missing tenant or subject")
	}
	return &c, nil
}
