package query

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/server"
)

// Bounds on saved searches and dashboards.
const (
	// maxNameChars bounds the names of searches, dashboards and panels.
	maxNameChars = 100
	// maxSavedSearches and maxDashboards bound what one tenant may store.
	maxSavedSearches, maxDashboards = 500, 200
)

// savedState is what saved searches and dashboards need beside the Service.
type savedState struct {
	bus *bus.Bus
	// panelHook, when set (tests only), is called as each dashboard panel
	// starts evaluating; the function it returns is called when the panel
	// is done.
	panelHook atomic.Pointer[func() func()]
}

// SetBus gives the Service the bus whose Searches and Dashboards buckets
// hold saved searches and dashboards. Call it once, before RegisterSaved
// and before the server starts.
func (s *Service) SetBus(b *bus.Bus) { s.saved = &savedState{bus: b} }

// savedState answers Unavailable on a Service without SetBus.
func (s *Service) savedState() (*savedState, error) {
	if s.saved == nil {
		return nil, apierr.New(apierr.Unavailable, "saved searches and dashboards are not enabled on this node").Retry(time.Minute)
	}
	return s.saved, nil
}

// RegisterSaved installs SavedSearchService and DashboardService (gRPC and
// their REST routes /v1/searches... and /v1/dashboards...) on srv. Call
// SetBus first.
func (s *Service) RegisterSaved(ctx context.Context, srv *server.Server) error {
	ss, ds := &savedSearches{s: s}, &dashboards{s: s}
	sawmillv1.RegisterSavedSearchServiceServer(srv.GRPC, ss)
	sawmillv1.RegisterDashboardServiceServer(srv.GRPC, ds)
	if err := sawmillv1.RegisterSavedSearchServiceHandlerServer(ctx, srv.Gateway, ss); err != nil {
		return fmt.Errorf("register saved searches: %w", err)
	}
	if err := sawmillv1.RegisterDashboardServiceHandlerServer(ctx, srv.Gateway, ds); err != nil {
		return fmt.Errorf("register dashboards: %w", err)
	}
	return nil
}

// authorizeWrite authenticates a call that changes saved searches or
// dashboards: the query or the admin scope will do.
func (s *Service) authorizeWrite(ctx context.Context) (auth.Principal, error) {
	p, err := s.auth.GRPC(ctx, auth.ScopeQuery)
	if err == nil || apierr.From(err).Code != apierr.PermissionDenied {
		return p, err
	}
	if p, err = s.auth.GRPC(ctx, auth.ScopeAdmin); err == nil || apierr.From(err).Code != apierr.PermissionDenied {
		return p, err
	}
	return auth.Principal{}, apierr.New(apierr.PermissionDenied, `this credential lacks the "query" or "admin" scope`)
}

// checkName trims a user-given name and checks its length and characters.
func checkName(what, name string) (string, error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n == 0 || n > maxNameChars || !utf8.ValidString(name) {
		return "", apierr.New(apierr.Invalid, "%s must be 1 to %d characters", what, maxNameChars)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", apierr.New(apierr.Invalid, "%s must not contain control characters", what)
	}
	return name, nil
}

// checkID rejects ids that could not be a KV key token, so that no id can
// reach outside the caller's "<tenant>." prefix.
func checkID(id string) error {
	ok := id != "" && len(id) <= 64
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
	}
	if !ok {
		return apierr.New(apierr.Invalid, "invalid id %q", id)
	}
	return nil
}

// newID returns a fresh id with a prefix telling its kind ("s", "d").
func newID(prefix string) string { return prefix + auth.RandomID(10) }

// recordKey is the KV key of a tenant's saved search or dashboard.
func recordKey(tenant, id string) string { return tenant + "." + id }

// nameKey is the KV key that claims a saved-search name for a tenant; its
// value is the id of the search holding it. Names compare case-insensitively.
// The key has three tokens, so "<tenant>.*" (a listing of records) never
// matches it.
func nameKey(tenant, name string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(name)))
	return tenant + ".name." + hex.EncodeToString(sum[:16])
}

