// Package apierr provides Sawmill's one application error type: a code, a
// message that is safe to show a client, optional structured details and an
// optional retry hint. It maps codes to HTTP and gRPC status in one place.
//
// Internal failures (a database error, a bug) must never reach a client with
// their text: wrap them with Internal, which logs nothing by itself and shows
// the client only "internal error".
package apierr

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"
)

// Code classifies an error; its string is what clients see in the "code" field.
type Code string

// The codes Sawmill returns.
const (
	Invalid          Code = "invalid_argument"   // 400
	Unauthenticated  Code = "unauthenticated"    // 401
	PermissionDenied Code = "permission_denied"  // 403
	NotFound         Code = "not_found"          // 404
	Conflict         Code = "already_exists"     // 409
	TooLarge         Code = "payload_too_large"  // 413
	RateLimited      Code = "resource_exhausted" // 429, with Retry-After
	Unavailable      Code = "unavailable"        // 503, with Retry-After
	Internal         Code = "internal"           // 500, message hidden
)

// Error is an application error. Message and Details are shown to clients
// as they are, so they must not carry internal state.
type Error struct {
	Code    Code
	Message string
	// Details is marshalled to JSON as the "details" field; nil omits it.
	Details any
	// RetryAfter, when positive, becomes a Retry-After header (HTTP) or
	// retry info (gRPC).
	RetryAfter time.Duration
	// cause is the internal error behind an Internal error; never shown.
	cause error
}

// Error implements error.
func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the internal cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// New returns an error with the given code and a formatted client-safe message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Internal error hiding err from clients; op names what failed.
func Wrap(err error, op string) *Error {
	return &Error{Code: Internal, Message: "internal error", cause: fmt.Errorf("%s: %w", op, err)}
}

// Retry returns a copy of e with a retry hint.
func (e *Error) Retry(after time.Duration) *Error {
	c := *e
	c.RetryAfter = after
	return &c
}

// WithDetails returns a copy of e carrying details.
func (e *Error) WithDetails(d any) *Error {
	c := *e
	c.Details = d
	return &c
}

// From returns err as an *Error: itself when it is one (anywhere in its
// chain), otherwise an Internal error wrapping it.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: "internal error", cause: err}
}

// HTTPStatus returns the HTTP status for a code.
func HTTPStatus(c Code) int {
	switch c {
	case Invalid:
		return http.StatusBadRequest
	case Unauthenticated:
		return http.StatusUnauthorized
	case PermissionDenied:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case RateLimited:
		return http.StatusTooManyRequests
	case Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// GRPCCode returns the gRPC status code for a code.
func GRPCCode(c Code) codes.Code {
	switch c {
	case Invalid:
		return codes.InvalidArgument
	case Unauthenticated:
		return codes.Unauthenticated
	case PermissionDenied:
		return codes.PermissionDenied
	case NotFound:
		return codes.NotFound
	case Conflict:
		return codes.AlreadyExists
	case TooLarge:
		return codes.ResourceExhausted
	case RateLimited:
		return codes.ResourceExhausted
	case Unavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

// CodeFromGRPC maps a gRPC status code back to an application code, for
// errors that did not originate as *Error (a gateway decoding failure, say).
func CodeFromGRPC(c codes.Code) Code {
	switch c {
	case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition:
		return Invalid
	case codes.Unauthenticated:
		return Unauthenticated
	case codes.PermissionDenied:
		return PermissionDenied
	case codes.NotFound, codes.Unimplemented:
		return NotFound
	case codes.AlreadyExists:
		return Conflict
	case codes.ResourceExhausted:
		return RateLimited
	case codes.Unavailable:
		return Unavailable
	}
	return Internal
}
