package query

import (
	"context"
	"strconv"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/store"
)

// Bounds of a Correlate request.
const (
	defaultCorrelateLimit = 1000
	maxCorrelateLimit     = 10000
)

// Correlate returns every event of the caller's tenant in [from, to) whose
// request_id (or trace_id) equals the one asked for, across services,
// oldest first, at most req.Limit of them (0: 1000; at most 10,000), and
// whether more matched. Exactly one of request_id and trace_id must be set,
// and the time range is required and clipped to the tenant's retention.
func (s *Service) Correlate(ctx context.Context, req *sawmillv1.CorrelateRequest) (*sawmillv1.CorrelateResponse, error) {
	p, err := s.auth.GRPC(ctx, auth.ScopeQuery)
	if err != nil {
		return nil, err
	}
	var col, id string
	switch {
	case req.GetRequestId() != "" && req.GetTraceId() != "":
		return nil, apierr.New(apierr.Invalid, "set one of request_id and trace_id, not both")
	case req.GetRequestId() != "":
		col, id = "request_id", req.GetRequestId()
	case req.GetTraceId() != "":
		col, id = "trace_id", req.GetTraceId()
	default:
		return nil, apierr.New(apierr.Invalid, "request_id or trace_id is required")
	}
	limit, err := pageLimit(int(req.GetLimit()), defaultCorrelateLimit, maxCorrelateLimit, "")
	if err != nil {
		return nil, err
	}
	from, to, err := s.tenantRange(p.TenantID, req)
	if err != nil {
		return nil, err
	}
	st := &stmt{}
	st.add("SELECT "+store.EventColumns+" FROM logs WHERE tenant_id = ?", p.TenantID)
	st.add(" AND ts >= toDateTime(?) AND ts <= toDateTime(?) AND ts_ns >= ? AND ts_ns < ?",
		from.Unix(), to.Unix(), from.UnixNano(), to.UnixNano())
	// col is one of two constants above, never request text.
	st.add(" AND "+col+" = ?", id)
	st.add(" ORDER BY ts_ns ASC, seq ASC, idx ASC LIMIT " + strconv.Itoa(limit+1))
	evs, err := s.events(ctx, st, limit+1)
	if err != nil {
		return nil, err
	}
	resp := &sawmillv1.CorrelateResponse{Truncated: len(evs) > limit}
	for _, ev := range evs[:min(len(evs), limit)] {
		resp.Events = append(resp.Events, toProto(ev))
	}
	return resp, nil
}
