package sawmill

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"
)

// captured returns a handler whose records are collected, not shipped,
// and a function returning them decoded.
func captured(tb testing.TB, opts Options) (*Handler, func() []map[string]any) {
	tb.Helper()
	var mu sync.Mutex
	var raw [][]byte
	opts.sink = func(b []byte) { mu.Lock(); raw = append(raw, b); mu.Unlock() }
	if opts.Host == "" {
		opts.Host = "test-host"
	}
	h := NewHandler(opts)
	tb.Cleanup(func() { h.Close(context.Background()) })
	return h, func() []map[string]any {
		tb.Helper()
		mu.Lock()
		defer mu.Unlock()
		var out []map[string]any
		for _, b := range raw {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				tb.Fatalf("record is not JSON: %v: %s", err, b)
			}
			out = append(out, m)
		}
		return out
	}
}

// nest turns dotted keys back into nested objects, as slogtest expects.
func nest(flat map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range flat {
		m := out
		parts := strings.Split(k, ".")
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = v
	}
	return out
}

func TestSlogtest(t *testing.T) {
	var records func() []map[string]any
	slogtest.Run(t, func(t *testing.T) slog.Handler {
		var h *Handler
		h, records = captured(t, Options{Level: slog.LevelDebug})
		return h
	}, func(t *testing.T) map[string]any {
		recs := records()
		if len(recs) != 1 {
			t.Fatalf("%d records, want 1", len(recs))
		}
		return nest(recs[0])
	})
}

type valuer string

func (v valuer) LogValue() slog.Value { return slog.StringValue("resolved " + string(v)) }

type pathErr struct{}

func (pathErr) Error() string { return "disk full" }

func TestMapping(t *testing.T) {
	ts := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	f := func(name string, opts Options, ctx context.Context, level slog.Level, msg string, args []any, want map[string]any) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			h, records := captured(t, opts)
			r := slog.NewRecord(ts, level, msg, 0)
			r.Add(args...)
			if err := h.Handle(ctx, r); err != nil {
				t.Fatal(err)
			}
			got := records()[0]
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %#v, want %#v (record %v)", k, got[k], v, got)
				}
			}
		})
	}
	bg := context.Background()
	f("basics", Options{}, bg, slog.LevelInfo, "hello", []any{"n", 3, "ok", true, "d", 1.5},
		map[string]any{"time": "2026-11-26T10:00:00.123456789Z", "level": "info", "msg": "hello", "n": 3.0, "ok": true, "d": 1.5, "host": "test-host"})
	f("debug", Options{Level: slog.LevelDebug}, bg, slog.LevelDebug, "m", nil, map[string]any{"level": "debug"})
	f("debug+2", Options{Level: slog.LevelDebug}, bg, slog.LevelDebug+2, "m", nil, map[string]any{"level": "debug"})
	f("warn", Options{}, bg, slog.LevelWarn, "m", nil, map[string]any{"level": "warn"})
	f("error+4", Options{}, bg, slog.LevelError+4, "m", nil, map[string]any{"level": "error"})
	f("err attr becomes error", Options{}, bg, slog.LevelError, "m", []any{"err", pathErr{}}, map[string]any{"error": "disk full", "err": nil})
	f("other error attr keeps its key", Options{}, bg, slog.LevelError, "m", []any{"cause", errors.New("boom")}, map[string]any{"cause": "boom"})
	f("groups are dotted", Options{}, bg, slog.LevelInfo, "m", []any{slog.Group("http", "method", "GET", slog.Group("req", "id", 7))},
		map[string]any{"http.method": "GET", "http.req.id": 7.0})
	f("context ids", Options{}, WithTrace(WithRequestID(bg, "req-1"), "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"), slog.LevelInfo, "m", nil,
		map[string]any{"request_id": "req-1", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"})
	f("defaults", Options{Service: "web", Environment: "prod", Host: "h1"}, bg, slog.LevelInfo, "m", nil,
		map[string]any{"service": "web", "environment": "prod", "host": "h1"})
	f("log valuer", Options{}, bg, slog.LevelInfo, "m", []any{"v", valuer("x")}, map[string]any{"v": "resolved x"})
	f("not JSON", Options{}, bg, slog.LevelInfo, "m", []any{"ch", make(chan int), "nan", math.NaN()}, map[string]any{"nan": "NaN"})
	f("escapes", Options{}, bg, slog.LevelInfo, "a\"b\n\x01\xff", nil, map[string]any{"msg": "a\"b\n\x01\ufffd"})
	f("duration is nanoseconds", Options{}, bg, slog.LevelInfo, "m", []any{"took", 1500 * time.Millisecond}, map[string]any{"took": 1.5e9})
	f("time attr", Options{}, bg, slog.LevelInfo, "m", []any{"at", ts}, map[string]any{"at": "2026-11-26T10:00:00.123456789Z"})
}

// The server keeps the first of duplicate keys: explicit attributes must
// come before the defaults and context ids they override.
func TestExplicitAttrsComeFirst(t *testing.T) {
	h, _ := captured(t, Options{Service: "default-svc"})
	var e encoder
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "m", 0)
	r.Add("service", "mine", "request_id", "explicit")
	h.WithGroup("").(*Handler).encode(WithRequestID(context.Background(), "ctx"), &e, r)
	s := string(e.buf)
	if strings.Index(s, `"service":"mine"`) > strings.Index(s, `"service":"default-svc"`) ||
		strings.Index(s, `"request_id":"explicit"`) > strings.Index(s, `"request_id":"ctx"`) {
		t.Fatalf("explicit attributes must come first: %s", s)
	}
}

// A value mutated after the call does not change what is sent.
func TestRecordCopiedAtHandle(t *testing.T) {
	h, records := captured(t, Options{})
	m := map[string]int{"a": 1}
	slog.New(h).Info("m", "map", m)
	m["a"] = 2
	if got := records()[0]["map"].(map[string]any)["a"]; got != 1.0 {
		t.Fatalf("map.a = %v, want 1", got)
	}
}

func TestEnabled(t *testing.T) {
	var lv slog.LevelVar
	lv.Set(slog.LevelWarn)
	h, _ := captured(t, Options{Level: &lv})
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelWarn) {
		t.Fatal("Enabled ignores Level")
	}
	lv.Set(slog.LevelDebug)
	if !h.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("Enabled ignores a LevelVar change")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"3", 3 * time.Second}, {"-1", 0}, {"soon", 0},
		{"Thu, 26 Nov 2026 10:00:30 GMT", 30 * time.Second},
		{"Thu, 26 Nov 2026 09:00:00 GMT", 0},
	} {
		if got := parseRetryAfter(c.in, now); got != c.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	t.Setenv("SAWMILL_URL", "http://example.test:9/")
	t.Setenv("SAWMILL_API_KEY", "sm_env_key")
	o := Options{BatchBytes: 1 << 30}
	o.defaults()
	if o.URL != "http://example.test:9" || o.APIKey != "sm_env_key" || o.BatchBytes != 8<<20 ||
		o.QueueSize != 10_000 || o.HTTPClient == nil || o.HTTPClient.Timeout == 0 || o.ErrorLog == nil {
		t.Fatalf("defaults: %+v", o)
	}
}
