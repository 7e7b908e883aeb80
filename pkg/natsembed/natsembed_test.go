package natsembed

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := Start(cfg)
	if err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(s.Shutdown)
	return s
}

func connect(tb testing.TB, url string) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	return js
}

func TestStartDefaults(t *testing.T) {
	s := start(t, Config{StoreDir: t.TempDir()})
	if s.Port() <= 0 {
		t.Fatalf("Port() = %d, want a bound port", s.Port())
	}
	if want := "127.0.0.1:"; !strings.Contains(s.ClientURL(), want) {
		t.Fatalf("ClientURL() = %q, want it to contain %q", s.ClientURL(), want)
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	if got := nc.MaxPayload(); got != DefaultMaxPayload {
		t.Fatalf("MaxPayload = %d, want %d", got, DefaultMaxPayload)
	}
}

func TestStartErrors(t *testing.T) {
	f := func(name string, cfg Config, want string) {
		t.Helper()
		s, err := Start(cfg)
		if err == nil {
			s.Shutdown()
			t.Fatalf("%s: Start succeeded, want error containing %q", name, want)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: error %q, want it to contain %q", name, err, want)
		}
	}
	f("no store dir", Config{}, "StoreDir is required")
	busy := start(t, Config{StoreDir: t.TempDir()})
	f("port in use", Config{StoreDir: t.TempDir(), Port: busy.Port()}, "address already in use")
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := start(t, Config{StoreDir: t.TempDir(), Logger: l})
	s.Shutdown()
	if !strings.Contains(buf.String(), "component=nats") {
		t.Fatalf("no server log lines reached the logger: %q", buf.String())
	}
}

func TestRestartKeepsState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	s := start(t, Config{StoreDir: dir})
	port := s.Port()

	js := connect(t, s.ClientURL())
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LOGS", Subjects: []string{"logs.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	ack, err := js.Publish(ctx, "logs.acme", []byte("hello"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "keys", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("create kv: %v", err)
	}
	if _, err := kv.Put(ctx, "k1", []byte("v1")); err != nil {
		t.Fatalf("kv put: %v", err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "LOGS", jetstream.ConsumerConfig{Durable: "writer", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatalf("create consumer: %v", err)
	}

	s.Shutdown()
	s2 := start(t, Config{StoreDir: dir, Port: port})
	if s2.Port() != port {
		t.Fatalf("restarted on port %d, want %d", s2.Port(), port)
	}
	js = connect(t, s2.ClientURL())

	stream, err := js.Stream(ctx, "LOGS")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	raw, err := stream.GetMsg(ctx, ack.Sequence)
	if err != nil {
		t.Fatalf("message after restart: %v", err)
	}
	if string(raw.Data) != "hello" || raw.Subject != "logs.acme" {
		t.Fatalf("message after restart = %q on %q, want \"hello\" on logs.acme", raw.Data, raw.Subject)
	}
	kv, err = js.KeyValue(ctx, "keys")
	if err != nil {
		t.Fatalf("kv after restart: %v", err)
	}
	e, err := kv.Get(ctx, "k1")
	if err != nil || string(e.Value()) != "v1" {
		t.Fatalf("kv get after restart = %v, %v; want v1", e, err)
	}
	cons, err := js.Consumer(ctx, "LOGS", "writer")
	if err != nil {
		t.Fatalf("consumer after restart: %v", err)
	}
	batch, err := cons.FetchNoWait(1)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if string(m.Data()) != "hello" {
			t.Fatalf("consumed %q, want hello", m.Data())
		}
	}
	if n != 1 {
		t.Fatalf("consumed %d messages, want 1", n)
	}
}
