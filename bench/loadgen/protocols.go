package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sawmillhq/sawmill/bench/djangolog"
)

// sender ships one batch of events over one protocol and returns how many
// the server acknowledged (syslog has no acknowledgement: what was written)
// and the bytes sent. It retries what the protocol lets it retry.
type sender interface {
	send(worker, i int, g *generator, batch int) (accepted int64, bytes int, err error)
}

// otlpSender posts OTLP/HTTP protobuf, as OpenTelemetry SDK exporters do.
type otlpSender struct {
	client *http.Client
	base   string
	key    string
}

func (s otlpSender) send(worker, i int, g *generator, batch int) (int64, int, error) {
	recs := make([]*logspb.LogRecord, batch)
	for j := range recs {
		recs[j] = g.otlpRecord()
	}
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			strKV("service.name", "web"), strKV("deployment.environment", "production"), strKV("host.name", djangolog.Hosts[worker%len(djangolog.Hosts)]),
		}},
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs}},
	}}}
	body, err := proto.Marshal(req)
	if err != nil {
		return 0, 0, err
	}
	for {
		hreq, _ := http.NewRequest("POST", s.base+"/v1/logs", bytes.NewReader(body))
		hreq.Header.Set("Authorization", "Bearer "+s.key)
		hreq.Header.Set("Content-Type", "application/x-protobuf")
		hreq.Header.Set("Idempotency-Key", fmt.Sprintf("o%d-%d", worker, i))
		resp, err := s.client.Do(hreq)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				var out collogspb.ExportLogsServiceResponse
				if err := proto.Unmarshal(b, &out); err != nil {
					return 0, len(body), err
				}
				return int64(batch) - out.GetPartialSuccess().GetRejectedLogRecords(), len(body), nil
			}
		}
		failures.Add(1)
		time.Sleep(200 * time.Millisecond)
	}
}

func strKV(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func (g *generator) otlpRecord() *logspb.LogRecord {
	status := int64(200)
	sev, text := logspb.SeverityNumber_SEVERITY_NUMBER_INFO, "INFO"
	if g.Rand().Intn(100) < 5 {
		status, sev, text = 500, logspb.SeverityNumber_SEVERITY_NUMBER_ERROR, "ERROR"
	}
	path := djangolog.Paths[g.Rand().Intn(len(djangolog.Paths))]
	return &logspb.LogRecord{
		TimeUnixNano: uint64(time.Now().UnixNano()), SeverityNumber: sev, SeverityText: text,
		Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "GET " + path + " " + strconv.FormatInt(status, 10)}},
		Attributes: []*commonpb.KeyValue{
			strKV("request_id", fmt.Sprintf("%08x-%04x", g.Rand().Uint32(), g.Rand().Intn(1<<16))),
			strKV("http.path", path),
			{Key: "http.status_code", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: status}}},
			{Key: "duration_ms", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: g.Rand().ExpFloat64() * 120}}},
		},
	}
}

// syslogSender writes RFC 5424 octet-counted frames over one TCP
// connection per worker, the API key in the sawmill@32473 element, as
// rsyslog's omfwd does. Syslog has no acknowledgement.
type syslogSender struct {
	conns []net.Conn
	key   string
}

func newSyslogSender(addr, key string, workers int) (*syslogSender, error) {
	s := &syslogSender{key: key}
	for w := 0; w < workers; w++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		s.conns = append(s.conns, c)
	}
	return s, nil
}

func (s *syslogSender) send(worker, _ int, g *generator, batch int) (int64, int, error) {
	var b bytes.Buffer
	for j := 0; j < batch; j++ {
		frame := g.syslogFrame(s.key, worker)
		b.WriteString(strconv.Itoa(len(frame)))
		b.WriteByte(' ')
		b.WriteString(frame)
	}
	n, err := s.conns[worker].Write(b.Bytes())
	return int64(batch), n, err
}

func (g *generator) syslogFrame(key string, worker int) string {
	sev := 6
	msg := "GET " + djangolog.Paths[g.Rand().Intn(len(djangolog.Paths))] + " 200"
	if g.Rand().Intn(100) < 5 {
		sev, msg = 3, "Internal Server Error: /checkout"
	}
	return fmt.Sprintf(`<%d>1 %s %s web %d - [sawmill@32473 key="%s"][req@32473 request_id="%08x"] %s`,
		16*8+sev, time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"), djangolog.Hosts[worker%len(djangolog.Hosts)], 1000+worker, key, g.Rand().Uint32(), msg)
}
