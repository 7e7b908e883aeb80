package store

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// Row is one event as the writer stores it.
type Row struct {
	// Tenant owns the row; every read filters on it.
	Tenant string
	// RetentionDays is the tenant's retention class when the row was
	// ingested; it is part of the partition key.
	RetentionDays uint16
	// Seq is the JetStream stream sequence of the message that carried the
	// row, Idx the row's position within that message: together the key
	// that makes redelivered messages detectable (see Existing).
	Seq uint64
	Idx uint32
	event.Event
}

// RowKey identifies a stored row by the message that carried it.
type RowKey struct {
	Seq uint64
	Idx uint32
}

// insertColumns is the column list of Insert, in the order columns are
// appended. 18.16 needs the list: without it a batch sees no columns.
var insertColumns = []string{
	"tenant_id", "ts", "ts_ns", "observed_ns", "retention_days", "level", "severity_number",
	"message", "service", "environment", "host", "logger", "trace_id", "span_id", "request_id",
	"attr_keys", "attr_values", "num_keys", "num_values", "exc_type", "exc_message", "exc_stack",
	"size_bytes", "seq", "idx",
}

var insertSQL = "INSERT INTO logs (" + strings.Join(insertColumns, ", ") + ")"

// Insert stores rows in one INSERT (one block on the wire), after their
// text blooms in another (blooms.go), so call it with
// large batches, never a row at a time. Zero rows is a no-op. Every row's
// Time must fall in ClickHouse's DateTime range (1970 to 2106); otherwise
// nothing is stored and an error names the row. Insert does not deduplicate:
// call Existing first when rows may have been stored before.
func (s *Store) Insert(ctx context.Context, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	cols, err := newColumns(rows)
	if err != nil {
		return err
	}
	// Blooms first: rows are never stored without theirs (blooms.go).
	if err := s.insertBlooms(ctx, rows); err != nil {
		return err
	}
	return s.insertRows(ctx, cols, len(rows))
}

// insertRows stores n rows, given as columns, in logs: Insert's second
// INSERT (and, alone, what a writer of a release before the text blooms did).
func (s *Store) insertRows(ctx context.Context, cols *columns, n int) error {
	batch, err := s.conn.PrepareBatch(s.writeContext(ctx), insertSQL)
	if err != nil {
		return fmt.Errorf("store: prepare insert: %w", err)
	}
	defer batch.Close()
	if err := cols.appendTo(batch); err != nil {
		return err
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("store: insert %d rows: %w", n, err)
	}
	return nil
}

// columns holds a batch column by column, the cheapest form to append.
type columns struct {
	tenant, level, message, service, environment, host, logger []string
	traceID, spanID, requestID, excType, excMessage, excStack  []string
	ts, tsNs, observedNs                                       []int64
	retention                                                  []uint16
	severity                                                   []uint8
	attrKeys, attrValues, numKeys                              [][]string
	numValues                                                  [][]float64
	size, idx                                                  []uint32
	seq                                                        []uint64
}

func newColumns(rows []Row) (*columns, error) {
	n := len(rows)
	str := func() []string { return make([]string, n) }
	c := &columns{
		tenant: str(), level: str(), message: str(), service: str(), environment: str(),
		host: str(), logger: str(), traceID: str(), spanID: str(), requestID: str(),
		excType: str(), excMessage: str(), excStack: str(),
		ts: make([]int64, n), tsNs: make([]int64, n), observedNs: make([]int64, n),
		retention: make([]uint16, n), severity: make([]uint8, n),
		attrKeys: make([][]string, n), attrValues: make([][]string, n),
		numKeys: make([][]string, n), numValues: make([][]float64, n),
		size: make([]uint32, n), idx: make([]uint32, n), seq: make([]uint64, n),
	}
	for i := range rows {
		r := &rows[i]
		sec, err := unixSeconds(r.Time)
		if err != nil {
			return nil, fmt.Errorf("store: row %d (seq %d idx %d): %w", i, r.Seq, r.Idx, err)
		}
		c.tenant[i], c.ts[i], c.tsNs[i], c.observedNs[i] = r.Tenant, sec, r.Time, r.ObservedTime
		c.retention[i], c.level[i] = r.RetentionDays, r.Level
		c.severity[i] = uint8(min(max(r.SeverityNumber, 0), math.MaxUint8))
		c.message[i], c.service[i], c.environment[i] = r.Message, r.Service, r.Environment
		c.host[i], c.logger[i] = r.Host, r.Logger
		c.traceID[i], c.spanID[i], c.requestID[i] = r.TraceID, r.SpanID, r.RequestID
		c.attrKeys[i], c.attrValues[i] = splitAttrs(r.Attrs)
		c.numKeys[i], c.numValues[i] = splitNumAttrs(r.NumAttrs)
		c.excType[i], c.excMessage[i], c.excStack[i] = r.Exception.Type, r.Exception.Message, r.Exception.Stack
		c.size[i] = uint32(min(r.Size(), math.MaxUint32))
		c.seq[i], c.idx[i] = r.Seq, r.Idx
	}
	return c, nil
}

