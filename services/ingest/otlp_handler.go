package ingest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP/gRPC exporters may compress with gzip
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/services/ingest/native"
	"github.com/sawmillhq/sawmill/services/ingest/otlp"
)

// maxPartialReasons is how many rejected records error_message describes.
const maxPartialReasons = 5

// RegisterOTLP installs OTLP logs ingest on srv: POST /v1/logs (OTLP/HTTP,
// protobuf or JSON, optionally gzip) and the gRPC service
// opentelemetry.proto.collector.logs.v1.LogsService. Both authenticate with
// "authorization: Bearer <key>" and need the ingest scope; an
// Idempotency-Key header (gRPC metadata "idempotency-key") works as on
// POST /v1/ingest.
func (e *Edge) RegisterOTLP(srv *server.Server) {
	srv.Handle("POST /v1/logs", e.otlpHTTPHandler())
	desc := collogspb.LogsService_ServiceDesc
	desc.Methods = []grpc.MethodDesc{{MethodName: "Export", Handler: otlpExportHandler}}
	srv.GRPC.RegisterService(&desc, &otlpGRPC{edge: e})
}

// otlpExportMethod is the full gRPC method name of OTLP logs export.
const otlpExportMethod = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

// otlpExportHandler replaces the generated handler so that a request that
// is not valid protobuf answers INVALID_ARGUMENT (not retryable, as OTLP asks
// for bad data) rather than grpc-go's INTERNAL, and so that the caller is
// authenticated before the request is parsed: grpc-go only receives the
// bytes (rawMessage); the handler, inside the interceptors, authenticates
// and unmarshals.
func otlpExportHandler(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
	raw := &rawMessage{}
	if err := dec(raw); err != nil {
		return nil, err
	}
	h := func(ctx context.Context, in any) (any, error) {
		g := srv.(*otlpGRPC)
		tenantID, idem, err := g.caller(ctx)
		if err != nil {
			return nil, err
		}
		req := &collogspb.ExportLogsServiceRequest{}
		if err := proto.Unmarshal(in.(*rawMessage).b, req); err != nil {
			return nil, apierr.New(apierr.Invalid, "%v: %v", otlp.ErrMalformed, err)
		}
		return g.edge.exportOTLP(ctx, tenantID, req, otlp.Protobuf, idem)
	}
	if ic == nil {
		return h(ctx, raw)
	}
	return ic(ctx, raw, &grpc.UnaryServerInfo{Server: srv, FullMethod: otlpExportMethod}, h)
}

// rawMessage receives a request's bytes undecoded. grpc-go's proto codec
// accepts it as a (legacy) message and hands the bytes to its Unmarshal
// method, which keeps a copy (the codec reuses its buffer).
type rawMessage struct{ b []byte }

func (m *rawMessage) Reset()                   { m.b = m.b[:0] }
func (m *rawMessage) String() string           { return fmt.Sprintf("rawMessage(%d bytes)", len(m.b)) }
func (m *rawMessage) ProtoMessage()            {}
func (m *rawMessage) Unmarshal(b []byte) error { m.b = append(m.b[:0], b...); return nil }

// otlpGRPC implements the OTLP LogsService.
type otlpGRPC struct {
	collogspb.UnimplementedLogsServiceServer
	edge *Edge
}

// Export ingests one OTLP request: bad records are reported in
// partial_success, the rest answered only once durable. A bus that cannot
// take the batch answers UNAVAILABLE with RetryInfo (retryable in OTLP).
func (g *otlpGRPC) Export(ctx context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	tenantID, idem, err := g.caller(ctx)
	if err != nil {
		return nil, err
	}
	return g.edge.exportOTLP(ctx, tenantID, req, otlp.Protobuf, idem)
}

// caller authenticates a call (ingest scope) and returns its tenant and
// idempotency key.
func (g *otlpGRPC) caller(ctx context.Context) (tenantID, idem string, err error) {
	p, err := g.edge.auth.GRPC(ctx, auth.ScopeIngest)
	if err != nil {
		return "", "", err
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("idempotency-key"); len(v) > 0 {
			idem = v[0]
		}
	}
	if len(idem) > maxIdempotencyKey {
		return "", "", apierr.New(apierr.Invalid, "idempotency-key is longer than %d bytes", maxIdempotencyKey)
	}
	g.edge.quotaMetadata(ctx, p.TenantID)
	return p.TenantID, idem, nil
}

