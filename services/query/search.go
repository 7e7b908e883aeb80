package query

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/eventpb"
	"github.com/sawmillhq/sawmill/pkg/lql"
	"github.com/sawmillhq/sawmill/pkg/store"
)

// Search returns the newest events matching the query in [from, to), one
// page at a time. The order (ts_ns, seq, idx) descending is total, so the
// cursor — the position of the last event returned — never repeats or skips
// rows, even among events with equal timestamps.
func (s *Service) Search(ctx context.Context, req *sawmillv1.SearchRequest) (*sawmillv1.SearchResponse, error) {
	p, err := s.auth.GRPC(ctx, auth.ScopeQuery)
	if err != nil {
		return nil, err
	}
	from, to, err := s.timeRange(req)
	if err != nil {
		return nil, err
	}
	limit := int(req.GetLimit())
	switch {
	case limit < 0:
		return nil, apierr.New(apierr.Invalid, "limit must not be negative")
	case limit == 0:
		limit = s.cfg.DefaultLimit
	case limit > s.cfg.MaxLimit:
		return nil, apierr.New(apierr.Invalid, "limit %d exceeds the maximum of %d", limit, s.cfg.MaxLimit)
	}
	q, err := lql.Parse(req.GetQuery())
	if err != nil {
		var pe *lql.Error
		if errors.As(err, &pe) {
			return nil, apierr.New(apierr.Invalid, "query: %s", pe.Error()).WithDetails(map[string]any{"position": pe.Pos})
		}
		return nil, apierr.New(apierr.Invalid, "query: %v", err)
	}
	if q.Pipeline() != nil {
		// "| stats ..." and "| timechart ...": a table, not events.
		return s.searchTable(ctx, p.TenantID, from, to, q, req)
	}
	where, args := q.SQL()

	var sb strings.Builder
	sb.WriteString("SELECT " + store.EventColumns + " FROM logs WHERE tenant_id = ?")
	all := []any{p.TenantID}
	// ts (seconds) prunes partitions and primary-key ranges; ts_ns is exact.
	sb.WriteString(" AND ts >= toDateTime(?) AND ts <= toDateTime(?) AND ts_ns >= ? AND ts_ns < ?")
	all = append(all, from.Unix(), to.Unix(), from.UnixNano(), to.UnixNano())
	if c := req.GetCursor(); c != "" {
		cur, err := decodeCursor(c)
		if err != nil {
			return nil, err
		}
		sb.WriteString(" AND (ts_ns < ? OR (ts_ns = ? AND (seq < ? OR (seq = ? AND idx < ?))))")
		all = append(all, cur.tsNs, cur.tsNs, cur.seq, cur.seq, cur.idx)
	}
	sb.WriteString(" AND (" + where + ")")
	all = append(all, args...)
	sb.WriteString(" ORDER BY ts_ns DESC, seq DESC, idx DESC LIMIT " + strconv.Itoa(limit+1))

	rows, err := s.store.Query(ctx, sb.String(), all...)
	if err != nil {
		return nil, queryError(ctx, err)
	}
	defer rows.Close()
	resp := &sawmillv1.SearchResponse{}
	var last store.StoredEvent
	for rows.Next() {
		ev, err := store.ScanEvent(rows)
		if err != nil {
			return nil, apierr.Wrap(err, "scan event")
		}
		if len(resp.Events) == limit {
			resp.NextCursor = encodeCursor(cursor{tsNs: last.Time, seq: last.Seq, idx: last.Idx})
			break
		}
		resp.Events = append(resp.Events, eventpb.ToProto(&ev.Event))
		last = ev
	}
	if err := rows.Err(); err != nil {
		return nil, queryError(ctx, err)
	}
	return resp, nil
}

func (s *Service) timeRange(req *sawmillv1.SearchRequest) (from, to time.Time, err error) {
	if req.GetFrom() == nil || req.GetTo() == nil {
		return from, to, apierr.New(apierr.Invalid, "from and to are required (RFC 3339 times)")
	}
	from, to = req.GetFrom().AsTime(), req.GetTo().AsTime()
	if !to.After(from) {
		return from, to, apierr.New(apierr.Invalid, "to must be after from")
	}
	if to.Sub(from) > s.cfg.MaxRange {
		return from, to, apierr.New(apierr.Invalid, "time range %s exceeds the maximum of %s", to.Sub(from), s.cfg.MaxRange)
	}
	return from, to, nil
}

// queryError maps a failed statement: a client that went away or a query
// that ran out of time is not an internal error.
func queryError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return apierr.New(apierr.Unavailable, "query cancelled")
	}
	if strings.Contains(err.Error(), "TIMEOUT_EXCEEDED") || strings.Contains(err.Error(), "Timeout exceeded") {
		return apierr.New(apierr.RateLimited, "query took too long: narrow the time range or the query").Retry(time.Second)
	}
	return apierr.Wrap(err, "run search")
}

type cursor struct {
	tsNs int64
	seq  uint64
	idx  uint32
}

func encodeCursor(c cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("v1:%d:%d:%d", c.tsNs, c.seq, c.idx)))
}

func decodeCursor(s string) (cursor, error) {
	bad := apierr.New(apierr.Invalid, "invalid cursor: pass next_cursor from the previous page unchanged")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 4 || parts[0] != "v1" {
		return cursor{}, bad
	}
	ts, err1 := strconv.ParseInt(parts[1], 10, 64)
	seq, err2 := strconv.ParseUint(parts[2], 10, 64)
	idx, err3 := strconv.ParseUint(parts[3], 10, 32)
	if err1 != nil || err2 != nil || err3 != nil {
		return cursor{}, bad
	}
	return cursor{tsNs: ts, seq: seq, idx: uint32(idx)}, nil
}
