package sawmill

import (
	"context"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Server limits the defaults stay inside (services/ingest): a request body
// of at most 10 MiB once decompressed, an event of at most 256 KiB.
const (
	maxBodyBytes  = 10 << 20
	maxEventBytes = 256 << 10
)

// Options configures a Handler. Every zero value means the documented
// default.
type Options struct {
	// URL is the server's base URL. Empty: $SAWMILL_URL, else
	// http://127.0.0.1:8080.
	URL string
	// APIKey is sent as "Authorization: Bearer <key>". Empty: $SAWMILL_API_KEY.
	APIKey string
	// Level is the minimum level handled. Nil: slog.LevelInfo.
	Level slog.Leveler
	// Service, Environment and Host are added to every event that does not
	// carry its own attribute of that name. Empty Host: os.Hostname().
	Service, Environment, Host string

	// QueueSize bounds the records waiting to be sent; when full, the newest
	// record is dropped and counted. 0: 10,000.
	QueueSize int
	// QueueBytes bounds the encoded bytes waiting to be sent, the same way.
	// 0: 64 MiB.
	QueueBytes int
	// BatchEvents, BatchBytes and FlushInterval cut batches: a batch is sent
	// when it holds BatchEvents records, or would exceed BatchBytes
	// (uncompressed), or its first record is FlushInterval old. 0: 1,000
	// events, 1 MiB, 1s. BatchBytes is capped at 8 MiB (the server takes 10).
	BatchEvents   int
	BatchBytes    int
	FlushInterval time.Duration

	// HTTPClient sends every batch; each request also gets RequestTimeout.
	// Nil: a client with its own transport (one connection pool).
	HTTPClient *http.Client
	// RequestTimeout bounds one request. 0: 10s.
	RequestTimeout time.Duration
	// MaxRetryTime bounds the time spent retrying one batch (network errors,
	// 408, 429, 5xx) before it is counted as failed. 0: 1 minute.
	MaxRetryTime time.Duration
	// MaxRetryAfter caps the pause a Retry-After answer imposes. 0: 1 minute.
	MaxRetryAfter time.Duration
	// ErrorLog receives the handler's own warnings (rate-limited). Nil: a
	// logger on os.Stderr. It must not write back into this handler.
	ErrorLog *log.Logger

	retryBase time.Duration // first backoff step; tests shorten it
	sink      func([]byte)  // when set, records go here instead of the queue (tests)
}

func (o *Options) defaults() {
	if o.URL == "" {
		o.URL = os.Getenv("SAWMILL_URL")
	}
	if o.URL == "" {
		o.URL = "http://127.0.0.1:8080"
	}
	o.URL = strings.TrimRight(o.URL, "/")
	if o.APIKey == "" {
		o.APIKey = os.Getenv("SAWMILL_API_KEY")
	}
	if o.Level == nil {
		o.Level = slog.LevelInfo
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	setDefault(&o.QueueSize, 10_000, 1<<30)
	setDefault(&o.QueueBytes, 64<<20, 1<<40)
	setDefault(&o.BatchEvents, 1000, 100_000)
	setDefault(&o.BatchBytes, 1<<20, 8<<20)
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.MaxRetryTime <= 0 {
		o.MaxRetryTime = time.Minute
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = time.Minute
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			Timeout:   o.RequestTimeout,
		}
	}
	if o.retryBase <= 0 {
		o.retryBase = 200 * time.Millisecond
	}
	if o.ErrorLog == nil {
		// Not log.Default(): with slog.SetDefault that would lead back here.
		o.ErrorLog = log.New(os.Stderr, "sawmill: ", log.LstdFlags)
	}
}

func setDefault(p *int, def, max int) {
	if *p <= 0 {
		*p = def
	}
	*p = min(*p, max)
}

// Handler is a slog.Handler shipping to Sawmill. Handlers derived with
// WithAttrs and WithGroup share their parent's queue, goroutine and
// transport. It is safe for concurrent use.
type Handler struct {
	p      *pipeline
	pre    []byte // encoded attrs from WithAttrs, each preceded by ','
	prefix string // group path, "" or "a.b."
}

// NewHandler returns a Handler and starts its background sender. Call Close
// when done.
func NewHandler(opts Options) *Handler {
	opts.defaults()
	return &Handler{p: newPipeline(opts)}
}

// Enabled reports whether level is at least Options.Level.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.p.opts.Level.Level()
}

