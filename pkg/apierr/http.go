package apierr

import (
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strconv"
)

// body is the JSON shape of every error response.
type body struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// WriteHTTP writes err as a JSON error response with the matching status and,
// for retryable errors, a Retry-After header in whole seconds (at least 1).
// Internal errors are logged to log with their cause; clients see only
// "internal error".
func WriteHTTP(w http.ResponseWriter, log *slog.Logger, err error) {
	e := From(err)
	if e.Code == Internal && log != nil {
		log.Error("request failed", "err", err)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(HTTPStatus(e.Code))
	_ = json.NewEncoder(w).Encode(body{Code: e.Code, Message: e.Message, Details: e.Details})
}
