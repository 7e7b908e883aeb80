package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/chserver"
)

// ClusterName is the remote_servers name of the clusters StartCHCluster
// starts.
const ClusterName = "sawmill"

// CHCluster is a private replicated ClickHouse cluster for one test: a
// ZooKeeper and shards × replicas clickhouse-server processes on free ports
// of 127.0.0.1, each with its own directory, all stopped when the test ends.
type CHCluster struct {
	// Name is the cluster's name in remote_servers (ClusterName).
	Name string
	// ZooKeeper coordinates the replicas.
	ZooKeeper *ZooKeeper
	// Replicas are the servers, shard by shard in order.
	Replicas []*CHReplica
}

// CHReplica is one server of a CHCluster; it can be killed and started
// again on the same ports and data. Its methods are safe for concurrent use.
type CHReplica struct {
	// Shard and Replica are the server's macros ("01", "r1").
	Shard, Replica string
	cfg            chserver.Config
	addr           string
	mu             sync.Mutex
	srv            *chserver.Server // nil while down
}

// StartCHCluster starts ZooKeeper and a cluster of shards × replicas
// ClickHouse servers (in parallel) and fails tb if any cannot start.
func StartCHCluster(tb testing.TB, shards, replicas int) *CHCluster {
	tb.Helper()
	zk := StartZooKeeper(tb)
	c := &CHCluster{Name: ClusterName, ZooKeeper: zk}
	topology := make([][]string, shards)
	for s := range shards {
		for r := range replicas {
			rep := &CHReplica{
				Shard:   fmt.Sprintf("%02d", s+1),
				Replica: fmt.Sprintf("r%d", r+1),
				addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(tb))),
			}
			topology[s] = append(topology[s], rep.addr)
			c.Replicas = append(c.Replicas, rep)
		}
	}
	for _, rep := range c.Replicas {
		_, port, _ := net.SplitHostPort(rep.addr)
		tcp, _ := strconv.Atoi(port)
		rep.cfg = chserver.Config{
			Dir:     tb.TempDir(),
			TCPPort: tcp,
			Cluster: &chserver.Cluster{
				Name:      c.Name,
				Shards:    topology,
				ZooKeeper: []string{zk.Addr()},
				// Short, so a SIGKILLed replica's old session (and its
				// is_active node) is gone soon after it restarts.
				ZooKeeperSessionTimeout: 4000,
				Shard:                   rep.Shard,
				Replica:                 rep.Replica,
				InterserverPort:         FreePort(tb),
			},
		}
	}
	errs := make([]error, len(c.Replicas))
	var wg sync.WaitGroup
	for i, rep := range c.Replicas {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = rep.start() }()
	}
	wg.Wait()
	tb.Cleanup(func() {
		for _, rep := range c.Replicas {
			rep.Stop()
			if tb.Failed() {
				tb.Logf("testenv: replica %s/%s error log tail:\n%s", rep.Shard, rep.Replica, rep.errorLogTail())
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			tb.Fatalf("testenv: start clickhouse cluster: %v", err)
		}
	}
	return c
}

// Addrs returns every replica's native-protocol address, shard by shard.
func (c *CHCluster) Addrs() []string {
	out := make([]string, len(c.Replicas))
	for i, r := range c.Replicas {
		out[i] = r.addr
	}
	return out
}

// Addr returns the replica's native-protocol address; it stays the same
// across Kill and Start.
func (r *CHReplica) Addr() string { return r.addr }

func (r *CHReplica) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return nil
	}
	s, err := chserver.Start(context.Background(), r.cfg)
	if err != nil {
		return fmt.Errorf("replica %s/%s: %w", r.Shard, r.Replica, err)
	}
	if err := waitZooKeeperSession(s.Addr()); err != nil {
		_ = s.Stop()
		return fmt.Errorf("replica %s/%s: %w", r.Shard, r.Replica, err)
	}
	r.srv = s
	return nil
}

// waitZooKeeperSession waits until the server at addr reads the
// coordinator. 18.16 dereferences a missing ZooKeeper session when an ON
// CLUSTER statement arrives before its first session is up, and crashes.
func waitZooKeeperSession(addr string) error {
	conn, err := dial(addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var n uint64
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		last = conn.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = '/'").Scan(&n)
		cancel()
		if last == nil {
			return nil
		}
	}
	return fmt.Errorf("no zookeeper session: %w", last)
}

// Start starts a killed or stopped replica again on its ports and data; it
// fails tb if the server does not come back.
func (r *CHReplica) Start(tb testing.TB) {
	tb.Helper()
	if err := r.start(); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
}

// Kill SIGKILLs the replica's process group, as a crash would, and waits
// for it to exit.
func (r *CHReplica) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv == nil {
		return
	}
	_ = syscall.Kill(-r.srv.PID(), syscall.SIGKILL)
	<-r.srv.Done()
	r.srv = nil
}

// Stop stops the replica cleanly (SIGTERM, then SIGKILL after a grace
// period). Stopping a stopped replica does nothing.
func (r *CHReplica) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv == nil {
		return
	}
	_ = r.srv.Stop()
	r.srv = nil
}

// Dir returns the replica's directory (data, configs and logs/).
func (r *CHReplica) Dir() string { return r.cfg.Dir }

// errorLogTail is the end of the replica's error log, for failing tests.
func (r *CHReplica) errorLogTail() string {
	b, _ := os.ReadFile(filepath.Join(r.cfg.Dir, "logs", "clickhouse-server.err.log"))
	return tail(string(b), 12000)
}
