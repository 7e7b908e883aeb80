package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sawmillhq/sawmill/pkg/auth"
)

// A Fluent Bit es output chunk (Suppress_Type_Name On, Kubernetes tail
// input), with one bad document and one delete in the middle.
const fluentBitBulk = `{"create":{"_index":"fluent-bit"}}
{"@timestamp":"2026-11-26T10:15:30.123Z","log":"GET /api/orders/ 200","stream":"stdout","kubernetes":{"pod_name":"web-7d9f","namespace_name":"shop"}}
{"create":{"_index":"fluent-bit"}}
{"@timestamp":"2026-11-26T10:15:30.200Z","log":"","stream":"stdout"}
{"delete":{"_index":"fluent-bit","_id":"x"}}
{"index":{"_index":"fluent-bit","_id":"doc-3"}}
{"@timestamp":"2026-11-26T10:15:31.000Z","log":"login ok Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln","stream":"stderr","password":"hunter2"}
`

// bulkResp reads both a bulk answer and an ES error answer.
type bulkResp struct {
	Took   int64                       `json:"took"`
	Errors bool                        `json:"errors"`
	Items  []map[string]map[string]any `json:"items"`
	Error  map[string]any              `json:"error"`
	Status int                         `json:"status"`
}

func decodeBulk(t *testing.T, body string) bulkResp {
	t.Helper()
	var r bulkResp
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("bulk answer %q: %v", body, err)
	}
	return r
}

func TestESBulkFluentBit(t *testing.T) {
	r := newEdgeRig(t)
	const tenantID = "tfluent"
	key := r.key(t, tenantID, auth.ScopeIngest)
	next := r.subscribe(t, tenantID)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("fluent:"+key))
	code, hdr, body := r.do(t, "POST", "/v1/es/_bulk", fluentBitBulk,
		"Authorization", basic, "Content-Type", "application/x-ndjson")
	if code != http.StatusOK || hdr.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("status %d, headers %v: %s", code, hdr, body)
	}
	res := decodeBulk(t, body)
	if !res.Errors || len(res.Items) != 4 {
		t.Fatalf("answer %s", body)
	}
	want := []struct {
		op     string
		status float64
		errTyp string
	}{{"create", 201, ""}, {"create", 400, "mapper_parsing_exception"}, {"delete", 400, "illegal_argument_exception"}, {"index", 201, ""}}
	for i, w := range want {
		it, ok := res.Items[i][w.op]
		if !ok || len(res.Items[i]) != 1 || it["status"] != w.status || it["_index"] != "fluent-bit" {
			t.Fatalf("item %d = %v, want op %s status %v", i, res.Items[i], w.op, w.status)
		}
		if w.errTyp == "" {
			if it["result"] != "created" || it["_id"] == "" || it["error"] != nil {
				t.Fatalf("item %d = %v", i, it)
			}
			continue
		}
		e, _ := it["error"].(map[string]any)
		if e["type"] != w.errTyp || e["reason"] == "" {
			t.Fatalf("item %d error = %v", i, it)
		}
	}
	if res.Items[3]["index"]["_id"] != "doc-3" {
		t.Fatalf("client id not echoed: %v", res.Items[3])
	}
	if reason := res.Items[1]["create"]["error"].(map[string]any)["reason"].(string); !strings.Contains(reason, "message is empty") {
		t.Fatalf("reason %q does not say why", reason)
	}
	evs := next(2)
	if evs[0].Message != "GET /api/orders/ 200" || !strings.HasPrefix(evs[1].Message, "login ok Authorization: Bearer [REDACTED]") {
		t.Fatalf("events on the bus: %q, %q", evs[0].Message, evs[1].Message)
	}
	for _, a := range evs[1].Attrs {
		if a.Key == "password" && a.Value != "[REDACTED]" {
			t.Fatalf("password reached the bus: %v", evs[1].Attrs)
		}
	}
}

func TestESBulkVectorGzipAndIndexPath(t *testing.T) {
	r := newEdgeRig(t)
	key := r.key(t, "tvector", auth.ScopeIngest)
	next := r.subscribe(t, "tvector")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(`{"index":{}}` + "\n" +
		`{"host":"web-3","message":"GET /health 200","source_type":"file","timestamp":"2026-11-26T10:15:30.123456Z"}` + "\n"))
	_ = zw.Close()
	code, _, body := r.do(t, "POST", "/v1/es/vector-2026.11.26/_bulk", buf.String(),
		"Authorization", "Bearer "+key, "Content-Encoding", "gzip", "Content-Type", "application/x-ndjson")
	res := decodeBulk(t, body)
	if code != 200 || res.Errors || len(res.Items) != 1 || res.Items[0]["index"]["_index"] != "vector-2026.11.26" {
		t.Fatalf("%d %s", code, body)
	}
	if evs := next(1); evs[0].Host != "web-3" || evs[0].Message != "GET /health 200" {
		t.Fatalf("event %+v", evs[0])
	}
}