// appendTo appends the columns to batch, in insertColumns order.
func (c *columns) appendTo(batch driver.Batch) error {
	for i, col := range c.all() {
		var err error
		switch col := col.(type) {
		case [][]string:
			err = appendRows(batch.Column(i), col)
		case [][]float64:
			err = appendRows(batch.Column(i), col)
		default:
			err = batch.Column(i).Append(col)
		}
		if err != nil {
			return fmt.Errorf("store: append column %s: %w", insertColumns[i], err)
		}
	}
	return nil
}

// appendRows appends an array column row by row: clickhouse-go takes a
// typed row without reflection, where Append of the whole column reflects
// on every row and boxes every element (a tenth of the writer's CPU).
func appendRows[T any](col driver.BatchColumn, rows []T) error {
	for _, r := range rows {
		if err := col.AppendRow(r); err != nil {
			return err
		}
	}
	return nil
}

// all returns the columns in insertColumns order.
func (c *columns) all() []any {
	return []any{
		c.tenant, c.ts, c.tsNs, c.observedNs, c.retention, c.level, c.severity,
		c.message, c.service, c.environment, c.host, c.logger, c.traceID, c.spanID, c.requestID,
		c.attrKeys, c.attrValues, c.numKeys, c.numValues, c.excType, c.excMessage, c.excStack,
		c.size, c.seq, c.idx,
	}
}

// unixSeconds is ns floored to seconds, checked against DateTime's range.
func unixSeconds(ns int64) (int64, error) {
	sec := ns / 1e9
	if ns < 0 && ns%1e9 != 0 {
		sec--
	}
	if sec < 0 || sec > math.MaxUint32 {
		return 0, fmt.Errorf("time %d ns is outside ClickHouse DateTime range", ns)
	}
	return sec, nil
}

func splitAttrs(attrs []event.Attr) (keys, values []string) {
	keys, values = make([]string, len(attrs)), make([]string, len(attrs))
	for i, a := range attrs {
		keys[i], values[i] = a.Key, a.Value
	}
	return keys, values
}

func splitNumAttrs(attrs []event.NumAttr) (keys []string, values []float64) {
	keys, values = make([]string, len(attrs)), make([]float64, len(attrs))
	for i, a := range attrs {
		keys[i], values[i] = a.Key, a.Value
	}
	return keys, values
}

// Existing returns which of rows are already stored, by (Seq, Idx): the
// writer inserts only the others when a message is redelivered. The query
// uses the primary key (tenant and time range of rows) so it reads only the
// granules those rows would be in. Rows with a Time outside DateTime's range
// are never stored, so they are never reported. In cluster mode it reads
// every shard through the Distributed logs, skipping a lagging replica (see
// existingContext).
func (s *Store) Existing(ctx context.Context, rows []Row) (map[RowKey]struct{}, error) {
	found := map[RowKey]struct{}{}
	want := make(map[RowKey]struct{}, len(rows))
	tenants := map[string]struct{}{}
	seqs := map[uint64]struct{}{}
	minTS, maxTS := int64(math.MaxInt64), int64(-1)
	for _, r := range rows {
		sec, err := unixSeconds(r.Time)
		if err != nil {
			continue
		}
		want[RowKey{r.Seq, r.Idx}] = struct{}{}
		tenants[r.Tenant] = struct{}{}
		seqs[r.Seq] = struct{}{}
		minTS, maxTS = min(minTS, sec), max(maxTS, sec)
	}
	if len(want) == 0 {
		return found, nil
	}
	query, args := existingQuery(tenants, seqs, minTS, maxTS)
	res, err := s.conn.Query(s.existingContext(ctx), query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: existing rows: %w", err)
	}
	defer res.Close()
	for res.Next() {
		var k RowKey
		if err := res.Scan(&k.Seq, &k.Idx); err != nil {
			return nil, fmt.Errorf("store: existing rows: %w", err)
		}
		if _, ok := want[k]; ok {
			found[k] = struct{}{}
		}
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("store: existing rows: %w", err)
	}
	return found, nil
}

// existingQuery builds Existing's query. Tenants are bound (`?`, quoted by
// the driver); sequences are numbers formatted here.
func existingQuery(tenants map[string]struct{}, seqs map[uint64]struct{}, minTS, maxTS int64) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, len(tenants)+2)
	b.WriteString("SELECT seq, idx FROM logs WHERE tenant_id IN (")
	sep := ""
	for t := range tenants {
		b.WriteString(sep + "?")
		args = append(args, t)
		sep = ", "
	}
	b.WriteString(") AND ts BETWEEN toDateTime(?) AND toDateTime(?) AND seq IN (")
	args = append(args, minTS, maxTS)
	sep = ""
	for seq := range seqs {
		b.WriteString(sep)
		b.WriteString(strconv.FormatUint(seq, 10))
		sep = ", "
	}
	b.WriteString(")")
	return b.String(), args
}