// exportOTLP decodes, validates and publishes req for tenant.
func (e *Edge) exportOTLP(ctx context.Context, tenantID string, req *collogspb.ExportLogsServiceRequest, f otlp.Format, idem string) (*collogspb.ExportLogsServiceResponse, error) {
	evs, errs := otlp.Decode(req, f, e.now(), e.limitsFor(tenantID))
	eventsTotal.WithLabelValues("rejected").Add(float64(len(errs)))
	if err := e.accept(ctx, tenantID, evs, idem); err != nil {
		return nil, apiError(err)
	}
	eventsTotal.WithLabelValues("accepted").Add(float64(len(evs)))
	resp := &collogspb.ExportLogsServiceResponse{}
	if len(errs) > 0 {
		resp.PartialSuccess = &collogspb.ExportLogsPartialSuccess{
			RejectedLogRecords: int64(len(errs)),
			ErrorMessage:       otlp.Summary(errs, len(evs)+len(errs), maxPartialReasons),
		}
	}
	return resp, nil
}

// otlpHTTPHandler serves POST /v1/logs. Answers use the request's content
// type, as OTLP/HTTP requires: an ExportLogsServiceResponse on success, a
// google.rpc.Status on failure (with Retry-After on 503).
func (e *Edge) otlpHTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := otlpFormat(r.Header.Get("Content-Type"))
		if !ok {
			writeOTLPStatus(w, e, otlp.JSON, http.StatusUnsupportedMediaType,
				apierr.New(apierr.Invalid, "Content-Type must be application/x-protobuf or application/json"))
			return
		}
		p, err := e.auth.HTTP(r, auth.ScopeIngest)
		if err != nil {
			writeOTLPError(w, e, f, err)
			return
		}
		e.quotaHeaders(w.Header(), p.TenantID)
		idem := r.Header.Get("Idempotency-Key")
		if len(idem) > maxIdempotencyKey {
			writeOTLPError(w, e, f, apierr.New(apierr.Invalid, "Idempotency-Key is longer than %d bytes", maxIdempotencyKey))
			return
		}
		body, code, aerr := e.readOTLPBody(w, r)
		if aerr != nil {
			writeOTLPStatus(w, e, f, code, aerr)
			return
		}
		req, err := otlp.Unmarshal(body, f)
		if err != nil {
			writeOTLPError(w, e, f, apierr.New(apierr.Invalid, "%v", err))
			return
		}
		resp, err := e.exportOTLP(r.Context(), p.TenantID, req, f, idem)
		e.rateHeaders(w.Header(), p.TenantID, err)
		if err != nil {
			writeOTLPError(w, e, f, err)
			return
		}
		writeOTLP(w, f, http.StatusOK, resp)
	})
}

// readOTLPBody reads and decompresses the body within MaxRequestBytes. On
// failure it returns the HTTP status to answer (0: the error code's own).
func (e *Edge) readOTLPBody(w http.ResponseWriter, r *http.Request) ([]byte, int, *apierr.Error) {
	limit := e.cfg.MaxRequestBytes
	if r.ContentLength > limit {
		return nil, 0, tooLarge(limit)
	}
	body, err := native.Decompress(http.MaxBytesReader(w, r.Body, limit), r.Header.Get("Content-Encoding"), limit, r.ContentLength)
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, native.ErrTooLarge) || errors.As(err, &mbe):
		return nil, 0, tooLarge(limit)
	case errors.Is(err, native.ErrUnsupportedEncoding):
		return nil, http.StatusUnsupportedMediaType, apierr.New(apierr.Invalid, "%v: send gzip or no Content-Encoding", err)
	case err != nil:
		return nil, 0, apierr.New(apierr.Invalid, "read body: %v", err)
	}
	return body, 0, nil
}

// otlpFormat maps a Content-Type to the OTLP format it announces.
func otlpFormat(contentType string) (otlp.Format, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, false
	}
	switch mt {
	case "application/x-protobuf", "application/protobuf":
		return otlp.Protobuf, true
	case "application/json":
		return otlp.JSON, true
	}
	return 0, false
}

func writeOTLPError(w http.ResponseWriter, e *Edge, f otlp.Format, err error) {
	writeOTLPStatus(w, e, f, 0, err)
}

// writeOTLPStatus writes err as a google.rpc.Status in format f with the
// HTTP status of its apierr code (or httpCode when non-zero). Internal
// causes are logged, never shown.
func writeOTLPStatus(w http.ResponseWriter, e *Edge, f otlp.Format, httpCode int, err error) {
	ae := apierr.From(err)
	if ae.Code == apierr.Internal {
		e.log.Error("otlp request failed", "err", err)
	}
	if httpCode == 0 {
		httpCode = apierr.HTTPStatus(ae.Code)
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.RetryAfter.Seconds()))))
	}
	writeOTLP(w, f, httpCode, apierr.GRPCStatus(ae).Proto())
}

// writeOTLP writes m in format f.
func writeOTLP(w http.ResponseWriter, f otlp.Format, code int, m proto.Message) {
	var b []byte
	var err error
	if f == otlp.JSON {
		w.Header().Set("Content-Type", "application/json")
		b, err = protojson.Marshal(m)
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, err = proto.Marshal(m)
	}
	if err != nil { // cannot happen for the messages written here
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
