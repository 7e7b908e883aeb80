package query

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"google.golang.org/protobuf/types/known/structpb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/lql"
)

// Bounds on one aggregation's result table.
const (
	// maxBuckets is the most time buckets a timechart may have.
	maxBuckets = 1500
	// defaultGroups and maxGroups bound the groups of a stats table.
	defaultGroups, maxGroups = 100, 1000
	// defaultSeries and maxSeries bound the series (groups) of a timechart.
	defaultSeries, maxSeries = 10, 100
)

// Aggregate computes a table from the events matching req.Query in [from,
// to): a timechart when req.Interval is set, stats otherwise, grouped by
// req.GroupBy — or the stats/timechart pipe of the query itself, when the
// request's interval, group_by and aggregations are all empty. Table pipes
// (sort, limit, fields) in the query apply to the result either way. The
// req.Limit largest groups by the first aggregation are kept; the others
// make one more row whose group-by columns are null ("other"). With
// SetTenants, a suspended or deleted tenant is refused (403) and from is
// clipped to the tenant's retention, as for Search.
func (s *Service) Aggregate(ctx context.Context, req *sawmillv1.AggregateRequest) (*sawmillv1.AggregateResponse, error) {
	p, err := s.auth.GRPC(ctx, auth.ScopeQuery)
	if err != nil {
		return nil, err
	}
	from, to, err := s.tenantRange(p.TenantID, req)
	if err != nil {
		return nil, err
	}
	q, err := parseQuery(req.GetQuery())
	if err != nil {
		return nil, err
	}
	a, stages, err := requestAnalysis(q, req)
	if err != nil {
		return nil, err
	}
	t, err := s.analyse(ctx, scope{tenant: p.TenantID, from: from, to: to, q: q}, a, int(req.GetLimit()))
	if err != nil {
		return nil, err
	}
	t.apply(stages)
	cols, rows := t.proto()
	return &sawmillv1.AggregateResponse{Columns: cols, Rows: rows}, nil
}

// searchTable answers a Search whose query has pipes with a table (columns
// and rows, no events, no cursor). The request's limit does not apply: the
// table keeps the default number of groups, and "| limit N" cuts its rows.
func (s *Service) searchTable(ctx context.Context, tenant string, from, to time.Time, q *lql.Query, req *sawmillv1.SearchRequest) (*sawmillv1.SearchResponse, error) {
	pl := q.Pipeline()
	if pl.Analysis == nil {
		st := pl.Stages[0]
		name, _, _ := strings.Cut(st.String(), " ")
		return nil, apierr.New(apierr.Invalid, "query: at %d: | %s on a plain search is not supported yet; start the pipes with stats or timechart", st.Pos(), name).
			WithDetails(map[string]any{"position": st.Pos()})
	}
	if req.GetCursor() != "" {
		return nil, apierr.New(apierr.Invalid, "cursor: a stats or timechart table has no pages")
	}
	t, err := s.analyse(ctx, scope{tenant: tenant, from: from, to: to, q: q}, pl.Analysis, 0)
	if err != nil {
		return nil, err
	}
	t.apply(pl.Stages)
	cols, rows := t.proto()
	return &sawmillv1.SearchResponse{Columns: cols, Rows: rows}, nil
}

// parseQuery parses LQL, mapping its errors to 400 with the position.
func parseQuery(text string) (*lql.Query, error) {
	q, err := lql.Parse(text)
	if err != nil {
		return nil, lqlError("query", err)
	}
	return q, nil
}

func lqlError(what string, err error) error {
	ae := apierr.New(apierr.Invalid, "%s: %v", what, err)
	if pe := (*lql.Error)(nil); errors.As(err, &pe) {
		ae = ae.WithDetails(map[string]any{"position": pe.Pos})
	}
	return ae
}