// casConflict reports whether a KV write failed because the key changed
// (or exists) since it was read.
func casConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// loadJSON reads key into v; found is false when it does not exist.
func loadJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (rev uint64, found bool, err error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("get %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, false, fmt.Errorf("decode %s: %w", key, err)
	}
	return e.Revision(), true, nil
}

// storeJSON writes v under key: created when rev is 0, else only if key is
// still at revision rev.
func storeJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any, rev uint64) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if rev == 0 {
		_, err = kv.Create(ctx, key, b)
	} else {
		_, err = kv.Update(ctx, key, b, rev)
	}
	return err
}

// listIDs returns the ids of a tenant's records in kv.
func listIDs(ctx context.Context, kv jetstream.KeyValue, tenant string) ([]string, error) {
	lister, err := kv.ListKeysFiltered(ctx, tenant+".*")
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", tenant, err)
	}
	var ids []string
	for k := range lister.Keys() {
		ids = append(ids, strings.TrimPrefix(k, tenant+"."))
	}
	return ids, nil
}

// searchRecord is a saved search as stored in the searches bucket.
type searchRecord struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Query     string    `json:"query"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (r *searchRecord) proto() *sawmillv1.SavedSearch {
	return &sawmillv1.SavedSearch{Id: r.ID, Name: r.Name, Query: r.Query,
		CreatedAt: timestamppb.New(r.CreatedAt), UpdatedAt: timestamppb.New(r.UpdatedAt)}
}

// savedSearches implements SavedSearchService. Records live under
// "<tenant>.<id>"; a name is held by the atomic KV create of its nameKey,
// written after the record, so a name's holder always exists when its claim
// does. A claim whose holder is gone or renamed (a crash between the two
// writes) is stale and taken over.
type savedSearches struct {
	sawmillv1.UnimplementedSavedSearchServiceServer
	s *Service
}

func (h *savedSearches) begin(ctx context.Context, write bool) (auth.Principal, jetstream.KeyValue, error) {
	st, err := h.s.savedState()
	if err != nil {
		return auth.Principal{}, nil, err
	}
	var p auth.Principal
	if write {
		p, err = h.s.authorizeWrite(ctx)
	} else {
		p, err = h.s.auth.GRPC(ctx, auth.ScopeQuery)
	}
	return p, st.bus.Searches, err
}

func checkSearch(in *sawmillv1.SavedSearch) (name string, err error) {
	if name, err = checkName("name", in.GetName()); err != nil {
		return "", err
	}
	if _, err := parseQuery(in.GetQuery()); err != nil {
		return "", err
	}
	return name, nil
}

// CreateSavedSearch stores a new saved search: 400 for a bad name or query
// (with the query's error position), 409 when the name is taken.
func (h *savedSearches) CreateSavedSearch(ctx context.Context, in *sawmillv1.SavedSearch) (*sawmillv1.SavedSearch, error) {
	p, kv, err := h.begin(ctx, true)
	if err != nil {
		return nil, err
	}
	name, err := checkSearch(in)
	if err != nil {
		return nil, err
	}
	ids, err := listIDs(ctx, kv, p.TenantID)
	if err != nil {
		return nil, apierr.Wrap(err, "count saved searches")
	}
	if len(ids) >= maxSavedSearches {
		return nil, apierr.New(apierr.Invalid, "a tenant may keep at most %d saved searches; delete some first", maxSavedSearches)
	}
	now := time.Now().UTC()
	r := searchRecord{ID: newID("s"), Name: name, Query: in.GetQuery(), CreatedAt: now, UpdatedAt: now}
	key := recordKey(p.TenantID, r.ID)
	if err := storeJSON(ctx, kv, key, r, 0); err != nil {
		return nil, apierr.Wrap(err, "store saved search")
	}
	if err := h.claim(ctx, kv, p.TenantID, name, r.ID); err != nil {
		_ = kv.Purge(context.WithoutCancel(ctx), key)
		return nil, err
	}
	return r.proto(), nil
}

// claim makes id the holder of name, or fails with Conflict when a live
// search holds it.
func (h *savedSearches) claim(ctx context.Context, kv jetstream.KeyValue, tenant, name, id string) error {
	key := nameKey(tenant, name)
	for range 5 {
		_, err := kv.Create(ctx, key, []byte(id))
		if err == nil {
			return nil
		}
		if !casConflict(err) {
			return apierr.Wrap(err, "claim name")
		}
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return apierr.Wrap(err, "read name claim")
		}
		holder := string(e.Value())
		if holder == id {
			return nil
		}
		var r searchRecord
		_, found, err := loadJSON(ctx, kv, recordKey(tenant, holder), &r)
		if err != nil {
			return apierr.Wrap(err, "read name holder")
		}
		if found && strings.EqualFold(r.Name, name) {
			return apierr.New(apierr.Conflict, "a saved search named %q already exists", r.Name)
		}
		// Stale: its holder is gone or renamed.
		if _, err := kv.Update(ctx, key, []byte(id), e.Revision()); err == nil {
			return nil
		} else if !casConflict(err) {
			return apierr.Wrap(err, "take over name claim")
		}
	}
	return apierr.New(apierr.Conflict, "the name %q is being changed concurrently; retry", name)
}

// release drops id's claim on name, unless someone else holds it now.
func (h *savedSearches) release(ctx context.Context, kv jetstream.KeyValue, tenant, name, id string) {
	key := nameKey(tenant, name)
	e, err := kv.Get(ctx, key)
	if err != nil || string(e.Value()) != id {
		return
	}
	if err := kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil && !casConflict(err) {
		h.s.log.Warn("release saved search name", "tenant", tenant, "id", id, "err", err)
	}
}

// ListSavedSearches returns the caller's saved searches by name.
func (h *savedSearches) ListSavedSearches(ctx context.Context, _ *sawmillv1.ListSavedSearchesRequest) (*sawmillv1.ListSavedSearchesResponse, error) {
	p, kv, err := h.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	recs, err := listRecords[searchRecord](ctx, kv, p.TenantID, "saved search")
	if err != nil {
		return nil, err
	}
	resp := &sawmillv1.ListSavedSearchesResponse{Searches: make([]*sawmillv1.SavedSearch, len(recs))}
	for i := range recs {
		resp.Searches[i] = recs[i].proto()
	}
	return resp, nil
}

// load returns the caller's saved search id and its revision, or NotFound.
func (h *savedSearches) load(ctx context.Context, kv jetstream.KeyValue, tenant, id string) (searchRecord, uint64, error) {
	return loadRecord[searchRecord](ctx, kv, tenant, id, "saved search")
}

// GetSavedSearch returns one of the caller's saved searches; NotFound for
// any id not the caller tenant's.
func (h *savedSearches) GetSavedSearch(ctx context.Context, req *sawmillv1.GetSavedSearchRequest) (*sawmillv1.SavedSearch, error) {
	p, kv, err := h.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	r, _, err := h.load(ctx, kv, p.TenantID, req.GetId())
	if err != nil {
		return nil, err
	}
	return r.proto(), nil
}

// UpdateSavedSearch replaces the name and query of a saved search: 404 for
// an unknown id, 409 when the new name is taken or the search changed
// concurrently.
func (h *savedSearches) UpdateSavedSearch(ctx context.Context, in *sawmillv1.SavedSearch) (*sawmillv1.SavedSearch, error) {
	p, kv, err := h.begin(ctx, true)
	if err != nil {
		return nil, err
	}
	old, rev, err := h.load(ctx, kv, p.TenantID, in.GetId())
	if err != nil {
		return nil, err
	}
	name, err := checkSearch(in)
	if err != nil {
		return nil, err
	}
	r := old
	r.Name, r.Query, r.UpdatedAt = name, in.GetQuery(), time.Now().UTC()
	key := recordKey(p.TenantID, r.ID)
	if err := storeJSON(ctx, kv, key, r, rev); casConflict(err) {
		return nil, apierr.New(apierr.Conflict, "saved search %q changed concurrently; retry", r.ID)
	} else if err != nil {
		return nil, apierr.Wrap(err, "store saved search")
	}
	if strings.EqualFold(old.Name, name) {
		return r.proto(), nil
	}
	if err := h.claim(ctx, kv, p.TenantID, name, r.ID); err != nil {
		// Put the old name back: the record must never say a name it does not hold.
		if cur, rev, lerr := h.load(ctx, kv, p.TenantID, r.ID); lerr == nil && cur.Name == name {
			_ = storeJSON(context.WithoutCancel(ctx), kv, key, old, rev)
		}
		return nil, err
	}
	h.release(ctx, kv, p.TenantID, old.Name, r.ID)
	return r.proto(), nil
}

// DeleteSavedSearch removes a saved search and frees its name.
func (h *savedSearches) DeleteSavedSearch(ctx context.Context, req *sawmillv1.DeleteSavedSearchRequest) (*sawmillv1.DeleteSavedSearchResponse, error) {
	p, kv, err := h.begin(ctx, true)
	if err != nil {
		return nil, err
	}
	r, rev, err := h.load(ctx, kv, p.TenantID, req.GetId())
	if err != nil {
		return nil, err
	}
	if err := kv.Purge(ctx, recordKey(p.TenantID, r.ID), jetstream.LastRevision(rev)); casConflict(err) {
		return nil, apierr.New(apierr.Conflict, "saved search %q changed concurrently; retry", r.ID)
	} else if err != nil {
		return nil, apierr.Wrap(err, "delete saved search")
	}
	h.release(ctx, kv, p.TenantID, r.Name, r.ID)
	return &sawmillv1.DeleteSavedSearchResponse{}, nil
}

// named is a stored record listed by name.
type named interface{ nameAndID() (name, id string) }

func (r searchRecord) nameAndID() (string, string)    { return r.Name, r.ID }
func (r dashboardRecord) nameAndID() (string, string) { return r.Name, r.ID }

// listRecords loads every record of tenant in kv, sorted by name
// (case-insensitive), then id; what names the kind in errors.
func listRecords[T named](ctx context.Context, kv jetstream.KeyValue, tenant, what string) ([]T, error) {
	ids, err := listIDs(ctx, kv, tenant)
	if err != nil {
		return nil, apierr.Wrap(err, "list "+what+"s")
	}
	var recs []T
	for _, id := range ids {
		var r T
		_, found, err := loadJSON(ctx, kv, recordKey(tenant, id), &r)
		if err != nil {
			return nil, apierr.Wrap(err, "load "+what)
		}
		if found {
			recs = append(recs, r)
		}
	}
	slices.SortFunc(recs, func(a, b T) int {
		an, ai := a.nameAndID()
		bn, bi := b.nameAndID()
		if c := strings.Compare(strings.ToLower(an), strings.ToLower(bn)); c != 0 {
			return c
		}
		return strings.Compare(ai, bi)
	})
	return recs, nil
}

// loadRecord returns the tenant's record id and its revision, or NotFound.
func loadRecord[T any](ctx context.Context, kv jetstream.KeyValue, tenant, id, what string) (T, uint64, error) {
	var r T
	if err := checkID(id); err != nil {
		return r, 0, err
	}
	rev, found, err := loadJSON(ctx, kv, recordKey(tenant, id), &r)
	if err != nil {
		return r, 0, apierr.Wrap(err, "load "+what)
	}
	if !found {
		return r, 0, apierr.New(apierr.NotFound, "no %s %q", what, id)
	}
	return r, rev, nil
}
