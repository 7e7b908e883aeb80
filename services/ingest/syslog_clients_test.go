package ingest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// djangoLogging is a Django-style LOGGING dict with Python's SysLogHandler
// over TCP and UDP, as docs/syslog.md shows it. The formatter puts the API
// key first and the service name as the syslog tag.
const djangoLogging = `
import logging, logging.config, os, socket, sys

SAWMILL_API_KEY = os.environ["SAWMILL_API_KEY"]
SAWMILL_SYSLOG = (os.environ.get("SAWMILL_SYSLOG_HOST", "127.0.0.1"), int(os.environ.get("SAWMILL_SYSLOG_PORT", "5514")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "sawmill": {"format": SAWMILL_API_KEY + " mysite[%(process)d]: %(name)s: %(message)s"},
    },
    "handlers": {
        "sawmill": {
            "class": "logging.handlers.SysLogHandler",
            "address": SAWMILL_SYSLOG,
            "socktype": socket.SOCK_STREAM,  # TCP; socket.SOCK_DGRAM for UDP
            "facility": "local0",
            "formatter": "sawmill",
        },
        "sawmill_udp": {
            "class": "logging.handlers.SysLogHandler",
            "address": SAWMILL_SYSLOG,
            "socktype": socket.SOCK_DGRAM,
            "facility": "local1",
            "formatter": "sawmill",
        },
    },
    "loggers": {
        "django": {"handlers": ["sawmill"], "level": "INFO"},
        "udp": {"handlers": ["sawmill_udp"], "level": "DEBUG"},
    },
}
`

const djangoScript = djangoLogging + `
logging.config.dictConfig(LOGGING)
req = logging.getLogger("django.request")
req.info("tcp info")
req.warning("tcp warning")
req.error("tcp error é ✓")
req.critical("tcp critical")
try:
    1 / 0
except ZeroDivisionError:
    req.exception("tcp exception")
udp = logging.getLogger("udp")
udp.debug("udp debug")
udp.error("udp error")
logging.shutdown()
`

// Python's logging.handlers.SysLogHandler, configured by a Django-style
// LOGGING dict, over TCP (NUL-terminated frames, a traceback with
// newlines) and UDP.
func TestSyslogPython(t *testing.T) {
	r := newSyslogRig(t, SyslogConfig{})
	script := filepath.Join(t.TempDir(), "app.py")
	if err := os.WriteFile(script, []byte(djangoScript), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", script)
	cmd.Env = append(os.Environ(), "SAWMILL_API_KEY="+r.key, "SAWMILL_SYSLOG_PORT="+r.port(t))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	evs := r.waitEvents(t, 7)
	pid := fmt.Sprint(cmd.ProcessState.Pid())
	for msg, want := range map[string]wantEvent{
		"django.request: tcp info":      {level: "info", facility: "local0"},
		"django.request: tcp warning":   {level: "warn", facility: "local0"},
		"django.request: tcp error é ✓": {level: "error", facility: "local0"},
		"django.request: tcp critical":  {level: "fatal", facility: "local0"},
		"udp: udp debug":                {level: "debug", facility: "local1"},
		"udp: udp error":                {level: "error", facility: "local1"},
	} {
		want.service, want.procid = "mysite", pid
		want.check(t, msg, evs)
	}
	var exc string
	for m := range evs {
		if strings.HasPrefix(m, "django.request: tcp exception\n") {
			exc = m
		}
	}
	if !strings.Contains(exc, "Traceback (most recent call last):") || !strings.HasSuffix(exc, "ZeroDivisionError: division by zero") {
		t.Errorf("the exception's traceback is not one event: %q", exc)
	}
	for m, e := range evs {
		if e.SeverityNumber != map[string]int32{"info": 9, "warn": 13, "error": 17, "fatal": 21, "debug": 5}[e.Level] {
			t.Errorf("%q: severity number %d for level %s", m, e.SeverityNumber, e.Level)
		}
	}
}

// rsyslogConf forwards what rsyslog receives on UDP to Sawmill over TCP
// (octet-counted RFC 5424), adding the API key with a template, as
// docs/syslog.md shows it.
const rsyslogConf = `global(workDirectory="{{DIR}}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{{IN_PORT}}")

template(name="SawmillFormat" type="string"
         string="<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% [sawmill@32473 key=\"{{API_KEY}}\"]%msg:::sp-if-no-1st-sp%%msg%")

action(type="omfwd" target="127.0.0.1" port="{{SAWMILL_PORT}}" protocol="tcp"
       TCP_Framing="octet-counted" template="SawmillFormat"
       queue.type="LinkedList" queue.size="100000" action.resumeRetryCount="-1")
`

// rsyslog (Debian's rsyslogd, run as a child with a generated config)
// forwards messages it receives to Sawmill with the key in its template.
func TestSyslogRsyslog(t *testing.T) {
	r := newSyslogRig(t, SyslogConfig{})
	dir := t.TempDir()
	inPort := fmt.Sprint(freeUDPPort(t))
	conf := strings.NewReplacer("{{DIR}}", dir, "{{IN_PORT}}", inPort, "{{API_KEY}}", r.key, "{{SAWMILL_PORT}}", r.port(t)).Replace(rsyslogConf)
	confFile := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		rsyslogd = "/usr/sbin/rsyslogd"
	}
	cmd := exec.Command(rsyslogd, "-n", "-f", confFile, "-i", filepath.Join(dir, "rsyslogd.pid"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("rsyslogd is required (scripts/ensure-deps.sh installs it): %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", out.String())
		}
	})
	// rsyslogd binds its UDP input a moment after starting; resend until
	// the first message arrives, then send the rest.
	send := func(args ...string) {
		t.Helper()
		run(t, "logger", append([]string{"--udp", "-n", "127.0.0.1", "-P", inPort}, args...)...)
	}
	for i, deadline := 0, time.Now().Add(30*time.Second); ; i++ {
		send("--rfc3164", "-t", "probe", fmt.Sprint("probe ", i))
		time.Sleep(200 * time.Millisecond)
		if len(r.events(t)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd forwarded nothing\n%s", out.String())
		}
	}
	send("--rfc3164", "-t", "cron", "--id=4242", "-p", "cron.warning", "job done")
	send("--rfc5424", "-t", "billing", "--msgid", "INV", "-p", "local3.err", "invoice failed")
	evs := r.waitMessages(t, "job done", "invoice failed")
	wantEvent{level: "warn", service: "cron", procid: "4242", facility: "cron", host: hostname(t)}.check(t, "job done", evs)
	wantEvent{level: "error", service: "billing", msgid: "INV", facility: "local3", host: hostname(t)}.check(t, "invoice failed", evs)
}

func freeUDPPort(tb testing.TB) int {
	tb.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
