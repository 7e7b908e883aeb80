package chserver

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
)

// serverConfig is the generated config.xml. The root element <yandex> is
// what 18.16 requires; current releases still accept it (they prefer
// <clickhouse>). Only tcp_port is set (and, for a cluster replica, the
// interserver HTTP port): with no http_port or other protocol ports in the
// file, the server opens no other listener, so instances never collide on
// them.
type serverConfig struct {
	XMLName               xml.Name     `xml:"yandex"`
	Logger                loggerConfig `xml:"logger"`
	ListenHost            string       `xml:"listen_host"`
	TCPPort               int          `xml:"tcp_port"`
	Path                  string       `xml:"path"`
	TmpPath               string       `xml:"tmp_path"`
	UserFilesPath         string       `xml:"user_files_path"`
	FormatSchemaPath      string       `xml:"format_schema_path"`
	UsersConfig           string       `xml:"users_config"`
	DefaultProfile        string       `xml:"default_profile"`
	DefaultDatabase       string       `xml:"default_database"`
	Timezone              string       `xml:"timezone"`
	MarkCacheSize         int64        `xml:"mark_cache_size"`
	UncompressedCacheSize int64        `xml:"uncompressed_cache_size"`
	MaxConcurrentQueries  int          `xml:"max_concurrent_queries"`
	MlockExecutable       bool         `xml:"mlock_executable"`
	// ShutdownWaitUnfinished is how long SIGTERM waits for running queries.
	ShutdownWaitUnfinished int `xml:"shutdown_wait_unfinished"`

	// Cluster mode only (see Cluster); absent otherwise.
	InterserverHTTPPort int                `xml:"interserver_http_port,omitempty"`
	InterserverHTTPHost string             `xml:"interserver_http_host,omitempty"`
	RemoteServers       *remoteServersXML  `xml:"remote_servers"`
	ZooKeeper           *zookeeperXML      `xml:"zookeeper"`
	Macros              *macrosXML         `xml:"macros"`
	DistributedDDL      *distributedDDLXML `xml:"distributed_ddl"`
}

type loggerConfig struct {
	Level    string `xml:"level"`
	Log      string `xml:"log"`
	ErrorLog string `xml:"errorlog"`
	Size     string `xml:"size"`
	Count    int    `xml:"count"`
}

// usersXML defines the `default` user (no password, any address: the server
// only listens on Config.Host), its profile and an unlimited quota.
const usersXML = `<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
            <!-- Idle connections check for shutdown this often (default 10 s). -->
            <poll_interval>1</poll_interval>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>::/0</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`

// layout is where an instance keeps its files under Config.Dir.
type layout struct{ dir string }

func (l layout) config() string   { return filepath.Join(l.dir, "config.xml") }
func (l layout) users() string    { return filepath.Join(l.dir, "users.xml") }
func (l layout) logs() string     { return filepath.Join(l.dir, "logs") }
func (l layout) errorLog() string { return filepath.Join(l.logs(), "clickhouse-server.err.log") }
func (l layout) serverLog() string {
	return filepath.Join(l.logs(), "clickhouse-server.log")
}
func (l layout) stderr() string { return filepath.Join(l.logs(), "stderr.log") }

// sub returns a directory path with the trailing slash ClickHouse requires.
func (l layout) sub(name string) string { return filepath.Join(l.dir, name) + "/" }

// write creates the directories and writes config.xml and users.xml for a
// server listening on host at ports, a replica of cluster when it is not nil.
// Existing data is left alone.
func (l layout) write(host string, ports listenPorts, cluster *Cluster) error {
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas", "logs"} {
		if err := os.MkdirAll(filepath.Join(l.dir, d), 0o755); err != nil {
			return fmt.Errorf("create dir: %w", err)
		}
	}
	cfg := serverConfig{
		Logger: loggerConfig{
			Level: "information", Log: l.serverLog(), ErrorLog: l.errorLog(),
			Size: "100M", Count: 3,
		},
		ListenHost:            host,
		TCPPort:               ports.tcp,
		Path:                  l.sub("data"),
		TmpPath:               l.sub("tmp"),
		UserFilesPath:         l.sub("user_files"),
		FormatSchemaPath:      l.sub("format_schemas"),
		UsersConfig:           l.users(),
		DefaultProfile:        "default",
		DefaultDatabase:       "default",
		Timezone:              "UTC",
		MarkCacheSize:         256 << 20,
		UncompressedCacheSize: 256 << 20,
		MaxConcurrentQueries:  100,
		// Stop escalates to SIGKILL after stopTimeout: finish well before.
		ShutdownWaitUnfinished: 3,
	}
	if cluster != nil {
		if err := cluster.sections(&cfg, host, ports.interserver); err != nil {
			return fmt.Errorf("cluster config: %w", err)
		}
	}
	out, err := xml.MarshalIndent(cfg, "", "    ")
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	out = append([]byte(xml.Header), append(out, '\n')...)
	if err := os.WriteFile(l.config(), out, 0o644); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.WriteFile(l.users(), []byte(usersXML), 0o644); err != nil {
		return fmt.Errorf("write users config: %w", err)
	}
	return nil
}