// requestAnalysis returns the analysis an AggregateRequest asks for and the
// table pipes to apply after it.
func requestAnalysis(q *lql.Query, req *sawmillv1.AggregateRequest) (*lql.Analysis, []lql.Stage, error) {
	var stages []lql.Stage
	var piped *lql.Analysis
	if pl := q.Pipeline(); pl != nil {
		piped, stages = pl.Analysis, pl.Stages
	}
	structured := req.GetInterval() != "" || len(req.GetGroupBy()) > 0 || len(req.GetAggregations()) > 0
	if piped != nil {
		if structured {
			return nil, nil, apierr.New(apierr.Invalid, "give the aggregation either as a stats or timechart pipe in query or as interval, group_by and aggregations, not both")
		}
		return piped, stages, nil
	}
	a, err := lql.NewAnalysis(req.GetInterval(), req.GetAggregations(), req.GetGroupBy())
	if err != nil {
		return nil, nil, lqlError("aggregation", err)
	}
	if err := a.CheckStages(stages); err != nil {
		return nil, nil, lqlError("query", err)
	}
	return a, stages, nil
}

// scope is what every statement of one aggregation selects from: the
// tenant's events in [from, to) matching q's search expression.
type scope struct {
	tenant   string
	from, to time.Time
	q        *lql.Query
	// narrow, if set, is Service.narrow's condition on ts.
	narrow string
}

// stmt is a statement under construction: SQL and its `?` arguments, kept
// in step.
type stmt struct {
	b    strings.Builder
	args []any
	cols int // select-list columns so far
}

// column starts the next select-list column. (No constant columns: 18.16
// fails on them in subqueries, "Column '0' already exists".)
func (st *stmt) column() {
	if st.cols > 0 {
		st.add(", ")
	}
	st.cols++
}

func (st *stmt) add(sql string, args ...any) {
	st.b.WriteString(sql)
	st.args = append(st.args, args...)
}

func (st *stmt) expr(e lql.Expr) { st.add(e.SQL, e.Args...) }

// from writes FROM and WHERE: the tenant predicate and time range always,
// then the query's expression (lql.Query.From), then the narrowing, if any:
// for aggregations and search positions alike.
func (st *stmt) from(sc scope) {
	sql, args := sc.q.From(sc.tenant, sc.from, sc.to)
	st.add(sql, args...)
	if sc.narrow != "" {
		st.add(" AND (" + sc.narrow + ")")
	}
}

// layout is the shape of a result row: [_b], [_top],
// _g0..., then per aggregation _a<i> [_n<i>].
type layout struct {
	bucket, top bool
	groups      int
	aggs        []lql.Agg
}

// aggs writes the columns of the aggregations.
func (st *stmt) aggs(aggs []lql.Agg) {
	for i, g := range aggs {
		st.column()
		st.expr(g.SQL())
		st.add(" AS _a" + strconv.Itoa(i))
		if e, ok := g.PresenceSQL(); ok {
			st.column()
			st.expr(e)
			st.add(" AS _n" + strconv.Itoa(i))
		}
	}
}

// groupCols writes the group-by columns _g<i>; with ifTop, as the empty string in the
// rows outside the top groups (_top = 0).
func (st *stmt) groupCols(a *lql.Analysis, ifTop bool) {
	for i, f := range a.By {
		st.column()
		if ifTop {
			st.add("if(_top, ")
		}
		st.expr(lql.GroupSQL(f))
		if ifTop {
			st.add(", '')")
		}
		st.add(" AS _g" + strconv.Itoa(i))
	}
}

func groupAliases(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = "_g" + strconv.Itoa(i)
	}
	return strings.Join(s, ", ")
}

// inGroups writes "(g0, g1) IN ((?, ?), ...)": whether a row belongs to one
// of groups. Every value is bound.
func (st *stmt) inGroups(a *lql.Analysis, groups [][]string) {
	st.add("(")
	for i, f := range a.By {
		if i > 0 {
			st.add(", ")
		}
		st.expr(lql.GroupSQL(f))
	}
	st.add(") IN (")
	for i, g := range groups {
		if i > 0 {
			st.add(", ")
		}
		st.add("(")
		for j, v := range g {
			if j > 0 {
				st.add(", ")
			}
			st.add("?", v)
		}
		st.add(")")
	}
	st.add(")")
}

// rankedGroupsSQL selects the groups ordered by the first aggregation,
// largest first, at most limit of them (with every aggregation when all
// is true).
func rankedGroupsSQL(sc scope, a *lql.Analysis, limit int, all bool) *stmt {
	st := &stmt{}
	st.add("SELECT ")
	st.groupCols(a, false)
	if all {
		st.aggs(a.Aggs)
	} else {
		st.aggs(a.Aggs[:1])
	}
	st.from(sc)
	g := groupAliases(len(a.By))
	st.add(" GROUP BY " + g + " ORDER BY _a0 DESC, " + g + " LIMIT " + strconv.Itoa(limit))
	return st
}

