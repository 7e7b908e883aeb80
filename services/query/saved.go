package query

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/kvrecord"
	"github.com/sawmillhq/sawmill/pkg/server"
)

// maxSavedSearches and maxDashboards bound what one tenant may store.
// (kvrecord.MaxNameChars bounds the names of searches, dashboards and
// panels.)
const maxSavedSearches, maxDashboards = 500, 200

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
// "<tenant>.<id>"; names are unique per tenant (kvrecord.Names), each claim
// written after the record that carries the name.
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
		p, err = h.s.auth.GRPCAny(ctx, auth.ScopeQuery, auth.ScopeAdmin)
	} else {
		p, err = h.s.auth.GRPC(ctx, auth.ScopeQuery)
	}
	return p, st.bus.Searches, err
}

func checkSearch(in *sawmillv1.SavedSearch) (name string, err error) {
	if name, err = kvrecord.CheckName("name", in.GetName()); err != nil {
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
	ids, err := kvrecord.ListIDs(ctx, kv, p.TenantID)
	if err != nil {
		return nil, apierr.Wrap(err, "count saved searches")
	}
	if len(ids) >= maxSavedSearches {
		return nil, apierr.New(apierr.Invalid, "a tenant may keep at most %d saved searches; delete some first", maxSavedSearches)
	}
	now := time.Now().UTC()
	r := searchRecord{ID: kvrecord.NewID("s"), Name: name, Query: in.GetQuery(), CreatedAt: now, UpdatedAt: now}
	key := kvrecord.Key(p.TenantID, r.ID)
	if _, err := kvrecord.Store(ctx, kv, key, r, 0); err != nil {
		return nil, apierr.Wrap(err, "store saved search")
	}
	if err := searchNames(kv).Claim(ctx, p.TenantID, name, r.ID); err != nil {
		_ = kv.Purge(context.WithoutCancel(ctx), key)
		return nil, err
	}
	return r.proto(), nil
}

// searchNames holds the unique names of a tenant's saved searches.
func searchNames(kv jetstream.KeyValue) kvrecord.Names {
	return kvrecord.Names{KV: kv, What: "a saved search"}
}

// release drops id's claim on name, logging a storage failure (the stale
// claim is taken over by the next claim of the name).
func (h *savedSearches) release(ctx context.Context, kv jetstream.KeyValue, tenant, name, id string) {
	if err := searchNames(kv).Release(ctx, tenant, name, id); err != nil {
		h.s.log.Warn("release saved search name", "tenant", tenant, "id", id, "err", err)
	}
}

// ListSavedSearches returns the caller's saved searches by name.
func (h *savedSearches) ListSavedSearches(ctx context.Context, _ *sawmillv1.ListSavedSearchesRequest) (*sawmillv1.ListSavedSearchesResponse, error) {
	p, kv, err := h.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	recs, err := kvrecord.LoadAll[searchRecord](ctx, kv, p.TenantID, "saved search")
	if err != nil {
		return nil, err
	}
	kvrecord.SortByName(recs, func(r *searchRecord) (string, string) { return r.Name, r.ID })
	resp := &sawmillv1.ListSavedSearchesResponse{Searches: make([]*sawmillv1.SavedSearch, len(recs))}
	for i := range recs {
		resp.Searches[i] = recs[i].proto()
	}
	return resp, nil
}

// load returns the caller's saved search id and its revision, or NotFound.
func (h *savedSearches) load(ctx context.Context, kv jetstream.KeyValue, tenant, id string) (searchRecord, uint64, error) {
	return kvrecord.LoadRecord[searchRecord](ctx, kv, tenant, id, "saved search")
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
	if _, err := kvrecord.StoreRecord(ctx, kv, p.TenantID, r.ID, r, rev, "saved search"); err != nil {
		return nil, err
	}
	if strings.EqualFold(old.Name, name) {
		return r.proto(), nil
	}
	if err := searchNames(kv).Claim(ctx, p.TenantID, name, r.ID); err != nil {
		// Put the old name back: the record must never say a name it does not hold.
		if cur, rev, lerr := h.load(ctx, kv, p.TenantID, r.ID); lerr == nil && cur.Name == name {
			_, _ = kvrecord.Store(context.WithoutCancel(ctx), kv, kvrecord.Key(p.TenantID, r.ID), old, rev)
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
	if err := kvrecord.DeleteRecord(ctx, kv, p.TenantID, r.ID, rev, "saved search"); err != nil {
		return nil, err
	}
	h.release(ctx, kv, p.TenantID, r.Name, r.ID)
	return &sawmillv1.DeleteSavedSearchResponse{}, nil
}
