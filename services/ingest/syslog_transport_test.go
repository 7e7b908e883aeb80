package ingest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// syslogTestCert writes a self-signed certificate for 127.0.0.1 and its
// key as PEM files and returns their paths and a pool trusting it.
func syslogTestCert(tb testing.TB) (certFile, keyFile string, pool *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sawmill test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// Syslog over TLS, octet-counted, and the TLS listener exists only with a
// certificate.
func TestSyslogTLS(t *testing.T) {
	certFile, keyFile, pool := syslogTestCert(t)
	r := newSyslogRig(t, SyslogConfig{TLSAddr: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile})
	conn, err := tls.Dial("tcp", r.srv.TLSAddr(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		msg := fmt.Sprintf(`<165>1 2026-11-26T10:00:00.5Z web01 shop 77 ORDER [sawmill@32473 key="%s"][order@32473 id="%d"] tls message %d`, r.key, i, i)
		fmt.Fprintf(conn, "%d %s", len(msg), msg)
	}
	conn.Close()
	evs := r.waitEvents(t, 3)
	e := evs["tls message 1"]
	if e.Host != "web01" || e.Service != "shop" || attrOf(e, "sd.order@32473.id") != "1" || attrOf(e, "syslog.procid") != "77" ||
		e.Timestamp() != time.Date(2026, 11, 26, 10, 0, 0, 5e8, time.UTC) || e.Level != "info" || e.SeverityNumber != 10 {
		t.Errorf("stored %+v", e.Event)
	}

	plain := NewSyslogServer(SyslogConfig{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0"}, quiet, r.srv.edge)
	if err := plain.Start(); err != nil {
		t.Fatal(err)
	}
	if plain.TLSAddr() != "" {
		t.Errorf("TLS listener without a certificate at %s", plain.TLSAddr())
	}
	plain.Close()
	bad := NewSyslogServer(SyslogConfig{Addr: "127.0.0.1:0", TLSCert: certFile}, quiet, r.srv.edge)
	if err := bad.Start(); err == nil || !strings.Contains(err.Error(), "tls-key") {
		t.Errorf("Start with a certificate and no key: %v", err)
	}
}

// Many messages are published in few batches, not one round trip each.
func TestSyslogBatching(t *testing.T) {
	r := newSyslogRig(t, SyslogConfig{BatchEvents: 500, BatchWait: time.Second})
	conn, err := net.Dial("tcp", r.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := 0; i < n; i++ {
		fmt.Fprintf(conn, "<14>Nov 26 10:00:00 host app: %s message %d\n", r.key, i)
	}
	conn.Close()
	r.waitEvents(t, n)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.published) > n/500+1 {
		t.Errorf("%d messages on the bus for %d events in batches of 500", len(r.published), n)
	}
}

// While NATS is down, TCP connections are no longer read (the batcher
// holds one full batch and waits) and UDP datagrams are dropped and
// counted; once NATS is back every TCP message is stored exactly once.
func TestSyslogBusDown(t *testing.T) {
	r := newSyslogRig(t, SyslogConfig{BatchEvents: 10})
	// One message through first: the writer's consumer is in place.
	run(t, "logger", "--tcp", "-n", "127.0.0.1", "-P", r.port(t), "-t", "app", r.key+" before")
	r.waitEvents(t, 1)
	r.nats.Stop()
	conn, err := net.Dial("tcp", r.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	sent := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if _, err := fmt.Fprintf(conn, "<14>%s tcp %d\n", r.key, i); err != nil {
				sent <- err
				return
			}
		}
		sent <- conn.Close()
	}()
	// Wait for the batcher to hold a full pending batch: TCP now blocks.
	for !syslogPendingFull(r.srv.batch, r.tenantID) {
		time.Sleep(10 * time.Millisecond)
	}
	dropped := syslogCount(t, "dropped_backpressure")
	udp, err := net.Dial("udp", r.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	const k = 5
	for i := 0; i < k; i++ {
		fmt.Fprintf(udp, "<14>%s udp %d", r.key, i)
	}
	udp.Close()
	for syslogCount(t, "dropped_backpressure")-dropped < k {
		time.Sleep(10 * time.Millisecond)
	}
	r.nats.Restart(t)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	evs := r.waitEvents(t, n+1)
	for i := 0; i < n; i++ {
		if _, ok := evs[fmt.Sprint("tcp ", i)]; !ok {
			t.Errorf("tcp %d lost", i)
		}
	}
	r.waitStored(t, r.tenantID, n+1) // and no duplicates
}

// Close publishes what is gathered before it returns.
func TestSyslogCloseFlushes(t *testing.T) {
	r := newSyslogRig(t, SyslogConfig{BatchWait: time.Hour})
	conn, err := net.Dial("tcp", r.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := 0; i < n; i++ {
		fmt.Fprintf(conn, "<14>%s before close %d\n", r.key, i)
	}
	conn.Close()
	for syslogPendingLen(r.srv.batch, r.tenantID) < n {
		time.Sleep(10 * time.Millisecond)
	}
	r.srv.Close()
	r.waitEvents(t, n)
}

// syslogPendingLen is how many events b holds for tenantID.
func syslogPendingLen(b *syslogBatcher, tenantID string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p := b.pending[tenantID]; p != nil {
		return len(p.evs)
	}
	return 0
}

// syslogPendingFull reports whether tenantID's pending batch is full, so
// that a blocking add waits.
func syslogPendingFull(b *syslogBatcher, tenantID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.pending[tenantID]
	return p != nil && (len(p.evs) >= b.maxEvents || p.bytes >= b.maxBytes)
}

// Connections beyond MaxConns are closed at once and counted; the open
// ones keep working.
func TestSyslogMaxConns(t *testing.T) {
	r := newSyslogRig(t, SyslogConfig{MaxConns: 2})
	before := syslogRejectedConns(t)
	var open []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", r.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		open = append(open, c)
	}
	if n, err := open[2].Read(make([]byte, 1)); err == nil {
		t.Fatalf("third connection read %d bytes, want it closed", n)
	}
	if got := syslogRejectedConns(t) - before; got != 1 {
		t.Errorf("rejected connections grew by %v, want 1", got)
	}
	for i, c := range open[:2] {
		fmt.Fprintf(c, "<14>%s conn %d\n", r.key, i)
	}
	r.waitEvents(t, 2)
}

func syslogRejectedConns(tb testing.TB) float64 {
	tb.Helper()
	var m dto.Metric
	if err := syslogConnsRejected.Write(&m); err != nil {
		tb.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
