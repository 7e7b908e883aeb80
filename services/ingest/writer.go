package ingest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

var (
	writerBatchRows = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "sawmill_writer_batch_rows", Help: "Rows per ClickHouse insert.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 10),
	})
	writerInsertSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "sawmill_writer_insert_seconds", Help: "Duration of one flush: duplicate check, insert and acks.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	})
	writerRows = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sawmill_writer_rows_total", Help: "Rows handled by the writer: inserted, or skipped as already stored (redeliveries).",
	}, []string{"result"})
	writerLag = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "sawmill_writer_lag_messages", Help: "Batches in JetStream not yet delivered to a writer.",
	})
	writerPoison = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sawmill_writer_poison_messages_total", Help: "Messages that could not be decoded and were terminated.",
	})
)

// WriterConfig configures the writer.
type WriterConfig struct {
	// BatchRows flushes once this many rows are held. 0 → 150,000: at high
	// rates ClickHouse spends a quarter less CPU on three times fewer,
	// larger parts (fewer merges) than at 50,000 (bench/loadgen at 150k
	// events/s: 4.1 vs 5.0-5.8 CPU-s per million events), for ~1 GiB more
	// process memory at GOGC=300 (`sawmill dev` RSS 2.0-2.5 against
	// 1.1-1.5 GiB; docs/operations.md). At low rates BatchWait flushes
	// first.
	BatchRows int
	// BatchWait flushes what is held after this long. 0 → 1s.
	BatchWait time.Duration
	// AckWait is JetStream's redelivery timer for the writer consumer; the
	// writer marks messages in progress while an insert is retried, so it
	// only matters when a writer dies. 0 → 30s.
	AckWait time.Duration
}

// RegisterFlags registers the writer's flags under "writer.".
func (c *WriterConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.BatchRows, "writer.batch-rows", 150000, "rows per ClickHouse insert, at most")
	fs.DurationVar(&c.BatchWait, "writer.batch-wait", time.Second, "longest time rows wait before an insert")
	fs.DurationVar(&c.AckWait, "writer.ack-wait", 30*time.Second, "JetStream redelivery timeout for unacknowledged batches")
}

func (c *WriterConfig) defaults() {
	if c.BatchRows == 0 {
		c.BatchRows = 150000
	}
	if c.BatchWait == 0 {
		c.BatchWait = time.Second
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
}

// Writer moves batches from the LOGS stream into ClickHouse. Every row
// carries the stream sequence of its message and its index in it; before an
// insert the writer asks ClickHouse which of those (seq, idx) pairs are
// already stored and inserts only the rest, then acks. A crash between
// insert and ack therefore leads to a redelivery that inserts nothing:
// exactly once. Several writers may share the durable consumer.
type Writer struct {
	cfg   WriterConfig
	log   *slog.Logger
	bus   *bus.Bus
	store *store.Store

	// afterInsert, when set (tests), runs between the insert and the acks;
	// an error aborts the flush as if the process had died there.
	afterInsert func() error
}

// NewWriter returns a writer.
func NewWriter(cfg WriterConfig, log *slog.Logger, b *bus.Bus, s *store.Store) *Writer {
	cfg.defaults()
	return &Writer{cfg: cfg, log: log, bus: b, store: s}
}

type held struct {
	msg  jetstream.Msg
	rows []store.Row
}

// Run consumes until ctx ends, then flushes what it holds (with its own
// short deadline) and returns nil. While the bus is unreachable it keeps
// trying to set up its consumer, so a writer started during a NATS outage
// starts writing when NATS is back.
func (w *Writer) Run(ctx context.Context) error {
	cons, err := w.consumer(ctx)
	if err != nil {
		return nil // ctx ended
	}
	var pending []held
	rows, perMsg := 0, 100
	deadline := time.Now().Add(w.cfg.BatchWait)
	lagTick := time.Now()
	for {
		if ctx.Err() != nil {
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := w.flush(fctx, pending)
			cancel()
			if err != nil {
				w.log.Warn("final flush failed; batches will be redelivered", "err", err)
			}
			return nil
		}
		wait := time.Until(deadline)
		if wait > 0 && rows < w.cfg.BatchRows {
			// Ask only for about as many messages as the flush has room
			// for: with a backlog, a fixed large fetch turns one flush into
			// hundreds of thousands of rows (memory, GC, one slow insert).
			n := min(max((w.cfg.BatchRows-rows)/max(perMsg, 1), 1), 512)
			batch, err := cons.Fetch(n, jetstream.FetchMaxWait(max(min(wait, time.Second), 10*time.Millisecond)))
			if err != nil {
				w.log.Warn("fetch", "err", err)
				sleep(ctx, 200*time.Millisecond)
				continue
			}
			for msg := range batch.Messages() {
				h, err := decodeMsg(msg)
				if err != nil {
					// A message no writer can ever decode must not block the
					// stream: it is terminated and counted, never inserted.
					w.log.Error("undecodable batch terminated", "subject", msg.Subject(), "err", err)
					writerPoison.Inc()
					_ = msg.Term()
					continue
				}
				pending = append(pending, h)
				rows += len(h.rows)
				perMsg = (perMsg*7 + len(h.rows)) / 8 // moving estimate of rows per message
			}
			if err := batch.Error(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, jetstream.ErrNoMessages) {
				w.log.Debug("fetch batch", "err", err)
			}
			continue
		}
		if len(pending) > 0 {
			if err := w.flushRetrying(ctx, pending); err != nil {
				return nil // ctx ended while retrying; unacked batches are redelivered
			}
		}
		pending, rows = pending[:0], 0
		deadline = time.Now().Add(w.cfg.BatchWait)
		if time.Since(lagTick) > 5*time.Second {
			lagTick = time.Now()
			if info, err := cons.Info(ctx); err == nil {
				writerLag.Set(float64(info.NumPending))
			}
		}
	}
}

// consumer creates or binds the durable writer consumer, retrying with
// backoff until it succeeds or ctx ends.
func (w *Writer) consumer(ctx context.Context) (jetstream.Consumer, error) {
	for backoff := 100 * time.Millisecond; ; backoff = min(backoff*2, 5*time.Second) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cons, err := w.bus.JS.CreateOrUpdateConsumer(cctx, bus.LogsStream, bus.WriterConsumerConfig(w.cfg.AckWait))
		cancel()
		if err == nil {
			return cons, nil
		}
		w.log.Warn("set up writer consumer; retrying", "err", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return nil, ctx.Err()
		}
	}
}