func TestESAuth(t *testing.T) {
	r := newEdgeRig(t)
	key := r.key(t, "tauth", auth.ScopeIngest)
	queryKey := r.key(t, "tauth", auth.ScopeQuery)
	doc := `{"index":{}}` + "\n" + `{"message":"hi"}` + "\n"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	f := func(authz string, want int) {
		t.Helper()
		code, hdr, body := r.do(t, "POST", "/v1/es/_bulk", doc, "Authorization", authz)
		if code != want {
			t.Fatalf("Authorization %q: status %d, want %d: %s", authz, code, want, body)
		}
		if want == 200 {
			return
		}
		res := decodeBulk(t, body)
		if res.Status != want || res.Error["type"] != "security_exception" || res.Error["reason"] == "" {
			t.Fatalf("Authorization %q: error shape %s", authz, body)
		}
		if want == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("401 without a Basic challenge: %v", hdr)
		}
	}
	f("Bearer "+key, 200)
	f("Basic "+b64("elastic:"+key), 200)
	f("Basic "+b64(key+":"), 200)
	f("ApiKey "+key, 200)
	f("ApiKey "+b64("someid:"+key), 200)
	f("", 401)
	f("Basic "+b64("elastic:changeme"), 401)
	f("Basic !!!", 401)
	f("Bearer sm_nope_nope", 401)
	f("Basic "+b64("elastic:"+queryKey), 403)
}

func TestESProbes(t *testing.T) {
	r := newEdgeRig(t)
	key := r.key(t, "tprobe", auth.ScopeIngest)
	authz := "Basic " + base64.StdEncoding.EncodeToString([]byte("elastic:"+key))
	f := func(method, path string, want int, check func(map[string]any) bool) {
		t.Helper()
		code, hdr, body := r.do(t, method, path, "", "Authorization", authz)
		if code != want || hdr.Get("X-Elastic-Product") != "Elasticsearch" {
			t.Fatalf("%s %s: %d %v %s", method, path, code, hdr, body)
		}
		if check == nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil || !check(m) {
			t.Fatalf("%s %s: %s (%v)", method, path, body, err)
		}
	}
	version := func(m map[string]any) bool {
		v, _ := m["version"].(map[string]any)
		n, _ := v["number"].(string)
		return strings.HasPrefix(n, "8.")
	}
	f("GET", "/v1/es/", 200, version)
	f("GET", "/v1/es", 200, version)
	f("HEAD", "/v1/es/", 200, nil)
	f("GET", "/v1/es/_cluster/health", 200, func(m map[string]any) bool { return m["status"] == "green" })
	f("GET", "/v1/es/_license", 200, func(m map[string]any) bool {
		l, _ := m["license"].(map[string]any)
		return l["status"] == "active"
	})
	f("GET", "/v1/es/_xpack", 200, func(m map[string]any) bool { return m["license"] != nil })
	f("HEAD", "/v1/es/fluent-bit", 200, nil)
	f("GET", "/v1/es/fluent-bit", 200, func(m map[string]any) bool { return m["fluent-bit"] != nil })
	f("DELETE", "/v1/es/fluent-bit", 405, func(m map[string]any) bool { return m["error"] != nil })
	code, _, _ := r.do(t, "GET", "/v1/es/", "")
	if code != 401 {
		t.Fatalf("unauthenticated probe: %d", code)
	}
}

func TestESBulkBadRequests(t *testing.T) {
	r := newEdgeRig(t)
	key := r.key(t, "tbad", auth.ScopeIngest)
	f := func(body string, want int, reason string, hdr ...string) {
		t.Helper()
		code, _, got := r.do(t, "POST", "/v1/es/_bulk", body, append([]string{"Authorization", "Bearer " + key}, hdr...)...)
		res := decodeBulk(t, got)
		if code != want || res.Status != want || !strings.Contains(res.Error["reason"].(string), reason) {
			t.Fatalf("body %q: %d %s, want %d with %q", body, code, got, want, reason)
		}
	}
	f("", 400, "request body is required")
	f("\n\n", 400, "request body is required")
	f("x", 400, "gzip", "Content-Encoding", "gzip")
	f("x", 400, "Idempotency-Key", "Idempotency-Key", strings.Repeat("k", 300))
	f(strings.Repeat("x", 11<<20), 413, "exceeds")

	// One unreadable action fails its item, not the request.
	code, _, got := r.do(t, "POST", "/v1/es/_bulk", "garbage\n", "Authorization", "Bearer "+key)
	res := decodeBulk(t, got)
	if code != 200 || !res.Errors || len(res.Items) != 1 || res.Items[0]["index"]["status"] != 400.0 {
		t.Fatalf("garbage: %d %s", code, got)
	}
}
