package ingest

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/services/ingest/esbulk"
	"github.com/sawmillhq/sawmill/services/ingest/native"
)

// ESVersion is the Elasticsearch version the compatibility routes claim.
// Shippers read it to pick their request format (8.x: no _type); Beats
// refuse a server older than themselves unless allow_older_versions is set.
const ESVersion = "8.17.0"

// RegisterESBulk installs the Elasticsearch-compatible routes under
// /v1/es/, so that Fluent Bit, Vector, Filebeat and Logstash ES outputs can
// ship to Sawmill with only a host, a path prefix and the API key:
//
//	POST|PUT /v1/es/_bulk, POST|PUT /v1/es/{index}/_bulk   NDJSON action/source pairs
//	GET|HEAD /v1/es/                                       cluster info (version ESVersion)
//	GET /v1/es/_cluster/health, /_license, /_xpack         startup probes
//	HEAD|GET /v1/es/{index}                                every index "exists"
//
// Credentials: Authorization: Bearer <key>, HTTP basic auth with the key as
// password (any user name; or the key as user name with no password), or
// ApiKey <key | base64(id:key)>. The key needs the ingest scope. Errors are
// answered in Elasticsearch's error shape, with Sawmill's status codes.
func (e *Edge) RegisterESBulk(srv *server.Server) {
	bulk := e.esBulkHandler()
	srv.Handle("POST /v1/es/_bulk", bulk)
	srv.Handle("PUT /v1/es/_bulk", bulk)
	srv.Handle("POST /v1/es/{index}/_bulk", bulk)
	srv.Handle("PUT /v1/es/{index}/_bulk", bulk)
	srv.Handle("GET /v1/es", e.esProbe(esInfo))
	srv.Handle("GET /v1/es/{$}", e.esProbe(esInfo))
	srv.Handle("GET /v1/es/_cluster/health", e.esProbe(esHealth))
	srv.Handle("GET /v1/es/_license", e.esProbe(esLicense))
	srv.Handle("GET /v1/es/_xpack", e.esProbe(esXPack))
	srv.Handle("/v1/es/{index}", e.esIndex())
}

// esBulkItem is one entry of a bulk response's items: exactly one field set.
type esBulkItem struct {
	Index  *esItemResult `json:"index,omitempty"`
	Create *esItemResult `json:"create,omitempty"`
	Update *esItemResult `json:"update,omitempty"`
	Delete *esItemResult `json:"delete,omitempty"`
}

type esItemResult struct {
	Index       string    `json:"_index"`
	ID          string    `json:"_id,omitempty"`
	Version     int       `json:"_version,omitempty"`
	Result      string    `json:"result,omitempty"`
	Shards      *esShards `json:"_shards,omitempty"`
	SeqNo       *int      `json:"_seq_no,omitempty"`
	PrimaryTerm int       `json:"_primary_term,omitempty"`
	Status      int       `json:"status"`
	Error       *esCause  `json:"error,omitempty"`
}

type esShards struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Failed     int `json:"failed"`
}

type esCause struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

type esBulkResponse struct {
	Took   int64        `json:"took"`
	Errors bool         `json:"errors"`
	Items  []esBulkItem `json:"items"`
}

var oneShard = &esShards{Total: 1, Successful: 1}

func (e *Edge) esBulkHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		esHeaders(w)
		p, err := e.esAuth(r)
		if err != nil {
			e.writeESError(w, err)
			return
		}
		e.quotaHeaders(w.Header(), p.TenantID)
		idem := r.Header.Get("Idempotency-Key")
		if len(idem) > maxIdempotencyKey {
			e.writeESError(w, apierr.New(apierr.Invalid, "Idempotency-Key is longer than %d bytes", maxIdempotencyKey))
			return
		}
		body, err := e.esBody(w, r)
		if err != nil {
			e.writeESError(w, err)
			return
		}
		res := esbulk.Decode(body, r.PathValue("index"), e.now(), e.limitsFor(p.TenantID))
		if len(res.Items) == 0 {
			e.writeESError(w, apierr.New(apierr.Invalid, "the bulk request holds no action: send NDJSON action/source line pairs"))
			return
		}
		if err := e.accept(r.Context(), p.TenantID, res.Events, idem); err != nil {
			e.writeESError(w, apiError(err))
			return
		}
		resp := esResponse(res)
		eventsTotal.WithLabelValues("accepted").Add(float64(len(res.Events)))
		eventsTotal.WithLabelValues("rejected").Add(float64(len(res.Items) - len(res.Events)))
		resp.Took = time.Since(start).Milliseconds()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})
}

