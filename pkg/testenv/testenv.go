// Package testenv provides the real servers integration tests run against: a
// ClickHouse server shared by a whole test binary (one fresh database per
// test) and a per-test in-process NATS server with JetStream. It is imported
// by tests only; it must not be imported by production code, and it must not
// skip tests: when a server cannot start, the test fails and says why.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sawmillhq/sawmill/pkg/chserver"
)

// ClickHouseAddrEnv names the environment variable that points tests at an
// existing ClickHouse server (native protocol, host:port, user default with
// no password) instead of starting a private one.
const ClickHouseAddrEnv = "SAWMILL_TEST_CLICKHOUSE_ADDR"

// shared is the ClickHouse server of this test binary.
var shared struct {
	once   sync.Once
	addr   string
	err    error
	server *chserver.Server // nil when using ClickHouseAddrEnv
	dir    string
	conn   driver.Conn
}

// Main is for TestMain in every package that uses ClickHouse:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// It runs the tests, stops the shared ClickHouse server if one was started,
// removes its directory and exits with the tests' code. Without it the
// server still dies with the test binary, but its directory is left behind.
func Main(m *testing.M) {
	code := m.Run()
	if shared.conn != nil {
		shared.conn.Close()
	}
	if shared.server != nil {
		if err := shared.server.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop clickhouse: %v\n", err)
		}
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// ClickHouse returns the native-protocol address ("host:port") of the
// ClickHouse server shared by the whole test binary, starting it on first
// use in a temporary directory (or using $SAWMILL_TEST_CLICKHOUSE_ADDR). It
// fails tb if the server cannot start. Safe for concurrent use.
func ClickHouse(tb testing.TB) string {
	tb.Helper()
	shared.once.Do(startClickHouse)
	if shared.err != nil {
		tb.Fatalf("testenv: clickhouse is required for this test and could not start: %v", shared.err)
	}
	return shared.addr
}

func startClickHouse() {
	if addr := os.Getenv(ClickHouseAddrEnv); addr != "" {
		shared.addr = addr
		shared.conn, shared.err = dial(addr)
		return
	}
	dir, err := os.MkdirTemp("", "sawmill-testenv-clickhouse-")
	if err != nil {
		shared.err = fmt.Errorf("temp dir: %w", err)
		return
	}
	s, err := chserver.Start(context.Background(), chserver.Config{Dir: dir})
	if err != nil {
		os.RemoveAll(dir)
		shared.err = err
		return
	}
	shared.server, shared.dir, shared.addr = s, dir, s.Addr()
	shared.conn, shared.err = dial(s.Addr())
}

func dial(addr string) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ping %s: %w", addr, err)
	}
	return conn, nil
}

// Database creates an empty database with a unique name (derived from the
// test's name) on the shared ClickHouse server, drops it when the test ends
// and returns its name. Tests are isolated from each other by database.
func Database(tb testing.TB) string {
	tb.Helper()
	ClickHouse(tb)
	name := databaseName(tb.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shared.conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("testenv: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := shared.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			tb.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	return name
}

// databaseName turns a test name into a valid, unique ClickHouse identifier.
func databaseName(test string) string {
	var b strings.Builder
	b.WriteString("test_")
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	return b.String() + "_" + hex.EncodeToString(rnd[:])
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
