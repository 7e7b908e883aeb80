package auth

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/apierr"
)

func TestOperatorScope(t *testing.T) {
	table := NewKeyTable()
	id, secret, full := NewKeySecret()
	b, _ := json.Marshal(Key{ID: id, TenantID: "t1", Scopes: []Scope{ScopeAdmin, ScopeIngest, ScopeQuery}, Hash: HashSecret(secret)})
	if err := table.Apply(KVKey("t1", id), b, false); err != nil {
		t.Fatal(err)
	}
	const opKey = "operator-secret-0123456789abcdef"
	tests := []struct {
		name     string
		opKey    string // Authenticator.OperatorKey
		bearer   string
		scope    Scope
		want     apierr.Code // "" for success
		operator bool        // success as the operator
	}{
		{"operator key, operator scope", opKey, opKey, ScopeOperator, "", true},
		{"wrong operator key", opKey, opKey + "x", ScopeOperator, apierr.Unauthenticated, false},
		{"prefix of operator key", opKey, opKey[:10], ScopeOperator, apierr.Unauthenticated, false},
		{"no credential", opKey, "", ScopeOperator, apierr.Unauthenticated, false},
		{"tenant admin key", opKey, full, ScopeOperator, apierr.PermissionDenied, false},
		{"operator key on a tenant scope", opKey, opKey, ScopeAdmin, apierr.PermissionDenied, false},
		{"disabled: any credential", "", opKey, ScopeOperator, apierr.PermissionDenied, false},
		{"disabled: tenant key", "", full, ScopeOperator, apierr.PermissionDenied, false},
		{"disabled: tenant key still works", "", full, ScopeAdmin, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &Authenticator{Keys: table, Sessions: testSessions(t, time.Hour), MissWait: -1, OperatorKey: tc.opKey}
			p, err := a.require(context.Background(), tc.bearer, tc.scope)
			var got apierr.Code
			if err != nil {
				got = apierr.From(err).Code
			}
			if got != tc.want {
				t.Fatalf("code = %q (%v), want %q", got, err, tc.want)
			}
			if err == nil && tc.operator && (p.TenantID != "" || !p.Has(ScopeOperator)) {
				t.Fatalf("operator principal = %+v", p)
			}
		})
	}
	if _, ok := ParseScope(string(ScopeOperator)); ok {
		t.Fatal("ParseScope accepts the operator scope: keys could be granted it")
	}
}
