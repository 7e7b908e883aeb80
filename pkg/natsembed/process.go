package natsembed

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// NodeEnv, in a process's environment, holds the JSON NodeSpec of the NATS
// node the process is to run instead of its own work (see RunNodeIfAsked):
// a test or benchmark re-executes itself to get cluster nodes it can
// SIGKILL or SIGSTOP like real servers.
const NodeEnv = "SAWMILL_NATSEMBED_NODE"

// nodeReadyTimeout bounds how long a node process waits for the cluster's
// meta leader: NATS' election timeouts are 4-9 s, and test machines are
// shared.
const nodeReadyTimeout = 60 * time.Second

// NodeSpec is what a node process runs: its server (Logger unused) and
// how many nodes it must see before it reports ready.
type NodeSpec struct {
	Config
	Peers int
}

// RunNodeIfAsked runs the node of NodeEnv until SIGTERM or SIGINT and exits
// the process, when NodeEnv is set; otherwise it returns at once. Call it
// first thing in main or in an init of a test package.
func RunNodeIfAsked() {
	spec := os.Getenv(NodeEnv)
	if spec == "" {
		return
	}
	if err := runNode(spec); err != nil {
		fmt.Fprintf(os.Stderr, "natsembed: node: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runNode(spec string) error {
	var n NodeSpec
	if err := json.Unmarshal([]byte(spec), &n); err != nil {
		return fmt.Errorf("decode %s: %w", NodeEnv, err)
	}
	s, err := Start(n.Config)
	if err != nil {
		return err
	}
	defer s.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), nodeReadyTimeout)
	defer cancel()
	if err := s.WaitCluster(ctx, n.Peers); err != nil {
		return err
	}
	fmt.Println("ready")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	return nil
}

// SpawnNode re-executes this program as the node of spec (it must call
// RunNodeIfAsked) and returns once the node reports ready: it knows the
// cluster's meta leader and sees spec.Peers nodes. The node dies with this
// process; its stderr is this process's.
func SpawnNode(spec NodeSpec) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("own executable: %w", err)
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), NodeEnv+"="+string(js))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("node %s: %w", spec.ServerName, err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("node %s did not become ready (see its error above)", spec.ServerName)
	}
	return cmd, nil
}
