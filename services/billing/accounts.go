package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// sessionScopes are what a logged-in user may do.
var sessionScopes = []auth.Scope{auth.ScopeAdmin, auth.ScopeQuery, auth.ScopeIngest}

// firstKeyScopes are the scopes of the key signup returns.
var firstKeyScopes = []auth.Scope{auth.ScopeIngest, auth.ScopeQuery}

// accounts implements sawmill.v1.AccountService.
type accounts struct {
	sawmillv1.UnimplementedAccountServiceServer
	s *Service
}

func (a *accounts) Signup(ctx context.Context, req *sawmillv1.SignupRequest) (*sawmillv1.SignupResponse, error) {
	s := a.s
	if ok, wait := s.signups.Allow(server.ClientAddr(ctx)); !ok {
		return nil, apierr.New(apierr.RateLimited, "too many signups from this address; retry later").Retry(wait)
	}
	email := tenant.NormalizeEmail(req.GetEmail())
	if err := validateSignup(email, req.GetPassword(), req.GetOrganization()); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(req.GetPassword()), s.cfg.BcryptCost)
	if err != nil {
		return nil, apierr.Wrap(err, "hash password")
	}
	now := s.now().UTC()
	pl := s.plans.DefaultPlan()
	t := tenant.Tenant{ID: "t" + auth.RandomID(8), Name: strings.TrimSpace(req.GetOrganization()),
		Plan: pl.Name, RetentionDays: pl.RetentionDays, CreatedAt: now}
	u := tenant.User{ID: "u" + auth.RandomID(8), Email: email, TenantID: t.ID, PasswordHash: string(hash), CreatedAt: now}

	// The tenant first, then the user: the user's atomic Create is what
	// decides e-mail uniqueness, and a lost race leaves only an orphan
	// tenant, which we remove.
	if err := putJSON(ctx, s.bus.Tenants, t.ID, t, true); err != nil {
		return nil, apierr.Wrap(err, "create tenant")
	}
	if err := putJSON(ctx, s.bus.Users, tenant.EmailKey(email), u, true); err != nil {
		_ = s.bus.Tenants.Delete(ctx, t.ID)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, apierr.New(apierr.Conflict, "an account with this e-mail already exists; log in instead")
		}
		return nil, apierr.Wrap(err, "create user")
	}
	full, _, err := s.createKey(ctx, t.ID, u.ID, "default", firstKeyScopes)
	if err != nil {
		return nil, err
	}
	tok, _, err := s.sessions.Issue(u.ID, t.ID, sessionScopes)
	if err != nil {
		return nil, apierr.Wrap(err, "issue session")
	}
	s.log.Info("signup", "tenant", t.ID, "user", u.ID)
	return &sawmillv1.SignupResponse{TenantId: t.ID, ApiKey: full, Token: tok}, nil
}

func validateSignup(email, password, org string) error {
	if len(email) > 254 {
		return apierr.New(apierr.Invalid, "email is longer than 254 characters")
	}
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		return apierr.New(apierr.Invalid, "email %q is not a valid address", email)
	}
	if utf8.RuneCountInString(password) < 10 {
		return apierr.New(apierr.Invalid, "password must be at least 10 characters")
	}
	if len(password) > 72 {
		return apierr.New(apierr.Invalid, "password must be at most 72 bytes")
	}
	org = strings.TrimSpace(org)
	if org == "" || utf8.RuneCountInString(org) > 100 {
		return apierr.New(apierr.Invalid, "organization must be 1 to 100 characters")
	}
	return nil
}

// dummyHash makes a login for an unknown e-mail cost as much as a wrong
// password, so timing does not reveal which addresses have accounts.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a real password"), 11)