// otherSQL aggregates every event outside the given groups in one row.
func otherSQL(sc scope, a *lql.Analysis, groups [][]string) *stmt {
	st := &stmt{}
	st.add("SELECT ")
	st.aggs(a.Aggs)
	st.from(sc)
	st.add(" AND NOT (")
	st.inGroups(a, groups)
	st.add(")")
	return st
}

// timechartSQL aggregates per time bucket (and group). With other set, the
// rows of groups outside top are aggregated together under _top = 0.
func timechartSQL(sc scope, a *lql.Analysis, top [][]string, other bool) *stmt {
	st := &stmt{}
	// The bucket is aligned to the epoch, hence to UTC minutes, hours and
	// days; 18.16 has no toStartOfInterval. The width is a number formatted
	// here, never query text.
	n := strconv.FormatInt(int64(a.Interval/time.Second), 10)
	st.add("SELECT ")
	st.column()
	st.add("toInt64(intDiv(toUInt32(ts), " + n + ") * " + n + ") AS _b")
	group := "_b"
	switch {
	case len(a.By) > 0 && other:
		st.column()
		st.inGroups(a, top)
		st.add(" AS _top")
		st.groupCols(a, true)
		group += ", _top, " + groupAliases(len(a.By))
	case len(a.By) > 0:
		st.groupCols(a, false)
		group += ", " + groupAliases(len(a.By))
	}
	st.aggs(a.Aggs)
	st.from(sc)
	st.add(" GROUP BY " + group)
	return st
}

// analyse runs the statements of a and builds its table.
func (s *Service) analyse(ctx context.Context, sc scope, a *lql.Analysis, limit int) (*table, error) {
	if sc.from.Unix() < 0 {
		return nil, apierr.New(apierr.Invalid, "from must not be before 1970")
	}
	def, most := defaultGroups, maxGroups
	if a.Interval > 0 {
		def, most = defaultSeries, maxSeries
	}
	limit, err := pageLimit(limit, def, most, " groups")
	if err != nil {
		return nil, err
	}
	if sc.narrow, _, err = s.narrow(ctx, sc.tenant, sc.from, sc.to, sc.q); err != nil {
		return nil, err
	}
	if a.Interval > 0 {
		return s.timechart(ctx, sc, a, limit)
	}
	return s.stats(ctx, sc, a, limit)
}

func (s *Service) stats(ctx context.Context, sc scope, a *lql.Analysis, limit int) (*table, error) {
	t := newTable(a)
	seconds := sc.to.Sub(sc.from).Seconds()
	if len(a.By) == 0 {
		st := &stmt{}
		st.add("SELECT ")
		st.aggs(a.Aggs)
		st.from(sc)
		res, err := s.run(ctx, st, layout{aggs: a.Aggs})
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			t.rows = append(t.rows, t.row(0, r.groups, r.vals, seconds))
		}
		return t, nil
	}
	res, err := s.run(ctx, rankedGroupsSQL(sc, a, limit+1, true), layout{groups: len(a.By), aggs: a.Aggs})
	if err != nil {
		return nil, err
	}
	if len(res) <= limit {
		for _, r := range res {
			t.rows = append(t.rows, t.row(0, r.groups, r.vals, seconds))
		}
		return t, nil
	}
	res = res[:limit]
	top := make([][]string, len(res))
	for i, r := range res {
		top[i] = r.groups
		t.rows = append(t.rows, t.row(0, r.groups, r.vals, seconds))
	}
	other, err := s.run(ctx, otherSQL(sc, a, top), layout{aggs: a.Aggs})
	if err != nil {
		return nil, err
	}
	for _, r := range other {
		t.rows = append(t.rows, t.row(0, nil, r.vals, seconds))
	}
	return t, nil
}

