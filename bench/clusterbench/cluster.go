package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sawmillhq/sawmill/pkg/natsembed"
)

// cluster is a 3-node JetStream cluster, one child process per node (this
// program re-executed: natsembed.SpawnNode), so that a node can be SIGKILLed
// (its sockets close at once) or SIGSTOPped (it hangs: peers only notice
// through missed heartbeats).
type cluster struct {
	mu     sync.Mutex
	cfgs   []natsembed.Config
	procs  []*exec.Cmd
	killed int // index of the node down or stopped, -1: none
	nc     *nats.Conn
	js     jetstream.JetStream
}

func startCluster(ctx context.Context, dir string) (*cluster, error) {
	c := &cluster{killed: -1}
	ports := make([]int, 6)
	for i := range ports {
		ports[i] = freePort()
	}
	var routes []string
	for i := 0; i < 3; i++ {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
	}
	for i := 0; i < 3; i++ {
		c.cfgs = append(c.cfgs, natsembed.Config{Port: ports[i], StoreDir: filepath.Join(dir, fmt.Sprintf("nats%d", i)),
			ServerName: fmt.Sprintf("n%d", i), ClusterName: "bench", ClusterPort: ports[3+i], Routes: routes})
	}
	c.procs = make([]*exec.Cmd, 3)
	errs := make(chan error, 3)
	for i := range c.cfgs {
		go func(i int) { errs <- c.start(i) }(i)
	}
	for range c.cfgs {
		if err := <-errs; err != nil {
			c.stop()
			return nil, err
		}
	}
	nc, err := nats.Connect(c.urls(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		c.stop()
		return nil, err
	}
	c.nc = nc
	c.js, _ = jetstream.New(nc)
	return c, nil
}

// start runs node i and waits until it reports the cluster ready.
func (c *cluster) start(i int) error {
	cmd, err := natsembed.SpawnNode(natsembed.NodeSpec{Config: c.cfgs[i], Peers: len(c.cfgs)})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.procs[i] = cmd
	c.mu.Unlock()
	return nil
}

func (c *cluster) urls() string {
	var u []string
	for _, cfg := range c.cfgs {
		u = append(u, fmt.Sprintf("nats://127.0.0.1:%d", cfg.Port))
	}
	return strings.Join(u, ",")
}

// killStreamLeader sends sig (SIGKILL or SIGSTOP) to the node leading the
// LOGS stream and returns its name.
func (c *cluster) killStreamLeader(sig syscall.Signal) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.js.Stream(ctx, "LOGS")
	if err != nil {
		return "nobody (" + err.Error() + ")"
	}
	leader := s.CachedInfo().Cluster.Leader
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, cfg := range c.cfgs {
		if cfg.ServerName == leader {
			_ = c.procs[i].Process.Signal(sig)
			if sig == syscall.SIGKILL {
				_ = c.procs[i].Wait()
			}
			c.killed = i
		}
	}
	return leader
}

// revive continues a stopped node, or restarts a killed one on the same
// ports and store.
func (c *cluster) revive(sig syscall.Signal) {
	c.mu.Lock()
	i := c.killed
	c.killed = -1
	c.mu.Unlock()
	if i < 0 {
		return
	}
	if sig == syscall.SIGSTOP {
		_ = c.procs[i].Process.Signal(syscall.SIGCONT)
		return
	}
	if err := c.start(i); err != nil {
		fmt.Fprintln(os.Stderr, "restart:", err)
	}
}

func (c *cluster) stop() {
	if c.nc != nil {
		c.nc.Close()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p != nil && p.Process != nil {
			_ = p.Process.Signal(syscall.SIGCONT)
			_ = p.Process.Signal(syscall.SIGTERM)
			_ = p.Wait()
		}
	}
}