func (a *accounts) Login(ctx context.Context, req *sawmillv1.LoginRequest) (*sawmillv1.LoginResponse, error) {
	s := a.s
	if ok, wait := s.logins.Allow(server.ClientAddr(ctx)); !ok {
		return nil, apierr.New(apierr.RateLimited, "too many login attempts from this address; retry later").Retry(wait)
	}
	var u tenant.User
	found, err := getJSON(ctx, s.bus.Users, tenant.EmailKey(req.GetEmail()), &u)
	if err != nil {
		return nil, apierr.Wrap(err, "load user")
	}
	hash := dummyHash
	if found {
		hash = []byte(u.PasswordHash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(req.GetPassword())) != nil || !found {
		return nil, apierr.New(apierr.Unauthenticated, "invalid email or password")
	}
	tok, exp, err := s.sessions.Issue(u.ID, u.TenantID, sessionScopes)
	if err != nil {
		return nil, apierr.Wrap(err, "issue session")
	}
	return &sawmillv1.LoginResponse{Token: tok, TenantId: u.TenantID, ExpiresAt: timestamppb.New(exp)}, nil
}

func (a *accounts) CreateKey(ctx context.Context, req *sawmillv1.CreateKeyRequest) (*sawmillv1.CreateKeyResponse, error) {
	p, err := a.s.auth.GRPC(ctx, auth.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	var t tenant.Tenant
	if found, err := getJSON(ctx, a.s.bus.Tenants, p.TenantID, &t); err != nil {
		return nil, apierr.Wrap(err, "load tenant")
	} else if !found || t.Deleted {
		return nil, apierr.New(apierr.PermissionDenied, "this account has been deleted")
	}
	if len(req.GetScopes()) == 0 {
		return nil, apierr.New(apierr.Invalid, "scopes are required: any of ingest, query, admin")
	}
	var scopes []auth.Scope
	for _, sc := range req.GetScopes() {
		scope, ok := auth.ParseScope(sc)
		if !ok {
			return nil, apierr.New(apierr.Invalid, "unknown scope %q: use ingest, query or admin", sc)
		}
		if !p.Has(scope) {
			return nil, apierr.New(apierr.PermissionDenied, "cannot grant scope %q you do not hold", sc)
		}
		scopes = append(scopes, scope)
	}
	name := strings.TrimSpace(req.GetName())
	if utf8.RuneCountInString(name) > 100 {
		return nil, apierr.New(apierr.Invalid, "name must be at most 100 characters")
	}
	full, k, err := a.s.createKey(ctx, p.TenantID, p.UserID, name, scopes)
	if err != nil {
		return nil, err
	}
	return &sawmillv1.CreateKeyResponse{Key: keyProto(k), Secret: full}, nil
}

func (s *Service) createKey(ctx context.Context, tenantID, userID, name string, scopes []auth.Scope) (string, auth.Key, error) {
	id, secret, full := auth.NewKeySecret()
	k := auth.Key{ID: id, TenantID: tenantID, Name: name, Scopes: scopes, Hash: auth.HashSecret(secret),
		CreatedAt: s.now().UTC(), CreatedBy: userID}
	if err := putJSON(ctx, s.bus.Keys, auth.KVKey(tenantID, id), k, true); err != nil {
		return "", auth.Key{}, apierr.Wrap(err, "store key")
	}
	return full, k, nil
}

func (a *accounts) ListKeys(ctx context.Context, _ *sawmillv1.ListKeysRequest) (*sawmillv1.ListKeysResponse, error) {
	p, err := a.s.auth.GRPC(ctx, auth.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	lister, err := a.s.bus.Keys.ListKeysFiltered(ctx, p.TenantID+".*")
	if err != nil {
		return nil, apierr.Wrap(err, "list keys")
	}
	resp := &sawmillv1.ListKeysResponse{}
	for kvKey := range lister.Keys() {
		var k auth.Key
		found, err := getJSON(ctx, a.s.bus.Keys, kvKey, &k)
		if err != nil {
			return nil, apierr.Wrap(err, "load key")
		}
		if found {
			resp.Keys = append(resp.Keys, keyProto(k))
		}
	}
	sort.Slice(resp.Keys, func(i, j int) bool {
		return resp.Keys[i].GetCreatedAt().AsTime().Before(resp.Keys[j].GetCreatedAt().AsTime())
	})
	return resp, nil
}

func (a *accounts) RevokeKey(ctx context.Context, req *sawmillv1.RevokeKeyRequest) (*sawmillv1.RevokeKeyResponse, error) {
	p, err := a.s.auth.GRPC(ctx, auth.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	id := req.GetId()
	if id == "" || strings.ContainsAny(id, ".*> ") {
		return nil, apierr.New(apierr.Invalid, "invalid key id %q", id)
	}
	kvKey := auth.KVKey(p.TenantID, id)
	if _, err := a.s.bus.Keys.Get(ctx, kvKey); errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, apierr.New(apierr.NotFound, "no key %q", id)
	} else if err != nil {
		return nil, apierr.Wrap(err, "load key")
	}
	if err := a.s.bus.Keys.Purge(ctx, kvKey); err != nil {
		return nil, apierr.Wrap(err, "revoke key")
	}
	a.s.log.Info("key revoked", "tenant", p.TenantID, "key", id)
	return &sawmillv1.RevokeKeyResponse{}, nil
}

func keyProto(k auth.Key) *sawmillv1.ApiKey {
	scopes := make([]string, len(k.Scopes))
	for i, s := range k.Scopes {
		scopes[i] = string(s)
	}
	return &sawmillv1.ApiKey{Id: k.ID, Name: k.Name, Scopes: scopes, CreatedAt: timestamppb.New(k.CreatedAt)}
}

// putJSON stores v under key; with create it fails with
// jetstream.ErrKeyExists when the key is present.
func putJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any, create bool) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if create {
		_, err = kv.Create(ctx, key, b)
	} else {
		_, err = kv.Put(ctx, key, b)
	}
	return err
}

// getJSON loads key into v; found is false when the key does not exist.
func getJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (found bool, err error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal(e.Value(), v)
}