func (s *Service) timechart(ctx context.Context, sc scope, a *lql.Analysis, limit int) (*table, error) {
	width := int64(a.Interval / time.Second)
	first, last, n := buckets(sc, width)
	if n > maxBuckets {
		return nil, apierr.New(apierr.Invalid, "interval %s makes %d time buckets over this range; the most is %d: widen the interval (%s) or narrow the range",
			lql.FormatInterval(a.Interval), n, maxBuckets, widerInterval(sc))
	}
	var top [][]string
	other := false
	if len(a.By) > 0 {
		res, err := s.run(ctx, rankedGroupsSQL(sc, a, limit+1, false), layout{groups: len(a.By), aggs: a.Aggs[:1]})
		if err != nil {
			return nil, err
		}
		if len(res) > limit {
			res, other = res[:limit], true
		}
		for _, r := range res {
			top = append(top, r.groups)
		}
	}
	res, err := s.run(ctx, timechartSQL(sc, a, top, other), layout{bucket: true, top: other, groups: len(a.By), aggs: a.Aggs})
	if err != nil {
		return nil, err
	}
	// Series: the top groups in rank order, then "other"; one series when
	// there is no group-by.
	series := map[string]int{}
	for i, g := range top {
		series[groupKey(g)] = i
	}
	nSeries := len(top)
	if len(a.By) == 0 {
		nSeries = 1
	}
	otherIdx := nSeries
	if other {
		nSeries++
	}
	type key struct {
		bucket int64
		series int
	}
	found := map[key][]aggValue{}
	for _, r := range res {
		i := 0
		switch {
		case other && !r.top:
			i = otherIdx
		case len(a.By) > 0:
			var ok bool
			if i, ok = series[groupKey(r.groups)]; !ok {
				continue // cannot happen: every group of the statement is a top one
			}
		}
		found[key{r.bucket, i}] = r.vals
	}
	t := newTable(a)
	seconds := a.Interval.Seconds()
	for b := first; b <= last; b += width {
		for i := range nSeries {
			var groups []string // nil: the "other" series
			switch {
			case i < len(top):
				groups = top[i]
			case len(a.By) == 0:
				groups = []string{}
			}
			t.rows = append(t.rows, t.row(b, groups, found[key{b, i}], seconds))
		}
	}
	return t, nil
}

// buckets returns the first and last start of the buckets of width seconds
// that [from, to) touches, and how many there are.
func buckets(sc scope, width int64) (first, last, n int64) {
	first = floorDiv(sc.from.Unix(), width) * width
	lastSec := floorDiv(sc.to.UnixNano()-1, 1e9) // the last second [from, to) reaches
	last = floorDiv(lastSec, width) * width
	return first, last, (last-first)/width + 1
}

// widerInterval suggests the narrowest common interval that fits the range
// in maxBuckets.
func widerInterval(sc scope) string {
	for _, s := range []int64{5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400} {
		if _, _, n := buckets(sc, s); n <= maxBuckets {
			return "to " + lql.FormatInterval(time.Duration(s)*time.Second) + " or more"
		}
	}
	return "to 7d or more"
}

