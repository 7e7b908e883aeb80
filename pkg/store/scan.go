package store

import (
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// EventColumns is the select list ScanEvent reads, in its order:
//
//	"SELECT " + store.EventColumns + " FROM logs WHERE tenant_id = ? AND ..."
const EventColumns = "ts_ns, observed_ns, level, severity_number, message, service, environment, host, logger, trace_id, span_id, request_id, attr_keys, attr_values, num_keys, num_values, exc_type, exc_message, exc_stack, seq, idx"

// StoredEvent is an event read back, with the key of the row that holds it
// (a stable cursor position and tie-breaker).
type StoredEvent struct {
	Seq uint64
	Idx uint32
	event.Event
}

// ScanEvent reads the current row of rows, which must select EventColumns
// (exactly, in that order). Attributes are rebuilt from the parallel arrays.
func ScanEvent(rows driver.Rows) (StoredEvent, error) {
	var (
		e                    StoredEvent
		severity             uint8
		attrKeys, attrValues []string
		numKeys              []string
		numValues            []float64
	)
	err := rows.Scan(&e.Time, &e.ObservedTime, &e.Level, &severity, &e.Message, &e.Service,
		&e.Environment, &e.Host, &e.Logger, &e.TraceID, &e.SpanID, &e.RequestID,
		&attrKeys, &attrValues, &numKeys, &numValues,
		&e.Exception.Type, &e.Exception.Message, &e.Exception.Stack, &e.Seq, &e.Idx)
	if err != nil {
		return StoredEvent{}, fmt.Errorf("store: scan event: %w", err)
	}
	e.SeverityNumber = int32(severity)
	if n := min(len(attrKeys), len(attrValues)); n > 0 {
		e.Attrs = make([]event.Attr, n)
		for i := range n {
			e.Attrs[i] = event.Attr{Key: attrKeys[i], Value: attrValues[i]}
		}
	}
	if n := min(len(numKeys), len(numValues)); n > 0 {
		e.NumAttrs = make([]event.NumAttr, n)
		for i := range n {
			e.NumAttrs[i] = event.NumAttr{Key: numKeys[i], Value: numValues[i]}
		}
	}
	return e, nil
}