// flushRetrying flushes until it succeeds or ctx ends, keeping the messages
// in progress so JetStream does not hand them to another writer meanwhile.
func (w *Writer) flushRetrying(ctx context.Context, pending []held) error {
	backoff := 100 * time.Millisecond
	for {
		err := w.flush(ctx, pending)
		if err == nil {
			return nil
		}
		w.log.Warn("flush failed; retrying", "err", err, "batches", len(pending), "in", backoff)
		for _, h := range pending {
			_ = h.msg.InProgress()
		}
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// flush stores the rows of pending that ClickHouse does not have yet, then
// acks every message.
func (w *Writer) flush(ctx context.Context, pending []held) error {
	if len(pending) == 0 {
		return nil
	}
	start := time.Now()
	n := 0
	for _, h := range pending {
		n += len(h.rows)
	}
	all := make([]store.Row, 0, n) // rows are large: no copying as it grows
	for _, h := range pending {
		all = append(all, h.rows...)
	}
	if err := w.storeMissing(ctx, all); err != nil {
		return err
	}
	if w.afterInsert != nil {
		if err := w.afterInsert(); err != nil {
			return err
		}
	}
	for _, h := range pending {
		if err := h.msg.Ack(); err != nil {
			// The rows are stored; a redelivery will find them and skip.
			w.log.Warn("ack", "err", err)
		}
	}
	writerInsertSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// storeMissing inserts, in one batch, the rows whose (seq, idx) ClickHouse
// does not hold yet.
func (w *Writer) storeMissing(ctx context.Context, all []store.Row) error {
	have, err := w.store.Existing(ctx, all)
	if err != nil {
		return fmt.Errorf("check stored rows: %w", err)
	}
	rows := all
	if len(have) > 0 {
		rows = make([]store.Row, 0, len(all)-len(have))
		for _, r := range all {
			if _, ok := have[store.RowKey{Seq: r.Seq, Idx: r.Idx}]; !ok {
				rows = append(rows, r)
			}
		}
		writerRows.WithLabelValues("skipped").Add(float64(len(all) - len(rows)))
	}
	if err := w.store.Insert(ctx, rows); err != nil {
		return fmt.Errorf("insert %d rows: %w", len(rows), err)
	}
	writerRows.WithLabelValues("inserted").Add(float64(len(rows)))
	writerBatchRows.Observe(float64(len(rows)))
	return nil
}

// decodeMsg turns one JetStream message into rows.
func decodeMsg(msg jetstream.Msg) (held, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return held{}, fmt.Errorf("metadata: %w", err)
	}
	tenantID, ok := strings.CutPrefix(msg.Subject(), bus.LogsSubjectPrefix)
	if !ok || tenantID == "" {
		return held{}, fmt.Errorf("unexpected subject %q", msg.Subject())
	}
	rows, err := decodeRows(tenantID, msg.Headers().Get(bus.HeaderRetention), meta.Sequence.Stream, msg.Data())
	if err != nil {
		return held{}, err
	}
	return held{msg: msg, rows: rows}, nil
}

// decodeRows turns a batch's payload into rows stamped with their tenant,
// retention class and (seq, idx) identity.
func decodeRows(tenantID, retentionHeader string, seq uint64, data []byte) ([]store.Row, error) {
	retention, err := strconv.Atoi(retentionHeader)
	if err != nil || retention <= 0 || retention > 65535 {
		retention = tenant.DefaultRetentionDays
	}
	evs, err := event.DecodeBatch(data)
	if err != nil {
		return nil, fmt.Errorf("decode batch: %w", err)
	}
	rows := make([]store.Row, len(evs))
	for i := range evs {
		rows[i] = store.Row{Tenant: tenantID, RetentionDays: uint16(retention), Seq: seq, Idx: uint32(i), Event: evs[i]}
	}
	return rows, nil
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
