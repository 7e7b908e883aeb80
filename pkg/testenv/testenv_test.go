package testenv

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestMain(m *testing.M) { Main(m) }

func TestClickHouseShared(t *testing.T) {
	a, b := ClickHouse(t), ClickHouse(t)
	if a != b {
		t.Fatalf("ClickHouse returned %q then %q, want one shared server", a, b)
	}
}

func TestDatabase(t *testing.T) {
	ctx := context.Background()
	var name string
	t.Run("inner", func(t *testing.T) {
		name = Database(t)
		if err := shared.conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s.t (x UInt8) ENGINE = MergeTree() ORDER BY x", name)); err != nil {
			t.Fatalf("create table in %s: %v", name, err)
		}
		if other := Database(t); other == name {
			t.Fatalf("two Database calls returned %q", name)
		}
	})
	var n uint64
	if err := shared.conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = ?", name).Scan(&n); err != nil {
		t.Fatalf("count databases: %v", err)
	}
	if n != 0 {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}

func TestDatabaseName(t *testing.T) {
	valid := regexp.MustCompile(`^test_[a-z0-9_]{1,40}_[0-9a-f]{8}$`)
	f := func(test string) {
		t.Helper()
		if got := databaseName(test); !valid.MatchString(got) {
			t.Fatalf("databaseName(%q) = %q, not a safe identifier", test, got)
		}
	}
	f("TestX")
	f("TestInsert/unicode_ünïcödé;DROP TABLE x")
	f("TestAVeryLongNameThatGoesOnAndOnAndOnAndOnAndOnAndOnAndOn/sub/sub")
}

func TestFreePort(t *testing.T) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", FreePort(t)))
	if err != nil {
		t.Fatalf("listen on free port: %v", err)
	}
	l.Close()
}

func TestNATSRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := StartNATS(t)
	url := n.URL()
	js := jsConnect(t, url)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(ctx, "s.a", []byte("kept")); err != nil {
		t.Fatalf("publish: %v", err)
	}

	n.Restart(t)
	if n.URL() != url {
		t.Fatalf("URL changed across restart: %q -> %q", url, n.URL())
	}
	s, err := jsConnect(t, n.URL()).Stream(ctx, "S")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil || string(m.Data) != "kept" {
		t.Fatalf("message after restart = %v, %v; want kept", m, err)
	}

	n.Stop()
	if _, err := nats.Connect(url, nats.NoReconnect()); err == nil {
		t.Fatal("connected to a stopped server")
	}
	n.Stop() // idempotent
}

func jsConnect(tb testing.TB, url string) jetstream.JetStream {
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
