package chserver

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClusterValidate(t *testing.T) {
	good := func() Cluster {
		return Cluster{Name: "sawmill", Shards: [][]string{{"127.0.0.1:9000", "127.0.0.1:9001"}},
			ZooKeeper: []string{"127.0.0.1:2181"}, Shard: "01", Replica: "r1"}
	}
	tests := []struct {
		name   string
		mutate func(*Cluster)
		want   string
	}{
		{"valid", func(*Cluster) {}, ""},
		{"bad name", func(c *Cluster) { c.Name = "a b" }, "cluster name"},
		{"no shards", func(c *Cluster) { c.Shards = nil }, "no shards"},
		{"empty shard", func(c *Cluster) { c.Shards = [][]string{{}} }, "shard 1 has no replicas"},
		{"bad replica address", func(c *Cluster) { c.Shards = [][]string{{"nohost"}} }, "shard 1"},
		{"bad port", func(c *Cluster) { c.Shards = [][]string{{"h:0"}} }, "bad port"},
		{"no zookeeper", func(c *Cluster) { c.ZooKeeper = nil }, "no zookeeper"},
		{"bad zookeeper", func(c *Cluster) { c.ZooKeeper = []string{"zk"} }, "zookeeper"},
		{"no macros", func(c *Cluster) { c.Replica = "" }, "macros"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mutate(&c)
			err := c.validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("validate() = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

// The generated config carries the cluster sections a replica needs.
func TestClusterConfigXML(t *testing.T) {
	l := layout{t.TempDir()}
	c := &Cluster{Name: "prod", Shards: [][]string{{"127.0.0.1:9000", "127.0.0.2:9000"}, {"127.0.0.3:9000"}},
		ZooKeeper: []string{"127.0.0.1:2181"}, Shard: "02", Replica: "r1"}
	if err := l.write("127.0.0.1", listenPorts{tcp: 9000, interserver: 9009}, c); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(l.dir, "config.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Interserver int `xml:"interserver_http_port"`
		Remote      struct {
			Prod struct {
				Shards []struct {
					Internal bool `xml:"internal_replication"`
					Replicas []struct {
						Host string `xml:"host"`
						Port int    `xml:"port"`
					} `xml:"replica"`
				} `xml:"shard"`
			} `xml:"prod"`
		} `xml:"remote_servers"`
		ZK struct {
			Nodes []struct {
				Port int `xml:"port"`
			} `xml:"node"`
		} `xml:"zookeeper"`
		Macros struct {
			Shard, Replica string
		} `xml:"macros"`
		DDL string `xml:"distributed_ddl>path"`
	}
	if err := xml.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	shards := got.Remote.Prod.Shards
	if len(shards) != 2 || len(shards[0].Replicas) != 2 || !shards[0].Internal || shards[1].Replicas[0].Host != "127.0.0.3" {
		t.Errorf("remote_servers = %+v", got.Remote)
	}
	if got.Interserver != 9009 || len(got.ZK.Nodes) != 1 || got.ZK.Nodes[0].Port != 2181 || got.DDL == "" {
		t.Errorf("interserver %d, zookeeper %+v, distributed_ddl %q", got.Interserver, got.ZK, got.DDL)
	}
	if !strings.Contains(string(b), "<shard>02</shard>") || !strings.Contains(string(b), "<replica>r1</replica>") {
		t.Errorf("macros missing:\n%s", b)
	}
}

// A standalone server's config has none of the cluster sections.
func TestStandaloneConfigHasNoClusterSections(t *testing.T) {
	l := layout{t.TempDir()}
	if err := l.write("127.0.0.1", listenPorts{tcp: 9000}, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(l.dir, "config.xml"))
	for _, tag := range []string{"remote_servers", "zookeeper", "macros", "interserver", "distributed_ddl"} {
		if strings.Contains(string(b), tag) {
			t.Errorf("standalone config contains %s:\n%s", tag, b)
		}
	}
}
