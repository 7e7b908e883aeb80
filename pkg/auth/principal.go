package auth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/sawmillhq/sawmill/pkg/apierr"
)

// Principal is who a request acts as.
type Principal struct {
	TenantID string
	Scopes   []Scope
	KeyID    string // set when authenticated by API key
	UserID   string // set when authenticated by session
}

// Has reports whether p carries scope s.
func (p Principal) Has(s Scope) bool {
	for _, x := range p.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// Require returns a PermissionDenied error unless p carries scope s.
func (p Principal) Require(s Scope) error {
	if !p.Has(s) {
		return apierr.New(apierr.PermissionDenied, "this credential lacks the %q scope", s)
	}
	return nil
}

// Authenticator turns bearer tokens into principals: API keys against a
// KeyTable, anything else as a session JWT.
type Authenticator struct {
	Keys     *KeyTable
	Sessions *Sessions // nil: sessions are not accepted
	// MissWait is how long an unknown key id waits for the KV watch to
	// deliver it (see KeyTable.Wait). 0 → 500ms; negative: no wait.
	MissWait time.Duration
	// OperatorKey is the operator credential: a bearer equal to it
	// authenticates as the operator (ScopeOperator only, no tenant). If
	// empty, nobody holds ScopeOperator and requiring it fails with
	// PermissionDenied: the operator API is disabled.
	OperatorKey string
}

// Authenticate checks a bearer credential. Every failure is an
// Unauthenticated *apierr.Error with a message that does not reveal whether a
// key id exists.
func (a *Authenticator) Authenticate(ctx context.Context, bearer string) (Principal, error) {
	if bearer == "" {
		return Principal{}, apierr.New(apierr.Unauthenticated, "missing credentials: send Authorization: Bearer <api key or session token>")
	}
	if a.isOperator(bearer) {
		return Principal{Scopes: []Scope{ScopeOperator}}, nil
	}
	if id, secret, ok := ParseKey(bearer); ok {
		k, found := a.Keys.Lookup(id)
		if !found && a.MissWait >= 0 {
			k, found = a.Keys.Wait(ctx, id, cmp.Or(a.MissWait, 500*time.Millisecond))
		}
		if !found || !checkSecret(secret, k.Hash) {
			return Principal{}, apierr.New(apierr.Unauthenticated, "invalid API key")
		}
		return Principal{TenantID: k.TenantID, Scopes: k.Scopes, KeyID: k.ID}, nil
	}
	if strings.HasPrefix(bearer, keyPrefix) {
		return Principal{}, apierr.New(apierr.Unauthenticated, "malformed API key")
	}
	if a.Sessions == nil {
		return Principal{}, apierr.New(apierr.Unauthenticated, "invalid API key")
	}
	c, err := a.Sessions.Verify(bearer)
	if err == ErrSessionExpired {
		return Principal{}, apierr.New(apierr.Unauthenticated, "session expired: log in again")
	}
	if err != nil {
		return Principal{}, apierr.New(apierr.Unauthenticated, "invalid session token")
	}
	return Principal{TenantID: c.TenantID, Scopes: c.Scopes, UserID: c.Subject}, nil
}

// HTTP authenticates an HTTP request and requires scope s.
func (a *Authenticator) HTTP(r *http.Request, s Scope) (Principal, error) {
	return a.require(r.Context(), bearerOf(r.Header.Get("Authorization")), s)
}

// GRPC authenticates a gRPC (or grpc-gateway) call from its incoming
// "authorization" metadata and requires scope s.
func (a *Authenticator) GRPC(ctx context.Context, s Scope) (Principal, error) {
	return a.require(ctx, grpcBearer(ctx), s)
}

// GRPCAny authenticates a gRPC (or grpc-gateway) call as GRPC does and
// requires at least one of scopes: an Unauthenticated error for a bad
// credential, else PermissionDenied naming every scope when the credential
// carries none of them (or when scopes is empty).
func (a *Authenticator) GRPCAny(ctx context.Context, scopes ...Scope) (Principal, error) {
	return a.requireAny(ctx, grpcBearer(ctx), scopes)
}

// grpcBearer is the bearer token of a call's "authorization" metadata.
func grpcBearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	var v string
	if vals := md.Get("authorization"); len(vals) > 0 {
		v = vals[0]
	}
	return bearerOf(v)
}

func (a *Authenticator) require(ctx context.Context, bearer string, s Scope) (Principal, error) {
	if s == ScopeOperator && a.OperatorKey == "" {
		return Principal{}, apierr.New(apierr.PermissionDenied, "the operator API is disabled on this server")
	}
	p, err := a.Authenticate(ctx, bearer)
	if err != nil {
		return Principal{}, err
	}
	if err := p.Require(s); err != nil {
		return Principal{}, err
	}
	return p, nil
}

func (a *Authenticator) requireAny(ctx context.Context, bearer string, scopes []Scope) (Principal, error) {
	if len(scopes) == 1 {
		return a.require(ctx, bearer, scopes[0])
	}
	p, err := a.Authenticate(ctx, bearer)
	if err != nil {
		return Principal{}, err
	}
	for _, s := range scopes {
		if p.Has(s) {
			return p, nil
		}
	}
	if len(scopes) == 0 {
		return Principal{}, apierr.New(apierr.PermissionDenied, "no scope grants this call")
	}
	return Principal{}, apierr.New(apierr.PermissionDenied, "this credential lacks the %s scope", orList(scopes))
}

// orList quotes scopes and joins them: "a", "b" or "c".
func orList(scopes []Scope) string {
	var b strings.Builder
	for i, s := range scopes {
		switch {
		case i == len(scopes)-1 && i > 0:
			b.WriteString(" or ")
		case i > 0:
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", s)
	}
	return b.String()
}

// isOperator compares bearer with the operator key in constant time
// (hashes first, so not even the key's length leaks).
func (a *Authenticator) isOperator(bearer string) bool {
	if a.OperatorKey == "" {
		return false
	}
	got, want := sha256.Sum256([]byte(bearer)), sha256.Sum256([]byte(a.OperatorKey))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// bearerOf extracts the token from an Authorization header value; the
// scheme is case-insensitive.
func bearerOf(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
