package sawmill

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// warnEvery rate-limits ErrorLog warnings, per kind.
const warnEvery = 10 * time.Second

// closeTimeout caps Close when its context has no deadline.
const closeTimeout = 5 * time.Second

// pipeline is the part handlers of one family share: the queue, the one
// sender goroutine and the counters.
type pipeline struct {
	opts Options
	q    chan []byte

	queued   atomic.Int64 // records in q or in the batch being shipped
	qbytes   atomic.Int64
	sent     atomic.Uint64
	dropped  atomic.Uint64
	failed   atomic.Uint64
	reported uint64 // drops already told to the server; worker only

	flushReq  chan chan struct{}
	closing   chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
	ctx       context.Context // cancelled when Close gives up waiting
	cancel    context.CancelFunc
	done      chan struct{}

	warnMu   sync.Mutex
	lastWarn map[string]time.Time

	// worker-only scratch
	body bytes.Buffer
	zw   *gzip.Writer
}

func newPipeline(opts Options) *pipeline {
	p := &pipeline{
		opts:     opts,
		q:        make(chan []byte, opts.QueueSize),
		flushReq: make(chan chan struct{}),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
		lastWarn: map[string]time.Time{},
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.zw = gzip.NewWriter(io.Discard)
	go p.run()
	return p
}

// enqueue copies an encoded record into the queue, or drops it.
func (p *pipeline) enqueue(rec []byte) {
	n := int64(len(rec))
	if p.opts.sink != nil {
		p.opts.sink(bytes.Clone(rec))
		return
	}
	if p.closed.Load() || len(rec) > maxEventBytes {
		p.drop()
		return
	}
	if p.qbytes.Add(n) > int64(p.opts.QueueBytes) {
		p.qbytes.Add(-n)
		p.drop()
		return
	}
	p.queued.Add(1)
	select {
	case p.q <- bytes.Clone(rec):
	default:
		p.queued.Add(-1)
		p.qbytes.Add(-n)
		p.drop()
	}
}

func (p *pipeline) drop() {
	n := p.dropped.Add(1)
	p.warn("drop", "dropping records: queue full, handler closed or record over 256 KiB (%d dropped so far)", n)
}

// warn prints to ErrorLog at most once per warnEvery for each kind.
func (p *pipeline) warn(kind, format string, args ...any) {
	p.warnMu.Lock()
	now := time.Now()
	if last, ok := p.lastWarn[kind]; ok && now.Sub(last) < warnEvery {
		p.warnMu.Unlock()
		return
	}
	p.lastWarn[kind] = now
	p.warnMu.Unlock()
	p.opts.ErrorLog.Printf(format, args...)
}

// batch is the records being gathered; worker only.
type batch struct {
	recs  [][]byte
	bytes int
}

func (p *pipeline) run() {
	defer close(p.done)
	var b batch
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case rec := <-p.q:
			p.add(&b, rec, timer)
		case <-timer.C:
			p.send(&b, timer)
		case ack := <-p.flushReq:
			p.drain(&b, timer)
			p.send(&b, timer)
			close(ack)
		case <-p.closing:
			p.drain(&b, timer)
			p.send(&b, timer)
			return
		}
	}
}

// add puts rec into b, sending b first when rec would overflow it and
// after when it is full.
func (p *pipeline) add(b *batch, rec []byte, timer *time.Timer) {
	if len(b.recs) > 0 && b.bytes+len(rec)+1 > p.opts.BatchBytes {
		p.send(b, timer)
	}
	b.recs = append(b.recs, rec)
	b.bytes += len(rec) + 1
	if len(b.recs) == 1 {
		timer.Reset(p.opts.FlushInterval)
	}
	if len(b.recs) >= p.opts.BatchEvents {
		p.send(b, timer)
	}
}

// drain moves what the queue holds now into batches.
func (p *pipeline) drain(b *batch, timer *time.Timer) {
	for n := len(p.q); n > 0; n-- {
		p.add(b, <-p.q, timer)
	}
}

func (p *pipeline) send(b *batch, timer *time.Timer) {
	timer.Stop()
	if len(b.recs) == 0 {
		return
	}
	p.ship(b.recs)
	p.queued.Add(-int64(len(b.recs)))
	p.qbytes.Add(-int64(b.bytes - len(b.recs)))
	*b = batch{recs: b.recs[:0:0]}
}

// ship delivers recs, splitting on 413, and accounts for the outcome.
func (p *pipeline) ship(recs [][]byte) {
	drops := p.dropped.Load() - p.reported
	body := p.encodeBody(recs, drops)
	status, ans, err := p.post(body, newKey())
	switch {
	case err == nil && status/100 == 2:
		if ans.Accepted+ans.Rejected == 0 { // not the ingest answer (a proxy?)
			ans.Accepted = uint64(len(recs))
		}
		p.sent.Add(ans.Accepted)
		p.failed.Add(ans.Rejected)
		if ans.Rejected > 0 {
			p.warn("rejected", "server rejected %d of %d records: %s", ans.Rejected, len(recs), ans.first())
		}
		p.reported += drops
	case err == nil && status == http.StatusRequestEntityTooLarge && len(recs) > 1:
		h := len(recs) / 2
		p.ship(recs[:h])
		p.ship(recs[h:])
	case err == nil:
		p.failed.Add(uint64(len(recs)))
		p.warn(fmt.Sprint("status", status), "batch of %d records refused with status %d: %s", len(recs), status, ans.Message)
	default:
		p.failed.Add(uint64(len(recs)))
		p.warn("error", "batch of %d records lost: %v", len(recs), err)
	}
}

