package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sawmillhq/sawmill/pkg/textbloom"
)

// Text blooms (migrations 6 and 7): for every chunk of up to
// textbloom.ChunkRows rows of one tenant and retention class that Insert
// stores, a bloom filter of the 3-grams of the rows' search text with the
// chunk's time range. TextRanges reads them to narrow a text search to the
// time ranges of the chunks that may hold a match: the skipping index
// 18.16 lacks. The rows are still tested by the exact query, so a false
// positive costs time, never a wrong answer.
//
// The guarantee TextRanges rests on: every logs row lies in the time range
// of some bloom of its tenant that may contain its text. Insert writes a
// batch's blooms before its rows (a failure in between leaves blooms that
// cover nothing, which is harmless); migration 7 covers the rows stored
// before the table existed with "anything" blooms (an empty filter) per
// tenant, retention class and day. Writers of an earlier release do not
// write blooms: upgrade every writer before relying on search results over
// data written during the upgrade, or run migration 7's statement again.

// bloomColumns is the column list of the blooms INSERT.
var bloomColumns = []string{"tenant_id", "retention_days", "min_ts", "max_ts", "rows", "bloom"}

var insertBloomsSQL = "INSERT INTO text_blooms (" + strings.Join(bloomColumns, ", ") + ")"

// textBlooms is a batch's blooms, column by column.
type textBlooms struct {
	tenant       []string
	retention    []uint16
	minTS, maxTS []int64
	rows         []uint32
	bloom        []string
}

// buildBlooms returns the blooms of rows: the rows of each tenant and
// retention class in time order, cut into chunks of textbloom.ChunkRows.
// Every row's Time must be valid (newColumns checked it).
func buildBlooms(rows []Row) *textBlooms {
	type class struct {
		tenant    string
		retention uint16
	}
	groups := map[class][]int{}
	var order []class
	for i := range rows {
		k := class{rows[i].Tenant, rows[i].RetentionDays}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	out := &textBlooms{}
	for _, k := range order {
		idx := groups[k]
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(rows[a].Time, rows[b].Time) })
		for len(idx) > 0 {
			n := min(len(idx), textbloom.ChunkRows)
			chunk := idx[:n]
			idx = idx[n:]
			b := textbloom.NewBuilder(n)
			for _, i := range chunk {
				writeSearchText(b, &rows[i])
			}
			first, _ := unixSeconds(rows[chunk[0]].Time)
			last, _ := unixSeconds(rows[chunk[n-1]].Time)
			out.tenant = append(out.tenant, k.tenant)
			out.retention = append(out.retention, k.retention)
			out.minTS = append(out.minTS, first)
			out.maxTS = append(out.maxTS, last)
			out.rows = append(out.rows, uint32(n))
			out.bloom = append(out.bloom, string(b.Bytes()))
		}
	}
	return out
}

// textWriter takes a row's search text in pieces: a *textbloom.Builder, or
// a test's recorder.
type textWriter interface {
	Write(string)
	EndRow()
}

// writeSearchText writes r's search text, as SearchTextExpr computes it
// but not lowered (the Builder lowers), and ends the row.
func writeSearchText(b textWriter, r *Row) {
	for i, f := range [...]string{r.Message, r.Level, r.Service, r.Environment, r.Host, r.Logger,
		r.TraceID, r.SpanID, r.RequestID, r.Exception.Type, r.Exception.Message, r.Exception.Stack} {
		if i > 0 {
			b.Write("\n")
		}
		b.Write(f)
	}
	b.Write("\n")
	for i, a := range r.Attrs {
		if i > 0 {
			b.Write("\n")
		}
		b.Write(a.Value)
	}
	b.EndRow()
}

