package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sawmillhq/sawmill/pkg/apierr"
)

func TestParseKey(t *testing.T) {
	id, secret, full := NewKeySecret()
	if strings.Count(full, "_") != 2 || strings.ContainsAny(id+secret, "_") {
		t.Fatalf("key %q: want sm_<id>_<secret> without other underscores", full)
	}
	f := func(in string, wantOK bool) {
		t.Helper()
		gid, gsecret, ok := ParseKey(in)
		if ok != wantOK {
			t.Fatalf("ParseKey(%q) ok=%v, want %v", in, ok, wantOK)
		}
		if ok && in == full && (gid != id || gsecret != secret) {
			t.Fatalf("ParseKey(%q) = %q, %q", in, gid, gsecret)
		}
	}
	f(full, true)
	f("sm_abc_def", true)
	f("sm__def", false)
	f("sm_abc_", false)
	f("sm_abc", false)
	f("sm_a_b_c", false)
	f("xx_abc_def", false)
	f("", false)
}

func testSessions(t *testing.T, ttl time.Duration) *Sessions {
	t.Helper()
	s, err := NewSessions([]byte(strings.Repeat("k", 32)), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSessions(t *testing.T) {
	s := testSessions(t, time.Hour)
	tok, exp, err := s.Issue("u1", "t1", []Scope{ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(exp) < 59*time.Minute {
		t.Fatalf("expiry %v too soon", exp)
	}
	c, err := s.Verify(tok)
	if err != nil || c.TenantID != "t1" || c.Subject != "u1" {
		t.Fatalf("Verify = %+v, %v", c, err)
	}

	// Expired.
	s.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := s.Verify(tok); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("expired token: err = %v", err)
	}
	s.now = time.Now

	// Tampered payload: change the tenant, keep the signature.
	parts := strings.Split(tok, ".")
	payload, _ := jwt.NewParser().DecodeSegment(parts[1])
	forged := strings.Replace(string(payload), `"t1"`, `"t2"`, 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	if _, err := s.Verify(strings.Join(parts, ".")); err == nil {
		t.Fatal("tampered token verified")
	}

	// Another key, alg none, wrong audience: all refused.
	other, _ := NewSessions([]byte(strings.Repeat("x", 32)), time.Hour)
	tok2, _, _ := other.Issue("u1", "t1", nil)
	if _, err := s.Verify(tok2); err == nil {
		t.Fatal("token signed with another key verified")
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, SessionClaims{TenantID: "t1", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: sessionIssuer, Audience: jwt.ClaimStrings{sessionAudience}, Subject: "u1", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := s.Verify(none); err == nil {
		t.Fatal("alg=none token verified")
	}
	wrongAud, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, SessionClaims{TenantID: "t1", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: sessionIssuer, Audience: jwt.ClaimStrings{"other"}, Subject: "u1", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}).
		SignedString([]byte(strings.Repeat("k", 32)))
	if _, err := s.Verify(wrongAud); err == nil {
		t.Fatal("token for another audience verified")
	}
	if _, err := NewSessions([]byte("short"), 0); err == nil {
		t.Fatal("short signing key accepted")
	}
}

func TestAuthenticator(t *testing.T) {
	table := NewKeyTable()
	id, secret, full := NewKeySecret()
	k := Key{ID: id, TenantID: "t1", Scopes: []Scope{ScopeQuery}, Hash: HashSecret(secret)}
	b, _ := json.Marshal(k)
	if err := table.Apply(KVKey("t1", id), b, false); err != nil {
		t.Fatal(err)
	}
	a := &Authenticator{Keys: table, Sessions: testSessions(t, time.Hour), MissWait: 20 * time.Millisecond}
	ctx := context.Background()

	code := func(err error) apierr.Code {
		if err == nil {
			return ""
		}
		return apierr.From(err).Code
	}
	p, err := a.require(ctx, full, ScopeQuery)
	if err != nil || p.TenantID != "t1" || p.KeyID != id {
		t.Fatalf("good key: %+v %v", p, err)
	}
	if _, err := a.require(ctx, full, ScopeIngest); code(err) != apierr.PermissionDenied {
		t.Fatalf("query key on ingest: %v", err)
	}
	if _, err := a.require(ctx, "sm_"+id+"_wrongsecret", ScopeQuery); code(err) != apierr.Unauthenticated {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, err := a.require(ctx, "", ScopeQuery); code(err) != apierr.Unauthenticated {
		t.Fatalf("no credential: %v", err)
	}
	if _, err := a.require(ctx, "garbage", ScopeQuery); code(err) != apierr.Unauthenticated {
		t.Fatalf("garbage token: %v", err)
	}
	tok, _, _ := a.Sessions.Issue("u1", "t9", []Scope{ScopeAdmin})
	if p, err := a.require(ctx, tok, ScopeAdmin); err != nil || p.TenantID != "t9" || p.UserID != "u1" {
		t.Fatalf("session: %+v %v", p, err)
	}
	// Revocation: the delete reaches the table, the key stops working.
	if err := table.Apply(KVKey("t1", id), nil, true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.require(ctx, full, ScopeQuery); code(err) != apierr.Unauthenticated {
		t.Fatalf("revoked key: %v", err)
	}
	if got := bearerOf("bearer  abc "); got != "abc" {
		t.Fatalf("bearerOf = %q", got)
	}
	if got := bearerOf("Basic abc"); got != "" {
		t.Fatalf("bearerOf(Basic) = %q", got)
	}
}

// A key that reaches the table while a request waits is accepted.
func TestKeyTableWait(t *testing.T) {
	table := NewKeyTable()
	id, secret, full := NewKeySecret()
	b, _ := json.Marshal(Key{ID: id, TenantID: "t1", Scopes: []Scope{ScopeIngest}, Hash: HashSecret(secret)})
	go func() {
		time.Sleep(30 * time.Millisecond)
		table.Apply(KVKey("t1", "other"), []byte(`{"id":"other"}`), false)
		time.Sleep(30 * time.Millisecond)
		table.Apply(KVKey("t1", id), b, false)
	}()
	a := &Authenticator{Keys: table, MissWait: 10 * time.Second}
	if p, err := a.require(context.Background(), full, ScopeIngest); err != nil || p.TenantID != "t1" {
		t.Fatalf("key delivered while waiting: %+v %v", p, err)
	}
	a.MissWait = 10 * time.Millisecond
	if _, err := a.require(context.Background(), "sm_nosuchkey_secret", ScopeIngest); err == nil {
		t.Fatal("unknown key accepted")
	}
}
