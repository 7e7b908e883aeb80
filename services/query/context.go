package query

import (
	"context"
	"slices"
	"strconv"
	"time"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/store"
)

// Bounds of a Context request.
const (
	// defaultContextLines is the lines before and after when a request sets 0.
	defaultContextLines = 10
	// maxContextLines caps before and after each.
	maxContextLines = 500
	// contextWindow is how far from the event Context looks for its
	// neighbours: it bounds the scan of a quiet service's lines.
	contextWindow = 24 * time.Hour
)

// Context returns the event req.Id names (an id from a search result) with
// up to req.Before lines before it and req.After lines after it from the
// same service and host of the caller's tenant, oldest first, and the
// event's index among them. Neighbours are looked for within a day of the
// event and never older than the tenant's retention. An id that does not
// decode is 400; one the caller's tenant does not hold (or no longer may
// see) is 404.
func (s *Service) Context(ctx context.Context, req *sawmillv1.ContextRequest) (*sawmillv1.ContextResponse, error) {
	p, err := s.auth.GRPC(ctx, auth.ScopeQuery)
	if err != nil {
		return nil, err
	}
	before, err := contextLines("before", req.GetBefore())
	if err != nil {
		return nil, err
	}
	after, err := contextLines("after", req.GetAfter())
	if err != nil {
		return nil, err
	}
	if req.GetId() == "" {
		return nil, apierr.New(apierr.Invalid, "id is required: the id of an event from a search result")
	}
	pos, err := decodeCursor(req.GetId())
	if err != nil {
		return nil, apierr.New(apierr.Invalid, "invalid id: pass the id of an event from a search result unchanged")
	}
	floor, err := s.admit(p.TenantID)
	if err != nil {
		return nil, err
	}
	at := time.Unix(0, pos.tsNs)
	if at.Before(floor) {
		return nil, apierr.New(apierr.NotFound, "event not found")
	}
	hit, err := s.contextRows(ctx, p.TenantID, neighbours{at: at, pos: pos}, 1)
	if err != nil {
		return nil, err
	}
	if len(hit) == 0 {
		return nil, apierr.New(apierr.NotFound, "event not found")
	}
	n := neighbours{at: at, pos: pos, service: &hit[0].Service, host: &hit[0].Host, floor: floor}
	n.dir = -1
	older, err := s.contextRows(ctx, p.TenantID, n, before)
	if err != nil {
		return nil, err
	}
	n.dir = 1
	newer, err := s.contextRows(ctx, p.TenantID, n, after)
	if err != nil {
		return nil, err
	}
	slices.Reverse(older)
	resp := &sawmillv1.ContextResponse{Hit: int32(len(older))}
	for _, list := range [][]store.StoredEvent{older, hit, newer} {
		for _, ev := range list {
			resp.Events = append(resp.Events, toProto(ev))
		}
	}
	return resp, nil
}

func contextLines(what string, n int32) (int, error) {
	switch {
	case n < 0:
		return 0, apierr.New(apierr.Invalid, "%s must not be negative", what)
	case n == 0:
		return defaultContextLines, nil
	case n > maxContextLines:
		return 0, apierr.New(apierr.Invalid, "%s %d exceeds the maximum of %d", what, n, maxContextLines)
	}
	return int(n), nil
}

// neighbours selects rows around one position: dir 0 the row itself, -1
// the rows before it (newest first), 1 the rows after it (oldest first),
// of the given service and host, within contextWindow and not before floor.
type neighbours struct {
	at            time.Time
	pos           cursor
	dir           int
	service, host *string
	floor         time.Time
}

func (s *Service) contextRows(ctx context.Context, tenant string, n neighbours, limit int) ([]store.StoredEvent, error) {
	st := &stmt{}
	st.add("SELECT "+store.EventColumns+" FROM logs WHERE tenant_id = ?", tenant)
	p := n.pos
	switch n.dir {
	case 0:
		st.add(" AND ts = toDateTime(?) AND ts_ns = ? AND seq = ? AND idx = ?", n.at.Unix(), p.tsNs, p.seq, p.idx)
	case -1:
		from := n.at.Add(-contextWindow)
		if from.Before(n.floor) {
			from = n.floor
		}
		st.add(" AND ts >= toDateTime(?) AND ts <= toDateTime(?) AND ts_ns >= ?", from.Unix(), n.at.Unix(), from.UnixNano())
		st.add(" AND (ts_ns < ? OR (ts_ns = ? AND (seq < ? OR (seq = ? AND idx < ?))))", p.tsNs, p.tsNs, p.seq, p.seq, p.idx)
	default:
		to := n.at.Add(contextWindow)
		st.add(" AND ts >= toDateTime(?) AND ts <= toDateTime(?)", n.at.Unix(), to.Unix())
		st.add(" AND (ts_ns > ? OR (ts_ns = ? AND (seq > ? OR (seq = ? AND idx > ?))))", p.tsNs, p.tsNs, p.seq, p.seq, p.idx)
	}
	if n.service != nil {
		st.add(" AND service = ? AND host = ?", *n.service, *n.host)
	}
	order := " ORDER BY ts_ns ASC, seq ASC, idx ASC"
	if n.dir < 0 {
		order = " ORDER BY ts_ns DESC, seq DESC, idx DESC"
	}
	st.add(order + " LIMIT " + strconv.Itoa(limit))
	return s.events(ctx, st, limit)
}

// events runs st, which selects store.EventColumns, and reads at most limit
// rows.
func (s *Service) events(ctx context.Context, st *stmt, limit int) ([]store.StoredEvent, error) {
	rows, err := s.store.Query(ctx, st.b.String(), st.args...)
	if err != nil {
		return nil, queryError(ctx, err)
	}
	defer rows.Close()
	var out []store.StoredEvent
	for rows.Next() && len(out) < limit {
		ev, err := store.ScanEvent(rows)
		if err != nil {
			return nil, apierr.Wrap(err, "scan event")
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, queryError(ctx, err)
	}
	return out, nil
}
