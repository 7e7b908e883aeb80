package chserver

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
)

// Cluster makes a server one replica of a replicated, sharded cluster: the
// generated config gets remote_servers (the cluster's topology), zookeeper
// (the coordinator: Apache ZooKeeper on 18.16, ClickHouse Keeper on current
// releases read the same section), macros ({shard} and {replica} of this
// server, which ReplicatedMergeTree paths use), distributed_ddl (the queue
// ON CLUSTER statements go through) and an interserver HTTP port (replicas
// fetch parts from each other there).
type Cluster struct {
	// Name is the cluster's name in remote_servers, as ON CLUSTER and
	// Distributed tables refer to it. Required; a plain identifier.
	Name string
	// Shards lists every shard's replicas as native-protocol "host:port"
	// addresses, this server's own included. Required.
	Shards [][]string
	// ZooKeeper lists the coordinator's client addresses, "host:port".
	// Required.
	ZooKeeper []string
	// ZooKeeperSessionTimeout is the coordinator session timeout in
	// milliseconds. A SIGKILLed replica takes its place again only once its
	// old session has expired. If 0, 30000 (ClickHouse's default).
	ZooKeeperSessionTimeout int
	// Shard and Replica are this server's {shard} and {replica} macros.
	// Required; Replica must be unique in the shard.
	Shard, Replica string
	// InterserverPort is the interserver HTTP port other replicas fetch
	// parts from. It must stay the same across restarts (other replicas
	// look it up in the coordinator). If 0, a free port is picked, which
	// suits a server that is never restarted.
	InterserverPort int
}

var clusterName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *Cluster) validate() error {
	switch {
	case !clusterName.MatchString(c.Name):
		return fmt.Errorf("cluster name %q: want a plain identifier", c.Name)
	case len(c.Shards) == 0:
		return errors.New("cluster has no shards")
	case len(c.ZooKeeper) == 0:
		return errors.New("cluster has no zookeeper address")
	case c.Shard == "" || c.Replica == "":
		return errors.New("cluster needs this server's shard and replica macros")
	}
	for i, replicas := range c.Shards {
		if len(replicas) == 0 {
			return fmt.Errorf("cluster shard %d has no replicas", i+1)
		}
		for _, a := range replicas {
			if _, _, err := splitHostPort(a); err != nil {
				return fmt.Errorf("cluster shard %d: %w", i+1, err)
			}
		}
	}
	for _, a := range c.ZooKeeper {
		if _, _, err := splitHostPort(a); err != nil {
			return fmt.Errorf("zookeeper: %w", err)
		}
	}
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	return host, port, nil
}

// The XML of the cluster sections. remote_servers holds one element named
// after the cluster, so its XMLName is set at run time.
type (
	remoteServersXML struct {
		Cluster clusterXML
	}
	clusterXML struct {
		XMLName xml.Name
		Shards  []shardXML `xml:"shard"`
	}
	shardXML struct {
		// Writes through a Distributed table go to one replica per shard;
		// replication copies them to the others (so deduplication and the
		// usage view see each insert once).
		InternalReplication bool         `xml:"internal_replication"`
		Replicas            []replicaXML `xml:"replica"`
	}
	replicaXML struct {
		Host string `xml:"host"`
		Port int    `xml:"port"`
	}
	zookeeperXML struct {
		Nodes            []replicaXML `xml:"node"`
		SessionTimeoutMs int          `xml:"session_timeout_ms"`
	}
	macrosXML struct {
		Shard   string `xml:"shard"`
		Replica string `xml:"replica"`
	}
	distributedDDLXML struct {
		Path string `xml:"path"`
	}
)

// clusterSections fills cfg's cluster elements from c; host is the address
// this server listens on (its interserver host too).
func (c *Cluster) sections(cfg *serverConfig, host string, interserverPort int) error {
	remote := remoteServersXML{Cluster: clusterXML{XMLName: xml.Name{Local: c.Name}}}
	for _, replicas := range c.Shards {
		sh := shardXML{InternalReplication: true}
		for _, a := range replicas {
			h, p, err := splitHostPort(a)
			if err != nil {
				return err
			}
			sh.Replicas = append(sh.Replicas, replicaXML{Host: h, Port: p})
		}
		remote.Cluster.Shards = append(remote.Cluster.Shards, sh)
	}
	zk := zookeeperXML{SessionTimeoutMs: c.ZooKeeperSessionTimeout}
	if zk.SessionTimeoutMs <= 0 {
		zk.SessionTimeoutMs = 30000
	}
	for _, a := range c.ZooKeeper {
		h, p, err := splitHostPort(a)
		if err != nil {
			return err
		}
		zk.Nodes = append(zk.Nodes, replicaXML{Host: h, Port: p})
	}
	cfg.RemoteServers = &remote
	cfg.ZooKeeper = &zk
	cfg.Macros = &macrosXML{Shard: c.Shard, Replica: c.Replica}
	cfg.DistributedDDL = &distributedDDLXML{Path: "/clickhouse/task_queue/ddl"}
	cfg.InterserverHTTPPort = interserverPort
	cfg.InterserverHTTPHost = host
	return nil
}
