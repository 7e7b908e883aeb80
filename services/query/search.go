package query

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

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
// rows, even among events with equal timestamps. Each event carries its id
// (that position, encoded like a cursor) for Context. With SetTenants, a
// suspended or deleted tenant is refused (403) and from is clipped to the
// tenant's retention.
func (s *Service) Search(ctx context.Context, req *sawmillv1.SearchRequest) (*sawmillv1.SearchResponse, error) {
	p, err := s.auth.GRPC(ctx, auth.ScopeQuery)
	if err != nil {
		return nil, err
	}
	from, to, err := s.tenantRange(p.TenantID, req)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(int(req.GetLimit()), s.cfg.DefaultLimit, s.cfg.MaxLimit, "")
	if err != nil {
		return nil, err
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
	var after *cursor
	if c := req.GetCursor(); c != "" {
		cur, err := decodeCursor(c)
		if err != nil {
			return nil, err
		}
		after = &cur
	}
	evs, more, err := s.page(ctx, p.TenantID, from, to, after, q, limit)
	if err != nil {
		return nil, err
	}
	resp := &sawmillv1.SearchResponse{}
	for _, ev := range evs {
		resp.Events = append(resp.Events, toProto(ev))
	}
	if more {
		last := evs[len(evs)-1]
		resp.NextCursor = encodeCursor(cursor{tsNs: last.Time, seq: last.Seq, idx: last.Idx})
	}
	return resp, nil
}

// firstWindow is the newest slice of a long range a search looks at
// first: a query with many matches (level:error over a day) fills its page
// from the last hour and never scans the rest.
const firstWindow = time.Hour

// page returns the newest limit events of tenant matching q in [from, to),
// after the cursor position when after is set, and whether more follow.
// It finds the positions first, reading only the columns the query tests,
// newest window first; then it reads whole rows for those positions only
// (late materialisation: messages, attributes and stacks of rows that do
// not make the page are never read). A search the text blooms narrow to
// few rows reads them whole in one statement.
func (s *Service) page(ctx context.Context, tenant string, from, to time.Time, after *cursor, q *lql.Query, limit int) ([]store.StoredEvent, bool, error) {
	end := to
	if after != nil && after.tsNs < end.UnixNano() {
		end = time.Unix(0, after.tsNs+1)
	}
	narrow, candidates, err := s.narrow(ctx, tenant, from, end, q)
	if err != nil || narrow == "0" {
		return nil, false, err
	}
	if narrow != "" && candidates <= maxOneStatementRows {
		st := &stmt{}
		st.add("SELECT " + store.EventColumns)
		st.from(scope{tenant: tenant, from: from, to: end, q: q, narrow: narrow})
		st.newestAfter(after)
		st.add(" LIMIT " + strconv.Itoa(limit+1))
		evs, err := s.events(ctx, st, limit+1)
		if err != nil {
			return nil, false, err
		}
		return evs[:min(len(evs), limit)], len(evs) > limit, nil
	}
	var pos []cursor
	// Narrowed, the range is read in one go: the newest window would only
	// add a statement.
	if split := end.Add(-firstWindow); narrow == "" && end.Sub(from) > 2*firstWindow {
		newer, err := s.positions(ctx, tenant, split, end, after, q, narrow, limit+1)
		if err != nil {
			return nil, false, err
		}
		pos, end = newer, split
	}
	if len(pos) < limit+1 {
		older, err := s.positions(ctx, tenant, from, end, after, q, narrow, limit+1-len(pos))
		if err != nil {
			return nil, false, err
		}
		pos = append(pos, older...)
	}
	more := len(pos) > limit
	pos = pos[:min(len(pos), limit)]
	evs, err := s.rowsAt(ctx, tenant, pos)
	return evs, more, err
}

// maxOneStatementRows is the most rows the matching chunks of a narrowed
// search may hold for it to read whole rows in one statement instead of
// positions first (page). Whole rows
// cost ~0.5 µs a row more to read than the text columns a query tests
// (18.16 here), while the second statement reads a granule of whole rows
// per hit, ~0.1 s for a page of 100 scattered hits: the one statement
// wins below ~200,000 rows (a rare term over 10M rows: 0.27 -> 0.20 s).
var maxOneStatementRows int64 = 150_000 // a variable for tests

// newestAfter adds the condition that rows come after the cursor, if any, in
// search order (newest first), and that order.
func (st *stmt) newestAfter(c *cursor) {
	if c != nil {
		st.add(" AND (ts_ns < ? OR (ts_ns = ? AND (seq < ? OR (seq = ? AND idx < ?))))",
			c.tsNs, c.tsNs, c.seq, c.seq, c.idx)
	}
	st.add(" ORDER BY ts_ns DESC, seq DESC, idx DESC")
}

// positions returns the positions of the newest n matching rows in [from,
// to) (after the cursor, if any), newest first; narrow is Service.narrow's
// condition, if any.
func (s *Service) positions(ctx context.Context, tenant string, from, to time.Time, after *cursor, q *lql.Query, narrow string, n int) ([]cursor, error) {
	st := &stmt{}
	st.add("SELECT ts_ns, seq, idx")
	st.from(scope{tenant: tenant, from: from, to: to, q: q, narrow: narrow})
	st.newestAfter(after)
	st.add(" LIMIT " + strconv.Itoa(n))
	rows, err := s.store.Query(ctx, st.b.String(), st.args...)
	if err != nil {
		return nil, queryError(ctx, err)
	}
	defer rows.Close()
	var out []cursor
	for rows.Next() {
		var c cursor
		if err := rows.Scan(&c.tsNs, &c.seq, &c.idx); err != nil {
			return nil, apierr.Wrap(err, "scan position")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, queryError(ctx, err)
	}
	return out, nil
}

// rowsAt reads the whole rows at pos, in pos's order. The positions come
// from the database, not the client, and are numbers: they are written into
// the statement as integer literals (one bound tuple list per position
// would be thousands of parameters).
func (s *Service) rowsAt(ctx context.Context, tenant string, pos []cursor) ([]store.StoredEvent, error) {
	if len(pos) == 0 {
		return nil, nil
	}
	var set strings.Builder
	seconds := map[int64]bool{}
	var ranges []store.TimeRange
	for i, c := range pos {
		if i > 0 {
			set.WriteString(", ")
		}
		fmt.Fprintf(&set, "(%d, %d, %d)", c.tsNs, c.seq, c.idx)
		if sec := time.Unix(0, c.tsNs).Unix(); !seconds[sec] {
			seconds[sec] = true
			ranges = append(ranges, store.TimeRange{From: sec, To: sec})
		}
	}
	// The rows' seconds, not the range from the oldest to the newest: a
	// page of rare hits spread over a day reads their granules only.
	st := &stmt{}
	st.add("SELECT "+store.EventColumns+" FROM logs WHERE tenant_id = ?", tenant)
	st.add(" AND " + store.RangesSQL(ranges))
	st.add(" AND (ts_ns, seq, idx) IN (" + set.String() + ")")
	evs, err := s.events(ctx, st, len(pos)+1)
	if err != nil {
		return nil, err
	}
	byPos := make(map[cursor]store.StoredEvent, len(evs))
	for _, ev := range evs {
		byPos[cursor{tsNs: ev.Time, seq: ev.Seq, idx: ev.Idx}] = ev
	}
	out := make([]store.StoredEvent, 0, len(pos))
	for _, c := range pos {
		if ev, ok := byPos[c]; ok {
			out = append(out, ev)
		}
	}
	return out, nil
}

// rangeRequest is a request with a required time range.
type rangeRequest interface {
	GetFrom() *timestamppb.Timestamp
	GetTo() *timestamppb.Timestamp
}

func (s *Service) timeRange(req rangeRequest) (from, to time.Time, err error) {
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

// toProto is the API form of a stored event, with its id: the position
// (ts_ns, seq, idx), encoded as a cursor is.
func toProto(ev store.StoredEvent) *sawmillv1.LogEvent {
	pb := eventpb.ToProto(&ev.Event)
	pb.Id = encodeCursor(cursor{tsNs: ev.Time, seq: ev.Seq, idx: ev.Idx})
	return pb
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

// pageLimit applies a request's limit: 0 means def, negative or above most
// is a 400 (unit, e.g. " groups", follows the maximum in the message).
func pageLimit(limit, def, most int, unit string) (int, error) {
	switch {
	case limit < 0:
		return 0, apierr.New(apierr.Invalid, "limit must not be negative")
	case limit == 0:
		return def, nil
	case limit > most:
		return 0, apierr.New(apierr.Invalid, "limit %d exceeds the maximum of %d%s", limit, most, unit)
	}
	return limit, nil
}