// insertBlooms stores the blooms of rows (valid, non-empty).
func (s *Store) insertBlooms(ctx context.Context, rows []Row) error {
	bl := buildBlooms(rows)
	batch, err := s.conn.PrepareBatch(s.writeContext(ctx), insertBloomsSQL)
	if err != nil {
		return fmt.Errorf("store: prepare blooms insert: %w", err)
	}
	defer batch.Close()
	for i, c := range []any{bl.tenant, bl.retention, bl.minTS, bl.maxTS, bl.rows, bl.bloom} {
		if err := batch.Column(i).Append(c); err != nil {
			return fmt.Errorf("store: append blooms column %s: %w", bloomColumns[i], err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("store: insert %d blooms: %w", len(bl.tenant), err)
	}
	return nil
}

// TimeRange is a closed range of whole seconds (Unix time).
type TimeRange struct {
	From, To int64
	// Rows is how many rows the chunks in the range hold (TextRanges; 0
	// elsewhere). A search narrowed to the range reads them, and the rows
	// of other chunks (other inserts) in the same seconds.
	Rows int64
}

// maxTextSeconds is the most seconds TextRanges narrows to: RangesSQL
// lists them one by one, and the statement must stay well under the
// server's max_query_size (256 KiB); beyond it the needles are too common
// to be worth it.
const maxTextSeconds = 10_000

// maxTextChunks bounds the blooms TextRanges reads back: a needle in more
// chunks than this is common (random hex ids, say, whose 3-grams every
// chunk of a few hundred rows has), and the search goes without narrowing;
// the server stops reading at the limit, so finding that out is cheap.
const maxTextChunks = 1024

// TextRanges returns the time ranges, within [from, to], of the tenant's
// chunks whose blooms may hold rows meeting cond, merged and in order: every
// such row of the tenant in [from, to] has its ts in one of them. ok is
// false when cond rules nothing out or too many chunks may match: then
// there is nothing to narrow by. Zero ranges with ok true: no row matches.
func (s *Store) TextRanges(ctx context.Context, tenant string, from, to time.Time, cond textbloom.Cond) (ranges []TimeRange, ok bool, err error) {
	test, ok := cond.SQL("bloom")
	if !ok {
		return nil, false, nil
	}
	rows, err := s.Query(ctx, "SELECT min_ts, max_ts, rows FROM text_blooms WHERE tenant_id = ? AND max_ts >= toDateTime(?) AND min_ts <= toDateTime(?) AND (bloom = '' OR "+test+") LIMIT "+strconv.Itoa(maxTextChunks+1),
		tenant, from.Unix(), to.Unix())
	if err != nil {
		return nil, false, fmt.Errorf("store: read text blooms: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var lo, hi time.Time
		var n uint32
		if err := rows.Scan(&lo, &hi, &n); err != nil {
			return nil, false, fmt.Errorf("store: scan text blooms: %w", err)
		}
		ranges = append(ranges, TimeRange{From: lo.Unix(), To: hi.Unix(), Rows: int64(n)})
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("store: read text blooms: %w", err)
	}
	if len(ranges) > maxTextChunks {
		return nil, false, nil
	}
	ranges = mergeRanges(ranges)
	var seconds int64
	for _, r := range ranges {
		seconds += r.To - r.From + 1
	}
	if seconds > maxTextSeconds {
		return nil, false, nil
	}
	return ranges, true, nil
}

// mergeRanges sorts ranges and merges those that overlap or touch.
func mergeRanges(rs []TimeRange) []TimeRange {
	slices.SortFunc(rs, func(a, b TimeRange) int { return cmp.Compare(a.From, b.From) })
	var out []TimeRange
	for _, r := range rs {
		if n := len(out); n > 0 && r.From <= out[n-1].To+1 {
			out[n-1].To = max(out[n-1].To, r.To)
			out[n-1].Rows += r.Rows
			continue
		}
		out = append(out, r)
	}
	return out
}

// RangesSQL is a condition on logs.ts that holds inside ranges only
// ("0" for none), as a set of seconds: ClickHouse prunes the primary key
// by it, and 18.16 analyses a set of 1,000 seconds in 30 ms where an OR of
// 100 ranges takes 200 ms. It holds only formatted numbers.
func RangesSQL(ranges []TimeRange) string {
	if len(ranges) == 0 {
		return "0"
	}
	var b strings.Builder
	b.WriteString("ts IN (")
	sep := ""
	for _, r := range ranges {
		for sec := r.From; sec <= r.To; sec++ {
			b.WriteString(sep)
			b.WriteString(strconv.FormatInt(sec, 10))
			sep = ", "
		}
	}
	b.WriteString(")")
	return b.String()
}
