package query

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/kvrecord"
	"github.com/sawmillhq/sawmill/pkg/lql"
)

const (
	// maxPanels bounds the panels of one dashboard.
	maxPanels = 20
	// panelConcurrency is how many panels of one GetDashboardData call run
	// at once: enough to hide latency, few enough that one dashboard cannot
	// take every ClickHouse connection.
	panelConcurrency = 4
	// autoBuckets is the most buckets a timeseries panel without an
	// interval gets; its interval is the narrowest common one that fits.
	autoBuckets = 300
)

// panelKinds are the kinds a panel may have (see sawmill.v1.Panel).
var panelKinds = []string{"timeseries", "bar", "table", "events", "number"}

// panelRecord is a panel as stored.
type panelRecord struct {
	Name     string `json:"name"`
	Query    string `json:"query"`
	Kind     string `json:"kind"`
	Interval string `json:"interval,omitempty"`
}

// dashboardRecord is a dashboard as stored in the dashboards bucket under
// "<tenant>.<id>".
type dashboardRecord struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Panels    []panelRecord `json:"panels"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

func (r *dashboardRecord) proto() *sawmillv1.Dashboard {
	d := &sawmillv1.Dashboard{Id: r.ID, Name: r.Name, Panels: make([]*sawmillv1.Panel, len(r.Panels)),
		CreatedAt: timestamppb.New(r.CreatedAt), UpdatedAt: timestamppb.New(r.UpdatedAt)}
	for i, p := range r.Panels {
		d.Panels[i] = &sawmillv1.Panel{Name: p.Name, Query: p.Query, Kind: p.Kind, Interval: p.Interval}
	}
	return d
}

// dashboards implements DashboardService.
type dashboards struct {
	sawmillv1.UnimplementedDashboardServiceServer
	s *Service
}

func (h *dashboards) begin(ctx context.Context, write bool) (auth.Principal, *savedState, error) {
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
	return p, st, err
}

// checkDashboard validates a dashboard and returns its panels as stored.
func checkDashboard(in *sawmillv1.Dashboard) (name string, panels []panelRecord, err error) {
	if name, err = kvrecord.CheckName("name", in.GetName()); err != nil {
		return "", nil, err
	}
	if len(in.GetPanels()) > maxPanels {
		return "", nil, apierr.New(apierr.Invalid, "a dashboard has at most %d panels, not %d", maxPanels, len(in.GetPanels()))
	}
	panels = make([]panelRecord, len(in.GetPanels()))
	for i, p := range in.GetPanels() {
		if panels[i], err = checkPanel(p); err != nil {
			ae := apierr.From(err)
			details := map[string]any{"panel": i}
			if d, ok := ae.Details.(map[string]any); ok {
				for k, v := range d {
					details[k] = v
				}
			}
			return "", nil, apierr.New(ae.Code, "panels[%d]: %s", i, ae.Message).WithDetails(details)
		}
	}
	return name, panels, nil
}

// checkPanel validates one panel: its query must parse and suit its kind,
// so that a saved dashboard fails at evaluation only for reasons of the
// time range (too many buckets) or of the store.
func checkPanel(p *sawmillv1.Panel) (panelRecord, error) {
	name, err := kvrecord.CheckName("name", p.GetName())
	if err != nil {
		return panelRecord{}, err
	}
	if !slices.Contains(panelKinds, p.GetKind()) {
		return panelRecord{}, apierr.New(apierr.Invalid, "kind %q: use one of %s", p.GetKind(), strings.Join(panelKinds, ", "))
	}
	q, err := parseQuery(p.GetQuery())
	if err != nil {
		return panelRecord{}, err
	}
	r := panelRecord{Name: name, Query: p.GetQuery(), Kind: p.GetKind(), Interval: p.GetInterval()}
	pl := q.Pipeline()
	analysis := pl != nil && pl.Analysis != nil
	switch {
	case r.Kind == "events" && pl != nil:
		return r, apierr.New(apierr.Invalid, "an events panel shows a plain search: remove the pipes or choose another kind")
	case r.Kind == "timeseries" && analysis && pl.Analysis.Interval == 0:
		return r, apierr.New(apierr.Invalid, "a timeseries panel needs a timechart pipe, not stats (or no pipe: it then counts per interval)")
	case r.Interval != "" && (r.Kind != "timeseries" || analysis):
		return r, apierr.New(apierr.Invalid, "interval applies only to a timeseries panel whose query has no timechart pipe")
	}
	if r.Interval != "" {
		if _, err := lql.ParseInterval(r.Interval); err != nil {
			return r, apierr.New(apierr.Invalid, "interval: %v", err)
		}
	}
	if pl != nil && !analysis {
		if r.Kind != "timeseries" && r.Kind != "number" {
			return r, apierr.New(apierr.Invalid, "query: at %d: start the pipes with stats or timechart", pl.Stages[0].Pos()).
				WithDetails(map[string]any{"position": pl.Stages[0].Pos()})
		}
		// Table pipes after the implied count(): check them against its columns.
		interval := ""
		if r.Kind == "timeseries" {
			interval = cmp.Or(r.Interval, "1m")
		}
		a, err := lql.NewAnalysis(interval, []string{"count()"}, nil)
		if err == nil {
			err = a.CheckStages(pl.Stages)
		}
		if err != nil {
			return r, lqlError("query", err)
		}
	}
	return r, nil
}

// CreateDashboard stores a new dashboard: 400 for a bad name or panel
// (naming the panel, with the query's error position).
func (h *dashboards) CreateDashboard(ctx context.Context, in *sawmillv1.Dashboard) (*sawmillv1.Dashboard, error) {
	p, st, err := h.begin(ctx, true)
	if err != nil {
		return nil, err
	}
	name, panels, err := checkDashboard(in)
	if err != nil {
		return nil, err
	}
	kv := st.bus.Dashboards
	ids, err := kvrecord.ListIDs(ctx, kv, p.TenantID)
	if err != nil {
		return nil, apierr.Wrap(err, "count dashboards")
	}
	if len(ids) >= maxDashboards {
		return nil, apierr.New(apierr.Invalid, "a tenant may keep at most %d dashboards; delete some first", maxDashboards)
	}
	now := time.Now().UTC()
	r := dashboardRecord{ID: kvrecord.NewID("d"), Name: name, Panels: panels, CreatedAt: now, UpdatedAt: now}
	if _, err := kvrecord.Store(ctx, kv, kvrecord.Key(p.TenantID, r.ID), r, 0); err != nil {
		return nil, apierr.Wrap(err, "store dashboard")
	}
	return r.proto(), nil
}

// ListDashboards returns the caller's dashboards by name.
func (h *dashboards) ListDashboards(ctx context.Context, _ *sawmillv1.ListDashboardsRequest) (*sawmillv1.ListDashboardsResponse, error) {
	p, st, err := h.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	recs, err := kvrecord.LoadAll[dashboardRecord](ctx, st.bus.Dashboards, p.TenantID, "dashboard")
	if err != nil {
		return nil, err
	}
	kvrecord.SortByName(recs, func(r *dashboardRecord) (string, string) { return r.Name, r.ID })
	resp := &sawmillv1.ListDashboardsResponse{Dashboards: make([]*sawmillv1.Dashboard, len(recs))}
	for i := range recs {
		resp.Dashboards[i] = recs[i].proto()
	}
	return resp, nil
}

// load returns the caller's dashboard id and its revision, or NotFound.
func (h *dashboards) load(ctx context.Context, kv jetstream.KeyValue, tenant, id string) (dashboardRecord, uint64, error) {
	return kvrecord.LoadRecord[dashboardRecord](ctx, kv, tenant, id, "dashboard")
}

// GetDashboard returns one of the caller's dashboards.
func (h *dashboards) GetDashboard(ctx context.Context, req *sawmillv1.GetDashboardRequest) (*sawmillv1.Dashboard, error) {
	p, st, err := h.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	r, _, err := h.load(ctx, st.bus.Dashboards, p.TenantID, req.GetId())
	if err != nil {
		return nil, err
	}
	return r.proto(), nil
}

// UpdateDashboard replaces a dashboard's name and panels: 404 for an
// unknown id, 409 when it changed concurrently.
func (h *dashboards) UpdateDashboard(ctx context.Context, in *sawmillv1.Dashboard) (*sawmillv1.Dashboard, error) {
	p, st, err := h.begin(ctx, true)
	if err != nil {
		return nil, err
	}
	kv := st.bus.Dashboards
	r, rev, err := h.load(ctx, kv, p.TenantID, in.GetId())
	if err != nil {
		return nil, err
	}
	name, panels, err := checkDashboard(in)
	if err != nil {
		return nil, err
	}
	r.Name, r.Panels, r.UpdatedAt = name, panels, time.Now().UTC()
	if _, err := kvrecord.StoreRecord(ctx, kv, p.TenantID, r.ID, r, rev, "dashboard"); err != nil {
		return nil, err
	}
	return r.proto(), nil
}

// DeleteDashboard removes a dashboard.
func (h *dashboards) DeleteDashboard(ctx context.Context, req *sawmillv1.DeleteDashboardRequest) (*sawmillv1.DeleteDashboardResponse, error) {
	p, st, err := h.begin(ctx, true)
	if err != nil {
		return nil, err
	}
	kv := st.bus.Dashboards
	r, rev, err := h.load(ctx, kv, p.TenantID, req.GetId())
	if err != nil {
		return nil, err
	}
	if err := kvrecord.DeleteRecord(ctx, kv, p.TenantID, r.ID, rev, "dashboard"); err != nil {
		return nil, err
	}
	return &sawmillv1.DeleteDashboardResponse{}, nil
}

// GetDashboardData evaluates every panel over [from, to), at most
// panelConcurrency at once, through the same Search and Aggregate as the
// query API (so the same tenant predicate, bounds and errors). A panel that
// fails carries its error; the others still return. A bad time range fails
// the whole call with 400.
func (h *dashboards) GetDashboardData(ctx context.Context, req *sawmillv1.GetDashboardDataRequest) (*sawmillv1.DashboardData, error) {
	p, st, err := h.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	r, _, err := h.load(ctx, st.bus.Dashboards, p.TenantID, req.GetId())
	if err != nil {
		return nil, err
	}
	from, to, err := h.s.timeRange(&sawmillv1.SearchRequest{From: req.GetFrom(), To: req.GetTo()})
	if err != nil {
		return nil, err
	}
	out := &sawmillv1.DashboardData{Panels: make([]*sawmillv1.PanelData, len(r.Panels))}
	sem := make(chan struct{}, panelConcurrency)
	var wg sync.WaitGroup
	for i, pn := range r.Panels {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if hook := st.panelHook.Load(); hook != nil {
				defer (*hook)()()
			}
			out.Panels[i] = h.s.evalPanel(ctx, pn, from, to)
		})
	}
	wg.Wait()
	return out, nil
}

// evalPanel evaluates one panel. Its query is parsed again: it was valid
// when saved, but the language may have changed since.
func (s *Service) evalPanel(ctx context.Context, pn panelRecord, from, to time.Time) *sawmillv1.PanelData {
	pd := &sawmillv1.PanelData{Name: pn.Name}
	fail := func(err error) *sawmillv1.PanelData {
		ae := apierr.From(err)
		if ae.Code == apierr.Internal {
			s.log.Warn("dashboard panel failed", "panel", pn.Name, "err", err)
		}
		pd.Error = ae.Message
		return pd
	}
	q, err := parseQuery(pn.Query)
	if err != nil {
		return fail(err)
	}
	pl := q.Pipeline()
	noAnalysis := pl == nil || pl.Analysis == nil
	f, t := timestamppb.New(from), timestamppb.New(to)
	switch {
	case noAnalysis && (pn.Kind == "timeseries" || pn.Kind == "number"):
		// A timeseries panel without a timechart counts per interval; a
		// number panel without stats counts.
		agg := &sawmillv1.AggregateRequest{Query: pn.Query, From: f, To: t, Aggregations: []string{"count()"}}
		if pn.Kind == "timeseries" {
			agg.Interval = cmp.Or(pn.Interval, autoInterval(from, to))
		}
		resp, err := s.Aggregate(ctx, agg)
		if err != nil {
			return fail(err)
		}
		pd.Columns, pd.Rows = resp.Columns, resp.Rows
	default:
		resp, err := s.Search(ctx, &sawmillv1.SearchRequest{Query: pn.Query, From: f, To: t})
		if err != nil {
			return fail(err)
		}
		pd.Columns, pd.Rows, pd.Events = resp.Columns, resp.Rows, resp.Events
	}
	return pd
}

// autoInterval is the narrowest common interval giving at most autoBuckets
// buckets over [from, to).
func autoInterval(from, to time.Time) string {
	sc := scope{from: from, to: to}
	for _, s := range []int64{1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400} {
		if _, _, n := buckets(sc, s); n <= autoBuckets {
			return lql.FormatInterval(time.Duration(s) * time.Second)
		}
	}
	return "7d"
}
