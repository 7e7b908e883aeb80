package apierr

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// GRPCStatus returns err as a gRPC status: an *Error keeps its code and
// message and carries RetryInfo when it has a retry hint; anything else
// becomes Internal with a hidden message. A status error passes through.
func GRPCStatus(err error) *status.Status {
	var e *Error
	if !errors.As(err, &e) {
		if s, ok := status.FromError(err); ok {
			return s
		}
		e = From(err)
	}
	st := status.New(GRPCCode(e.Code), e.Message)
	if e.RetryAfter > 0 {
		if d, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)}); derr == nil {
			st = d
		}
	}
	return st
}

// UnaryServerInterceptor converts handler errors to gRPC statuses and logs
// internal ones.
func UnaryServerInterceptor(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if err != nil {
			if From(err).Code == Internal && log != nil {
				if _, isStatus := status.FromError(err); !isStatus {
					log.Error("rpc failed", "method", info.FullMethod, "err", err)
				}
			}
			return resp, GRPCStatus(err).Err()
		}
		return resp, nil
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streams.
func StreamServerInterceptor(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		err := h(srv, ss)
		if err != nil {
			if From(err).Code == Internal && log != nil {
				log.Error("stream failed", "method", info.FullMethod, "err", err)
			}
			return GRPCStatus(err).Err()
		}
		return nil
	}
}