// esBody reads and decompresses the request body within the edge's limit.
func (e *Edge) esBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > e.cfg.MaxRequestBytes {
		return nil, tooLarge(e.cfg.MaxRequestBytes)
	}
	body, err := native.Decompress(http.MaxBytesReader(w, r.Body, e.cfg.MaxRequestBytes),
		r.Header.Get("Content-Encoding"), e.cfg.MaxRequestBytes, r.ContentLength)
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, native.ErrTooLarge) || errors.As(err, &mbe):
		return nil, tooLarge(e.cfg.MaxRequestBytes)
	case err != nil:
		return nil, apierr.New(apierr.Invalid, "read body: %v", err)
	case len(strings.TrimSpace(string(body))) == 0:
		return nil, apierr.New(apierr.Invalid, "request body is required: send NDJSON action/source line pairs")
	}
	return body, nil
}

// esResponse builds the bulk answer: 201 per stored document, 400 with the
// reason per rejected item.
func esResponse(res esbulk.Result) esBulkResponse {
	resp := esBulkResponse{Items: make([]esBulkItem, len(res.Items))}
	idBase := randomIDBase()
	for i, it := range res.Items {
		r := &esItemResult{Index: it.Index, ID: it.ID}
		if it.Event >= 0 {
			if r.ID == "" {
				r.ID = idBase + strconv.Itoa(i)
			}
			seq := it.Event
			r.Version, r.Result, r.Shards, r.SeqNo, r.PrimaryTerm, r.Status = 1, "created", oneShard, &seq, 1, http.StatusCreated
		} else {
			resp.Errors = true
			r.Status = http.StatusBadRequest
			r.Error = &esCause{Type: it.ErrType, Reason: it.Reason}
		}
		switch it.Op {
		case "create":
			resp.Items[i].Create = r
		case "update":
			resp.Items[i].Update = r
		case "delete":
			resp.Items[i].Delete = r
		default:
			resp.Items[i].Index = r
		}
	}
	return resp
}

// randomIDBase returns a random prefix for generated document ids.
func randomIDBase() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]) + "-"
}

// esAuth authenticates an ES-style request and requires the ingest scope.
func (e *Edge) esAuth(r *http.Request) (auth.Principal, error) {
	p, err := e.auth.Authenticate(r.Context(), esCredential(r))
	if err != nil {
		return auth.Principal{}, err
	}
	return p, p.Require(auth.ScopeIngest)
}

// esCredential extracts the API key from Bearer, Basic (password, or user
// name when the password is empty) or ApiKey (the key itself, or ES's
// base64 "id:key" with the key after the colon) authorization.
func esCredential(r *http.Request) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "bearer":
		return cred
	case "basic":
		user, pass, ok := r.BasicAuth()
		if !ok {
			return ""
		}
		if pass == "" {
			return user
		}
		return pass
	case "apikey":
		if _, _, ok := auth.ParseKey(cred); ok {
			return cred
		}
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return cred
		}
		s := string(raw)
		if _, key, ok := strings.Cut(s, ":"); ok {
			return key
		}
		return s
	}
	return ""
}

