package testenv

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sawmillhq/sawmill/pkg/natsembed"
)

// init turns a test binary started by StartNATSCluster into a NATS node
// (natsembed.RunNodeIfAsked). Nodes are processes of their own because an
// in-process server cannot crash: natsembed's Shutdown (nats-server's)
// first hands the leaderships it holds to other nodes, which hides exactly
// what a crash costs (the others' election timeout).
func init() { natsembed.RunNodeIfAsked() }

// NATSCluster is a per-test JetStream cluster on 127.0.0.1: each node a
// child process (the test binary itself, see init) with its own client
// port, route port and store directory in the test's temporary directory.
// Nodes die with the test process. Its methods are safe for concurrent use.
type NATSCluster struct {
	mu    sync.Mutex
	nodes []*natsNode
}

type natsNode struct {
	spec natsembed.NodeSpec
	cmd  *exec.Cmd // nil while killed
}

// StartNATSCluster starts an n-node JetStream cluster (named "sawmill-test",
// servers "n0", "n1", ...) and returns once every node knows the meta
// leader and sees all n nodes, so that streams with n replicas can be
// created. It kills the cluster when the test ends and fails tb if it
// cannot form.
func StartNATSCluster(tb testing.TB, n int) *NATSCluster {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("testenv: nats cluster of %d nodes", n)
	}
	ports := natsFreePorts(tb, 2*n)
	var routes []string
	for i := 0; i < n; i++ {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
	}
	dir := tb.TempDir()
	c := &NATSCluster{}
	tb.Cleanup(c.Stop)
	for i := 0; i < n; i++ {
		c.nodes = append(c.nodes, &natsNode{spec: natsembed.NodeSpec{Config: natsembed.Config{
			Port:        ports[i],
			StoreDir:    filepath.Join(dir, fmt.Sprintf("n%d", i)),
			ServerName:  fmt.Sprintf("n%d", i),
			ClusterName: "sawmill-test",
			ClusterPort: ports[n+i],
			Routes:      routes,
		}, Peers: n}})
	}
	// The nodes start together: none is ready before a majority runs.
	errs := make(chan error, n)
	for _, nd := range c.nodes {
		go func() { errs <- c.spawn(nd) }()
	}
	for range c.nodes {
		if err := <-errs; err != nil {
			tb.Fatalf("testenv: start nats cluster: %v", err)
		}
	}
	return c
}

// natsFreePorts returns k distinct free TCP ports of 127.0.0.1. They are
// released before use, so another process could take one in between; the
// node would then fail to start and say so.
func natsFreePorts(tb testing.TB, k int) []int {
	tb.Helper()
	var ports []int
	for i := 0; i < k; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("testenv: free port: %v", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// spawn starts nd's process and waits until it reports ready (or exits).
func (c *NATSCluster) spawn(nd *natsNode) error {
	cmd, err := natsembed.SpawnNode(nd.spec)
	if err != nil {
		return err
	}
	c.mu.Lock()
	nd.cmd = cmd
	c.mu.Unlock()
	return nil
}

// URLs returns the client URLs of every node, comma-separated, as
// bus.Config.URL and -nats.url take them. They stay the same across Kill
// and Restart.
func (c *NATSCluster) URLs() string {
	var urls []string
	for _, nd := range c.nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", nd.spec.Port))
	}
	return strings.Join(urls, ",")
}

// Name returns node i's server name, as JetStream reports a stream's
// leader and replicas.
func (c *NATSCluster) Name(i int) string { return c.nodes[i].spec.ServerName }

// Index returns the index of the node with the given server name, or -1.
func (c *NATSCluster) Index(name string) int {
	for i, nd := range c.nodes {
		if nd.spec.ServerName == name {
			return i
		}
	}
	return -1
}

// Kill SIGKILLs node i's process, as a crashed server goes: its sockets
// close, nothing is flushed, and the leaderships it held are not handed
// over (the other nodes elect new leaders when their election timers
// fire, after 4-9 s). Killing a killed node does nothing.
func (c *NATSCluster) Kill(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.nodes[i]
	if nd.cmd != nil {
		_ = nd.cmd.Process.Kill()
		_ = nd.cmd.Wait()
		nd.cmd = nil
	}
}

// Restart starts node i again (killing it first if it runs) with the same
// name, ports and store directory, and waits until it has rejoined: it
// knows the meta leader and sees every node that runs. It fails tb if the
// node cannot come back.
func (c *NATSCluster) Restart(tb testing.TB, i int) {
	tb.Helper()
	c.Kill(i)
	c.mu.Lock()
	nd := c.nodes[i]
	nd.spec.Peers = 1
	for _, o := range c.nodes {
		if o.cmd != nil {
			nd.spec.Peers++
		}
	}
	c.mu.Unlock()
	if err := c.spawn(nd); err != nil {
		tb.Fatalf("testenv: restart nats node %d: %v", i, err)
	}
}

// Stop kills every node. Calling it again, or after the test, does nothing.
func (c *NATSCluster) Stop() {
	for i := range c.nodes {
		c.Kill(i)
	}
}
