package apierr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestWriteHTTP(t *testing.T) {
	f := func(err error, wantStatus int, wantCode Code, wantMsg, wantRetry string) {
		t.Helper()
		rec := httptest.NewRecorder()
		WriteHTTP(rec, nil, err)
		var b struct {
			Code    Code   `json:"code"`
			Message string `json:"message"`
		}
		if jerr := json.Unmarshal(rec.Body.Bytes(), &b); jerr != nil {
			t.Fatalf("body %q: %v", rec.Body, jerr)
		}
		if rec.Code != wantStatus || b.Code != wantCode || b.Message != wantMsg || rec.Header().Get("Retry-After") != wantRetry {
			t.Fatalf("%v: got %d %s %q retry %q", err, rec.Code, b.Code, b.Message, rec.Header().Get("Retry-After"))
		}
	}
	f(New(Invalid, "bad %s", "thing"), 400, Invalid, "bad thing", "")
	f(fmt.Errorf("wrapped: %w", New(PermissionDenied, "no")), 403, PermissionDenied, "no", "")
	f(New(RateLimited, "slow down").Retry(1500*time.Millisecond), 429, RateLimited, "slow down", "2")
	f(New(Unavailable, "later").Retry(time.Millisecond), 503, Unavailable, "later", "1")
	// Internal causes never reach the client.
	f(errors.New("dial tcp 10.0.0.5:9000: connection refused"), 500, Internal, "internal error", "")
	f(Wrap(errors.New("secret detail"), "insert"), 500, Internal, "internal error", "")
}

func TestGRPCStatus(t *testing.T) {
	st := GRPCStatus(New(RateLimited, "quota").Retry(3 * time.Second))
	if st.Code() != codes.ResourceExhausted || st.Message() != "quota" {
		t.Fatalf("status %v", st)
	}
	var ri *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			ri = r
		}
	}
	if ri == nil || ri.RetryDelay.AsDuration() != 3*time.Second {
		t.Fatalf("retry info %v", st.Details())
	}
	if st := GRPCStatus(errors.New("boom")); st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Fatalf("internal: %v", st)
	}
	if st := GRPCStatus(status.Error(codes.NotFound, "x")); st.Code() != codes.NotFound {
		t.Fatalf("status passthrough: %v", st)
	}
	for _, c := range []Code{Invalid, Unauthenticated, PermissionDenied, NotFound, Conflict, RateLimited, Unavailable, Internal} {
		if got := CodeFromGRPC(GRPCCode(c)); got != c {
			t.Fatalf("%s → %v → %s", c, GRPCCode(c), got)
		}
	}
}
