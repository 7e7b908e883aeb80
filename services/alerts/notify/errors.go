package notify

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SendError is a failed delivery attempt: the receiver's status (0 for a
// network or local error), whether retrying may help, and the receiver's
// Retry-After hint.
type SendError struct {
	Status     int
	Retryable  bool
	RetryAfter time.Duration
	Err        error
}

// Error names the status or the network error.
func (e *SendError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// IsRetryable reports whether a later attempt may succeed: network errors,
// timeouts, 408, 429, 5xx and SMTP 4xx replies. Any other error is
// permanent.
func IsRetryable(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Retryable
}

// RetryAfter returns the receiver's Retry-After hint carried by err, or 0.
func RetryAfter(err error) time.Duration {
	var se *SendError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// permanent returns a non-retryable SendError.
func permanent(format string, args ...any) error {
	return &SendError{Err: fmt.Errorf(format, args...)}
}

// networkError wraps a transport failure: always retryable.
func networkError(what string, err error) error {
	return &SendError{Retryable: true, Err: fmt.Errorf("%s: %w", what, err)}
}

// statusError classifies a non-2xx HTTP answer; body is a short excerpt of
// the response for the log.
func statusError(what string, resp *http.Response, body []byte, now time.Time) error {
	code := resp.StatusCode
	msg := fmt.Sprintf("%s: status %s", what, resp.Status)
	if s := strings.TrimSpace(string(body)); s != "" {
		msg += ": " + s
	}
	retryable := code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
	return &SendError{
		Status:     code,
		Retryable:  retryable,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now),
		Err:        errors.New(msg),
	}
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or
// malformed.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
