package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	dto "github.com/prometheus/client_model/go"

	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// syslogRig is a syslog server on a real edge, bus, writer and ClickHouse,
// with one tenant and its ingest key. It records every message published
// on the LOGS subjects, to check that no API key reaches the bus.
type syslogRig struct {
	*rig
	srv      *SyslogServer
	keys     *auth.KeyTable
	tenantID string
	key      string // full API key
	secret   string

	mu        sync.Mutex
	published [][]byte
}

func newSyslogRig(t *testing.T, cfg SyslogConfig) *syslogRig {
	t.Helper()
	r := &syslogRig{rig: newRig(t), keys: auth.NewKeyTable(), tenantID: "t" + auth.RandomID(8)}
	r.key, r.secret = syslogAddKey(t, r.keys, r.tenantID, auth.ScopeIngest)
	sub, err := r.bus.NC.Subscribe(bus.LogsSubjectPrefix+">", func(m *nats.Msg) {
		r.mu.Lock()
		r.published = append(r.published, m.Data)
		r.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	edge := NewEdge(Config{}, quiet, r.bus, &auth.Authenticator{Keys: r.keys}, tenant.NewDirectory())
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.BatchWait == 0 {
		cfg.BatchWait = 50 * time.Millisecond
	}
	r.srv = NewSyslogServer(cfg, quiet, edge)
	if err := r.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.srv.Close() })
	t.Cleanup(startWriter(t, NewWriter(WriterConfig{BatchWait: 100 * time.Millisecond}, quiet, r.bus, r.store)))
	return r
}

// syslogAddKey creates an API key for tenantID in keys and returns the
// full key and its secret.
func syslogAddKey(tb testing.TB, keys *auth.KeyTable, tenantID string, scopes ...auth.Scope) (full, secret string) {
	tb.Helper()
	id, secret, full := auth.NewKeySecret()
	v, err := json.Marshal(auth.Key{ID: id, TenantID: tenantID, Scopes: scopes, Hash: auth.HashSecret(secret), CreatedAt: time.Now()})
	if err != nil {
		tb.Fatal(err)
	}
	if err := keys.Apply(auth.KVKey(tenantID, id), v, false); err != nil {
		tb.Fatal(err)
	}
	return full, secret
}

// port returns the syslog port as a string, for command lines.
func (r *syslogRig) port(tb testing.TB) string {
	tb.Helper()
	_, p, err := net.SplitHostPort(r.srv.Addr())
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// waitEvents polls ClickHouse until the tenant has want events (and fails
// if it ever has more), and returns them keyed by message.
func (r *syslogRig) waitEvents(t *testing.T, want int) map[string]store.StoredEvent {
	t.Helper()
	var got map[string]store.StoredEvent
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got = r.events(t)
		if len(got) >= want {
			break
		}
	}
	if len(got) != want {
		msgs := make([]string, 0, len(got))
		for m := range got {
			msgs = append(msgs, m)
		}
		t.Fatalf("stored %d events, want %d: %q", len(got), want, msgs)
	}
	r.checkNoSecret(t, got)
	return got
}

// waitMessages polls ClickHouse until events with each of msgs are stored
// and returns all of the tenant's events.
func (r *syslogRig) waitMessages(t *testing.T, msgs ...string) map[string]store.StoredEvent {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got, missing := r.events(t), ""
		for _, m := range msgs {
			if _, ok := got[m]; !ok {
				missing = m
			}
		}
		if missing == "" {
			r.checkNoSecret(t, got)
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not stored", missing)
		}
	}
}

func (r *syslogRig) events(t *testing.T) map[string]store.StoredEvent {
	t.Helper()
	rows, err := r.store.Query(context.Background(), "SELECT "+store.EventColumns+" FROM logs WHERE tenant_id = ?", r.tenantID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]store.StoredEvent{}
	for rows.Next() {
		e, err := store.ScanEvent(rows)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[e.Message]; dup {
			t.Fatalf("message %q stored twice", e.Message)
		}
		out[e.Message] = e
	}
	return out
}

