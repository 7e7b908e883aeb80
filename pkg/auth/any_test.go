package auth

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/sawmillhq/sawmill/pkg/apierr"
)

func TestGRPCAny(t *testing.T) {
	table := NewKeyTable()
	key := func(scopes ...Scope) string {
		t.Helper()
		id, secret, full := NewKeySecret()
		b, _ := json.Marshal(Key{ID: id, TenantID: "t1", Scopes: scopes, Hash: HashSecret(secret)})
		if err := table.Apply(KVKey("t1", id), b, false); err != nil {
			t.Fatal(err)
		}
		return full
	}
	query, admin, ingest := key(ScopeQuery), key(ScopeAdmin), key(ScopeIngest)
	const opKey = "operator-secret-0123456789abcdef"
	a := &Authenticator{Keys: table, Sessions: testSessions(t, time.Hour), MissWait: -1, OperatorKey: opKey}
	session, _, err := a.Sessions.Issue("u1", "t1", []Scope{ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	qa := []Scope{ScopeQuery, ScopeAdmin}
	tests := []struct {
		name   string
		bearer string
		scopes []Scope
		want   apierr.Code // "" for success
		msg    string      // the PermissionDenied message, when set
	}{
		{"query key", query, qa, "", ""},
		{"admin key", admin, qa, "", ""},
		{"admin session", session, qa, "", ""},
		{"ingest key", ingest, qa, apierr.PermissionDenied, `this credential lacks the "query" or "admin" scope`},
		{"three scopes named", ingest, []Scope{ScopeQuery, ScopeAdmin, ScopeOperator}, apierr.PermissionDenied,
			`this credential lacks the "query", "admin" or "operator" scope`},
		{"one scope as GRPC", ingest, []Scope{ScopeQuery}, apierr.PermissionDenied, `this credential lacks the "query" scope`},
		{"no scopes", admin, nil, apierr.PermissionDenied, "no scope grants this call"},
		{"operator key", opKey, []Scope{ScopeAdmin, ScopeOperator}, "", ""},
		{"operator key, tenant scopes", opKey, qa, apierr.PermissionDenied, ""},
		{"no credential", "", qa, apierr.Unauthenticated, ""},
		{"wrong secret", query + "x", qa, apierr.Unauthenticated, ""},
		{"garbage", "garbage", qa, apierr.Unauthenticated, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.bearer != "" {
				ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+tc.bearer))
			}
			p, err := a.GRPCAny(ctx, tc.scopes...)
			var got apierr.Code
			if err != nil {
				got = apierr.From(err).Code
			}
			if got != tc.want || tc.msg != "" && apierr.From(err).Message != tc.msg {
				t.Fatalf("GRPCAny = %v, want %q %q", err, tc.want, tc.msg)
			}
			if err == nil && !p.Has(ScopeOperator) && p.TenantID != "t1" {
				t.Fatalf("principal %+v", p)
			}
			if err != nil && (p.TenantID != "" || p.Scopes != nil) {
				t.Fatalf("a failed call returned principal %+v", p)
			}
		})
	}
}
