package ingest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/services/ingest/native"
)

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 200

// httpHandler serves POST /v1/ingest: a JSON object, a JSON array or NDJSON,
// optionally gzip-compressed.
func (e *Edge) httpHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := e.auth.HTTP(r, auth.ScopeIngest)
		if err != nil {
			apierr.WriteHTTP(w, e.log, err)
			return
		}
		e.quotaHeaders(w.Header(), p.TenantID)
		idem := r.Header.Get("Idempotency-Key")
		if len(idem) > maxIdempotencyKey {
			apierr.WriteHTTP(w, e.log, apierr.New(apierr.Invalid, "Idempotency-Key is longer than %d bytes", maxIdempotencyKey))
			return
		}
		if r.ContentLength > e.cfg.MaxRequestBytes {
			apierr.WriteHTTP(w, e.log, tooLarge(e.cfg.MaxRequestBytes))
			return
		}
		body, err := native.Decompress(http.MaxBytesReader(w, r.Body, e.cfg.MaxRequestBytes),
			r.Header.Get("Content-Encoding"), e.cfg.MaxRequestBytes, r.ContentLength)
		var mbe *http.MaxBytesError
		switch {
		case errors.Is(err, native.ErrTooLarge) || errors.As(err, &mbe):
			apierr.WriteHTTP(w, e.log, tooLarge(e.cfg.MaxRequestBytes))
			return
		case err != nil:
			apierr.WriteHTTP(w, e.log, apierr.New(apierr.Invalid, "read body: %v", err))
			return
		}
		if len(strings.TrimSpace(string(body))) == 0 {
			apierr.WriteHTTP(w, e.log, apierr.New(apierr.Invalid, "empty body: send a JSON object, a JSON array or NDJSON"))
			return
		}
		evs, idx, lineErrs := native.Decode(body, r.Header.Get("Content-Type"), e.now(), e.limitsFor(p.TenantID))
		res := Result{Accepted: len(evs), Rejected: len(lineErrs), Errors: []LineError{}}
		for i, le := range lineErrs {
			if i == maxReportedErrors {
				break
			}
			res.Errors = append(res.Errors, LineError{Index: le.Index, Reason: le.Reason})
		}
		_ = idx
		eventsTotal.WithLabelValues("rejected").Add(float64(res.Rejected))
		if res.Accepted == 0 {
			apierr.WriteHTTP(w, e.log, apierr.New(apierr.Invalid, "no valid event in the request: %d rejected", res.Rejected).WithDetails(res))
			return
		}
		err = e.accept(r.Context(), p.TenantID, evs, idem)
		e.rateHeaders(w.Header(), p.TenantID, err)
		if err != nil {
			apierr.WriteHTTP(w, e.log, apiError(err))
			return
		}
		eventsTotal.WithLabelValues("accepted").Add(float64(res.Accepted))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
}

func tooLarge(limit int64) *apierr.Error {
	return apierr.New(apierr.TooLarge, "request body exceeds %d bytes (after decompression): split it into smaller batches", limit)
}