// Handle encodes r and enqueues it without blocking; it never touches the
// network and never fails: a record the queue cannot take is dropped and
// counted.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	bp := bufPool.Get().(*[]byte)
	e := encoder{buf: (*bp)[:0]}
	h.encode(ctx, &e, r)
	h.p.enqueue(e.buf)
	*bp = e.buf
	bufPool.Put(bp)
	return nil
}

// encode appends r as one JSON object: time, level, msg, the handler's and
// the record's attributes, then the context's ids and the defaults (the
// server keeps the first of duplicate keys, so explicit attributes win).
func (h *Handler) encode(ctx context.Context, e *encoder, r slog.Record) {
	e.begin()
	if !r.Time.IsZero() {
		e.key(slog.TimeKey)
		e.buf = r.Time.AppendFormat(append(e.buf, '"'), time.RFC3339Nano)
		e.buf = append(e.buf, '"')
	}
	e.str(slog.LevelKey, levelName(r.Level))
	e.str(slog.MessageKey, r.Message)
	e.buf = append(e.buf, h.pre...)
	r.Attrs(func(a slog.Attr) bool {
		e.attr(h.prefix, a)
		return true
	})
	if ctx != nil {
		ids := idsFrom(ctx)
		for _, kv := range [...][2]string{{"request_id", ids.request}, {"trace_id", ids.trace}, {"span_id", ids.span}} {
			if kv[1] != "" {
				e.str(kv[0], kv[1])
			}
		}
	}
	o := &h.p.opts
	for _, kv := range [...][2]string{{"service", o.Service}, {"environment", o.Environment}, {"host", o.Host}} {
		if kv[1] != "" {
			e.str(kv[0], kv[1])
		}
	}
	e.end()
}

// WithAttrs returns a handler whose records carry attrs (under the current
// group), sharing h's queue and transport.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	e := encoder{buf: append([]byte(nil), h.pre...)}
	for _, a := range attrs {
		e.attr(h.prefix, a)
	}
	return &Handler{p: h.p, pre: e.buf, prefix: h.prefix}
}

// WithGroup returns a handler that puts later attributes under name, as a
// dotted key prefix ("name.key").
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &Handler{p: h.p, pre: h.pre, prefix: h.prefix + name + "."}
}

// Flush sends every record queued before the call and waits for the
// answers, or until ctx is done. It returns an error when ctx ends first or
// when records failed meanwhile (see Stats).
func (h *Handler) Flush(ctx context.Context) error { return h.p.flush(ctx) }

// Close flushes, stops the background sender and releases it. It waits at
// most until ctx is done, or 5s when ctx has no deadline; records still
// unsent then are counted as failed. Later calls return nil at once, and
// later records are dropped. os.Exit skips a deferred Close.
func (h *Handler) Close(ctx context.Context) error { return h.p.close(ctx) }

// Stats counts records since NewHandler.
type Stats struct {
	// Sent were accepted by the server.
	Sent uint64
	// Dropped never entered the queue (full, closed, or over 256 KiB).
	Dropped uint64
	// Failed were sent but rejected, or given up on after retries.
	Failed uint64
	// Queued wait in the queue or the batch being sent.
	Queued uint64
}

// Stats returns the handler family's counters.
func (h *Handler) Stats() Stats {
	p := h.p
	return Stats{Sent: p.sent.Load(), Dropped: p.dropped.Load(), Failed: p.failed.Load(), Queued: uint64(max(p.queued.Load(), 0))}
}

// bufPool holds Handle's scratch buffers; the queue gets an exact copy.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

type idsKey struct{}

type ids struct{ request, trace, span string }

func idsFrom(ctx context.Context) ids {
	if ctx == nil {
		return ids{}
	}
	if p, ok := ctx.Value(idsKey{}).(*ids); ok {
		return *p
	}
	return ids{}
}

// WithRequestID returns a context whose records carry request_id=id.
func WithRequestID(ctx context.Context, id string) context.Context {
	v := idsFrom(ctx)
	v.request = id
	return context.WithValue(ctx, idsKey{}, &v)
}

// WithTrace returns a context whose records carry trace_id and span_id
// (hex, as OpenTelemetry prints them; empty leaves a field out).
func WithTrace(ctx context.Context, traceID, spanID string) context.Context {
	v := idsFrom(ctx)
	v.trace, v.span = traceID, spanID
	return context.WithValue(ctx, idsKey{}, &v)
}

// RequestID returns the request id WithRequestID stored in ctx, or "".
func RequestID(ctx context.Context) string { return idsFrom(ctx).request }