// esProbe answers a startup probe with a fixed body once authenticated.
func (e *Edge) esProbe(body any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		esHeaders(w)
		if _, err := e.esAuth(r); err != nil {
			e.writeESError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
}

// esIndex answers HEAD/GET /v1/es/{index}: every index exists (shippers
// check before writing); other methods are not supported.
func (e *Edge) esIndex() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		esHeaders(w)
		if _, err := e.esAuth(r); err != nil {
			e.writeESError(w, err)
			return
		}
		switch r.Method {
		case http.MethodHead:
			w.WriteHeader(http.StatusOK)
		case http.MethodGet:
			w.Header().Set("Content-Type", "application/json")
			idx := r.PathValue("index")
			_ = json.NewEncoder(w).Encode(map[string]any{idx: map[string]any{
				"aliases": map[string]any{}, "mappings": map[string]any{}, "settings": map[string]any{}}})
		default:
			w.Header().Set("Allow", "GET, HEAD")
			writeESErrorStatus(w, http.StatusMethodNotAllowed, "illegal_argument_exception",
				"only _bulk ingestion and read-only probes are supported under /v1/es/")
		}
	})
}

func esHeaders(w http.ResponseWriter) {
	// Elastic's own clients (go-elasticsearch, Beats) check this header.
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
}

var (
	esInfo = map[string]any{
		"name": "sawmill", "cluster_name": "sawmill", "cluster_uuid": "sawmill-logs",
		"version": map[string]any{
			"number": ESVersion, "build_flavor": "default", "build_type": "sawmill", "build_hash": "sawmill",
			"build_date": "2024-12-11T00:00:00.000Z", "build_snapshot": false, "lucene_version": "9.12.0",
			"minimum_wire_compatibility_version": "7.17.0", "minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	}
	esHealth = map[string]any{
		"cluster_name": "sawmill", "status": "green", "timed_out": false, "number_of_nodes": 1,
		"number_of_data_nodes": 1, "active_primary_shards": 0, "active_shards": 0, "relocating_shards": 0,
		"initializing_shards": 0, "unassigned_shards": 0, "delayed_unassigned_shards": 0,
		"number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0, "active_shards_percent_as_number": 100.0,
	}
	esLicenseBody = map[string]any{
		"uid": "sawmill", "type": "basic", "mode": "basic", "status": "active",
		"issue_date": "2024-01-01T00:00:00.000Z", "issue_date_in_millis": 1704067200000,
		"issued_to": "sawmill", "issuer": "sawmill", "start_date_in_millis": -1,
	}
	esLicense = map[string]any{"license": esLicenseBody}
	esXPack   = map[string]any{
		"build":    map[string]any{"hash": "sawmill", "date": "2024-12-11T00:00:00.000Z"},
		"license":  esLicenseBody,
		"features": map[string]any{},
	}
)

// writeESError answers err in Elasticsearch's error shape with Sawmill's
// status (401 carries a Basic challenge, 429/503 a Retry-After).
func (e *Edge) writeESError(w http.ResponseWriter, err error) {
	ae := apierr.From(err)
	status := apierr.HTTPStatus(ae.Code)
	typ := "illegal_argument_exception"
	switch ae.Code {
	case apierr.Unauthenticated:
		typ = "security_exception"
		w.Header().Set("WWW-Authenticate", `Basic realm="sawmill", charset="UTF-8"`)
	case apierr.PermissionDenied:
		typ = "security_exception"
	case apierr.TooLarge:
		typ = "content_too_long_exception"
	case apierr.RateLimited:
		typ = "es_rejected_execution_exception"
	case apierr.Unavailable:
		typ = "unavailable_shards_exception"
	case apierr.Internal:
		typ = "exception"
		e.log.Error("es request failed", "err", err)
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(ae.RetryAfter.Round(time.Second)/time.Second))))
	}
	writeESErrorStatus(w, status, typ, ae.Message)
}

func writeESErrorStatus(w http.ResponseWriter, status int, typ, reason string) {
	cause := esCause{Type: typ, Reason: reason}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error":  map[string]any{"root_cause": []esCause{cause}, "type": typ, "reason": reason},
		"status": status,
	})
}