// groupKey identifies a group by its values; length prefixes keep values
// that contain any byte apart.
func groupKey(values []string) string {
	var b strings.Builder
	for _, v := range values {
		b.WriteString(strconv.Itoa(len(v)) + ":" + v)
	}
	return b.String()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// aggValue is one aggregation's value in a result row and, for those that
// have one, the count of rows that had the field.
type aggValue struct {
	v, n float64
}

// result is one row a statement returned, as its layout says.
type result struct {
	bucket int64
	top    bool
	groups []string
	vals   []aggValue
}

// run executes st and scans its rows by l.
func (s *Service) run(ctx context.Context, st *stmt, l layout) ([]result, error) {
	rows, err := s.store.Query(ctx, st.b.String(), st.args...)
	if err != nil {
		return nil, queryError(ctx, err)
	}
	defer rows.Close()
	var out []result
	for rows.Next() {
		r, err := scanResult(rows, l)
		if err != nil {
			return nil, apierr.Wrap(err, "scan aggregation")
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, queryError(ctx, err)
	}
	return out, nil
}

func scanResult(rows driver.Rows, l layout) (result, error) {
	var (
		r     result
		top   uint8
		dests []any
	)
	if l.bucket {
		dests = append(dests, &r.bucket)
	}
	if l.top {
		dests = append(dests, &top)
	}
	r.groups = make([]string, l.groups)
	for i := range r.groups {
		dests = append(dests, &r.groups[i])
	}
	r.vals = make([]aggValue, len(l.aggs))
	for i, g := range l.aggs {
		dests = append(dests, &r.vals[i].v)
		if _, ok := g.PresenceSQL(); ok {
			dests = append(dests, &r.vals[i].n)
		} else {
			r.vals[i].n = 1
		}
	}
	if err := rows.Scan(dests...); err != nil {
		return result{}, fmt.Errorf("scan: %w", err)
	}
	r.top = top == 1
	return r, nil
}

// cell is one value of a result table; time cells hold Unix seconds in f.
type cell struct {
	null bool
	s    string
	f    float64
}

// table is a result table under construction.
type table struct {
	a    *lql.Analysis
	cols []lql.Column
	rows [][]cell
}

func newTable(a *lql.Analysis) *table { return &table{a: a, cols: a.Columns()} }

// row builds a row: the bucket (timechart), the groups (nil: "other", all
// null), and the aggregations, vals nil meaning no events. rate() divides
// the count by seconds.
func (t *table) row(bucket int64, groups []string, vals []aggValue, seconds float64) []cell {
	row := make([]cell, 0, len(t.cols))
	if t.a.Interval > 0 {
		row = append(row, cell{f: float64(bucket)})
	}
	for i := range t.a.By {
		if groups == nil {
			row = append(row, cell{null: true})
		} else {
			row = append(row, cell{s: groups[i]})
		}
	}
	for i, g := range t.a.Aggs {
		switch {
		case vals == nil && g.ZeroWhenEmpty():
			row = append(row, cell{})
		case vals == nil, vals[i].n == 0, math.IsNaN(vals[i].v), math.IsInf(vals[i].v, 0):
			row = append(row, cell{null: true})
		case g.IsRate():
			row = append(row, cell{f: vals[i].v / seconds})
		default:
			row = append(row, cell{f: vals[i].v})
		}
	}
	return row
}

// apply runs the table pipes in order.
func (t *table) apply(stages []lql.Stage) {
	for _, st := range stages {
		switch st := st.(type) {
		case *lql.Sort:
			t.sort(t.index(st.Column), st.Desc)
		case *lql.Limit:
			if len(t.rows) > st.N {
				t.rows = t.rows[:st.N]
			}
		case *lql.Fields:
			idx := make([]int, len(st.Columns))
			cols := make([]lql.Column, len(st.Columns))
			for i, c := range st.Columns {
				idx[i] = t.index(c)
				cols[i] = t.cols[idx[i]]
			}
			for r, row := range t.rows {
				nr := make([]cell, len(idx))
				for i, j := range idx {
					nr[i] = row[j]
				}
				t.rows[r] = nr
			}
			t.cols = cols
		}
	}
}

// index returns the position of a column CheckStages has vetted.
func (t *table) index(name string) int {
	for i, c := range t.cols {
		if c.Name == name {
			return i
		}
	}
	panic("query: column " + name + " not in table") // CheckStages rules it out
}

// sort orders the rows by column i, stably; nulls last either way.
func (t *table) sort(i int, desc bool) {
	str := t.cols[i].Type == "string"
	slices.SortStableFunc(t.rows, func(x, y []cell) int {
		a, b := x[i], y[i]
		switch {
		case a.null || b.null:
			return cmpBool(a.null, b.null)
		case desc && str:
			return strings.Compare(b.s, a.s)
		case str:
			return strings.Compare(a.s, b.s)
		case desc:
			return cmp.Compare(b.f, a.f)
		}
		return cmp.Compare(a.f, b.f)
	})
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// proto renders the table for the API.
func (t *table) proto() ([]*sawmillv1.Column, []*structpb.ListValue) {
	cols := make([]*sawmillv1.Column, len(t.cols))
	for i, c := range t.cols {
		cols[i] = &sawmillv1.Column{Name: c.Name, Type: c.Type}
	}
	rows := make([]*structpb.ListValue, len(t.rows))
	for r, row := range t.rows {
		vals := make([]*structpb.Value, len(row))
		for i, c := range row {
			switch {
			case c.null:
				vals[i] = structpb.NewNullValue()
			case t.cols[i].Type == "time":
				vals[i] = structpb.NewStringValue(time.Unix(int64(c.f), 0).UTC().Format(time.RFC3339))
			case t.cols[i].Type == "string":
				vals[i] = structpb.NewStringValue(c.s)
			default:
				vals[i] = structpb.NewNumberValue(c.f)
			}
		}
		rows[r] = &structpb.ListValue{Values: vals}
	}
	return cols, rows
}