// encodeBody gzips recs as NDJSON into p.body; a nonzero drops count rides
// on the first record as "sawmill.dropped".
func (p *pipeline) encodeBody(recs [][]byte, drops uint64) []byte {
	p.body.Reset()
	p.zw.Reset(&p.body)
	for i, r := range recs {
		if i == 0 && drops > 0 {
			fmt.Fprintf(p.zw, `{"sawmill.dropped":%d,`, drops)
			r = r[1:]
		}
		p.zw.Write(r)
		p.zw.Write([]byte{'\n'})
	}
	p.zw.Close()
	return p.body.Bytes()
}

func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// answer is the part of the ingest response the SDK reads.
type answer struct {
	Accepted uint64 `json:"accepted"`
	Rejected uint64 `json:"rejected"`
	Errors   []struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
	} `json:"errors"`
	Message string `json:"message"`
}

func (a answer) first() string {
	if len(a.Errors) == 0 {
		return ""
	}
	return a.Errors[0].Reason
}

var errGaveUp = errors.New("gave up retrying")

// post sends body, retrying transient failures (network errors, 408, 429,
// 5xx) with jittered exponential backoff, or for as long as Retry-After
// says, within MaxRetryTime. The worker sleeps meanwhile, so a pause holds
// up the whole pipeline. It returns the last status when not retried.
func (p *pipeline) post(body []byte, key string) (int, answer, error) {
	start := time.Now()
	for attempt := 0; ; attempt++ {
		status, ans, retryAfter, err := p.once(body, key)
		if err == nil && !retryable(status) {
			return status, ans, nil
		}
		if p.ctx.Err() != nil {
			return 0, ans, fmt.Errorf("handler closed: %w", p.ctx.Err())
		}
		wait := p.backoff(attempt)
		if retryAfter > 0 {
			wait = min(retryAfter, p.opts.MaxRetryAfter)
		}
		if err == nil {
			err = fmt.Errorf("status %d", status)
		}
		if time.Since(start)+wait > p.opts.MaxRetryTime {
			return 0, ans, fmt.Errorf("%w after %v: %w", errGaveUp, time.Since(start).Round(time.Millisecond), err)
		}
		p.warn("retry", "sending batch failed (%v); retrying in %v", err, wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
			return 0, ans, fmt.Errorf("handler closed while retrying: %w", err)
		}
	}
}

func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// backoff is retryBase·2^attempt capped at 10s, with the upper half jittered.
func (p *pipeline) backoff(attempt int) time.Duration {
	d := p.opts.retryBase << min(attempt, 16)
	d = min(d, 10*time.Second)
	return d/2 + mrand.N(d/2+1)
}

// once makes one request; retryAfter is nonzero when the answer asked for
// a pause.
func (p *pipeline) once(body []byte, key string) (status int, ans answer, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.opts.URL+"/v1/ingest", bytes.NewReader(body))
	if err != nil {
		return 0, ans, 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("User-Agent", "sawmill-go")
	if p.opts.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+p.opts.APIKey)
	}
	resp, err := p.opts.HTTPClient.Do(req)
	if err != nil {
		return 0, ans, 0, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ans)
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<20)) // so the connection is reused
	return resp.StatusCode, ans, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), nil
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent, bad
// or past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return max(time.Duration(s)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// flush waits until everything queued before the call has been sent (or
// failed).
func (p *pipeline) flush(ctx context.Context) error {
	failed := p.failed.Load()
	ack := make(chan struct{})
	select {
	case p.flushReq <- ack:
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sawmill flush: %w", ctx.Err())
	}
	select {
	case <-ack:
	case <-ctx.Done():
		return fmt.Errorf("sawmill flush: %w", ctx.Err())
	}
	if n := p.failed.Load() - failed; n > 0 {
		return fmt.Errorf("sawmill flush: %d records failed", n)
	}
	return nil
}

func (p *pipeline) close(ctx context.Context) error {
	first := false
	p.closeOnce.Do(func() {
		first = true
		p.closed.Store(true)
		close(p.closing)
	})
	if !first {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, closeTimeout)
		defer cancel()
	}
	select {
	case <-p.done:
		p.cancel()
		return nil
	case <-ctx.Done():
	}
	unsent := p.queued.Load()
	p.cancel() // abort requests and retries; the worker fails the rest fast
	<-p.done
	return fmt.Errorf("sawmill close: %w (%d records unsent)", ctx.Err(), unsent)
}