// checkNoSecret fails if the API key's secret is in a stored event or in
// anything published on the bus.
func (r *syslogRig) checkNoSecret(t *testing.T, evs map[string]store.StoredEvent) {
	t.Helper()
	for _, e := range evs {
		text := fmt.Sprintf("%+v", e.Event)
		if strings.Contains(text, r.secret) || strings.Contains(text, "sm_") {
			t.Errorf("stored event holds the API key: %s", text)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.published) == 0 {
		t.Error("nothing seen on the bus")
	}
	for _, m := range r.published {
		if bytes.Contains(m, []byte(r.secret)) {
			t.Errorf("the API key's secret was published on the bus: %q", m)
		}
	}
}

func attrOf(e store.StoredEvent, key string) string {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
}

// wantEvent checks the fields syslog sets; empty want fields are not checked.
type wantEvent struct {
	level, service, host, procid, msgid, facility string
	sd                                            map[string]string
}

func (w wantEvent) check(t *testing.T, msg string, evs map[string]store.StoredEvent) {
	t.Helper()
	e, ok := evs[msg]
	if !ok {
		t.Errorf("no event with message %q", msg)
		return
	}
	check := func(field, got, want string) {
		t.Helper()
		if want != "" && got != want {
			t.Errorf("%q: %s = %q, want %q", msg, field, got, want)
		}
	}
	check("level", e.Level, w.level)
	check("service", e.Service, w.service)
	check("host", e.Host, w.host)
	check("syslog.procid", attrOf(e, "syslog.procid"), w.procid)
	check("syslog.msgid", attrOf(e, "syslog.msgid"), w.msgid)
	check("syslog.facility", attrOf(e, "syslog.facility"), w.facility)
	for k, v := range w.sd {
		check(k, attrOf(e, k), v)
	}
	if age := time.Since(e.Timestamp()); age < -time.Minute || age > time.Hour {
		t.Errorf("%q: timestamp %v is not about now", msg, e.Timestamp())
	}
}

func hostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Debian's logger (util-linux) over every transport and framing it has.
func TestSyslogLogger(t *testing.T) {
	r := newSyslogRig(t, SyslogConfig{})
	port := r.port(t)
	sd := []string{"--sd-id", "sawmill@32473", "--sd-param", `key="` + r.key + `"`}
	base := []string{"-n", "127.0.0.1", "-P", port, "-t", "myapp"}
	host := hostname(t)
	cases := []struct {
		name string
		args []string
		msg  string // text sent (after the key, for RFC 3164)
		want wantEvent
	}{
		{"tcp octet-count rfc5424", append([]string{"--tcp", "--octet-count", "--rfc5424", "--msgid", "M1", "-p", "local0.err"}, sd...),
			"tcp octet rfc5424", wantEvent{level: "error", service: "myapp", host: host, msgid: "M1", facility: "local0",
				sd: map[string]string{"sd.timeQuality.tzKnown": "1"}}},
		{"tcp newline rfc5424", append([]string{"--tcp", "--rfc5424", "-i", "-p", "user.warning"}, sd...),
			"tcp newline rfc5424", wantEvent{level: "warn", service: "myapp", host: host, facility: "user"}},
		{"tcp rfc3164", []string{"--tcp", "--rfc3164", "--id=4242", "-p", "daemon.info"},
			"tcp rfc3164", wantEvent{level: "info", service: "myapp", host: host, procid: "4242", facility: "daemon"}},
		{"tcp octet-count rfc3164", []string{"--tcp", "--octet-count", "--rfc3164", "-p", "auth.crit"},
			"tcp octet rfc3164", wantEvent{level: "fatal", service: "myapp", host: host, facility: "auth"}},
		{"udp rfc3164", []string{"--udp", "--rfc3164", "-p", "local7.debug"},
			"udp rfc3164", wantEvent{level: "debug", service: "myapp", host: host, facility: "local7"}},
		{"udp rfc5424", append([]string{"--udp", "--rfc5424", "-p", "user.notice"}, sd...),
			"udp rfc5424", wantEvent{level: "info", service: "myapp", host: host, facility: "user"}},
	}
	for _, c := range cases {
		text := c.msg
		if !strings.Contains(strings.Join(c.args, " "), "sawmill@32473") {
			text = r.key + " " + c.msg // RFC 3164: the key is the first word
		}
		run(t, "logger", append(append(c.args, base...), text)...)
	}
	evs := r.waitEvents(t, len(cases))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.want.check(t, c.msg, evs) })
	}
}

// Messages without a valid key are dropped and counted; the messages
// around them on the same connection are stored.
func TestSyslogBadKeys(t *testing.T) {
	r := newSyslogRig(t, SyslogConfig{})
	other := auth.NewKeyTable()
	queryOnly, _ := syslogAddKey(t, r.keys, r.tenantID, auth.ScopeQuery)
	unknown, _ := syslogAddKey(t, other, r.tenantID, auth.ScopeIngest) // never in r.keys
	id, _, _ := auth.ParseKey(r.key)
	wrongSecret := "sm_" + id + "_" + strings.Repeat("a", 32)
	before := map[string]float64{}
	for _, res := range []string{"unauthenticated", "no_key", "invalid"} {
		before[res] = syslogCount(t, res)
	}
	lines := []string{
		r.key + " first good",
		unknown + " unknown key",
		wrongSecret + " wrong secret",
		queryOnly + " key without the ingest scope",
		"sm_malformed no secret",
		"no key at all",
		r.key + " second good",
	}
	file := t.TempDir() + "/lines"
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "logger", "--tcp", "--rfc3164", "-n", "127.0.0.1", "-P", r.port(t), "-t", "app", "-f", file)
	// An unparsable RFC 5424 header carrying a valid key, then a good
	// message on the same connection.
	conn, err := net.Dial("tcp", r.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "<13>1 yesterday host app - - [sawmill@32473 key=\"%s\"] never stored\n", r.key)
	fmt.Fprintf(conn, "<13>1 - host app - - [sawmill@32473 key=\"%s\"] last good\n", r.key)
	conn.Close()
	evs := r.waitEvents(t, 3)
	for _, m := range []string{"first good", "second good", "last good"} {
		if _, ok := evs[m]; !ok {
			t.Errorf("%q not stored", m)
		}
	}
	for res, want := range map[string]float64{"unauthenticated": 4, "no_key": 1, "invalid": 1} {
		if got := syslogCount(t, res) - before[res]; got != want {
			t.Errorf("sawmill_syslog_messages_total{result=%q} grew by %v, want %v", res, got, want)
		}
	}
}

// syslogCount reads sawmill_syslog_messages_total{result}.
func syslogCount(tb testing.TB, result string) float64 {
	tb.Helper()
	var m dto.Metric
	if err := syslogMessages.WithLabelValues(result).Write(&m); err != nil {
		tb.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
