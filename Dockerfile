# syntax=docker/dockerfile:1
#
# The single sawmill binary, static and non-root. The role is the argument:
#
#   docker build -t sawmill .
#   docker run sawmill ingest    # with SAWMILL_NATS_URL, SAWMILL_CLICKHOUSE_ADDR,
#                                # SAWMILL_AUTH_JWT_KEY set (docs/operations.md)
#
# There is no ClickHouse in the image: `sawmill dev` in a container needs
# SAWMILL_CLICKHOUSE_ADDR (its embedded NATS works as is).

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a code change reuses the download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static (no cgo), reproducible paths, no symbol tables. The empty /data is
# copied into the final stage, owned by the runtime user, as the data dir.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false -ldflags="-s -w" \
        -o /out/sawmill ./cmd/sawmill \
    && mkdir -p /out/data

# distroless/static: CA certificates, /etc/passwd with nonroot (65532),
# tzdata, and nothing else (no shell, no package manager).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sawmill /sawmill
COPY --from=build --chown=65532:65532 /out/data /data
# A container must listen on every interface, not the loopback defaults.
ENV SAWMILL_HTTP_ADDR=0.0.0.0:8080 \
    SAWMILL_GRPC_ADDR=0.0.0.0:4317 \
    SAWMILL_SYSLOG_ADDR=0.0.0.0:5514 \
    SAWMILL_SYSLOG_TLS_ADDR=0.0.0.0:6514 \
    SAWMILL_DATA_DIR=/data
# HTTP (REST, OTLP/HTTP, /metrics, /healthz, /readyz); gRPC (Sawmill, OTLP);
# syslog TCP and UDP; syslog over TLS (when a certificate is configured).
EXPOSE 8080/tcp 4317/tcp 5514/tcp 5514/udp 6514/tcp
USER 65532:65532
WORKDIR /data
ENTRYPOINT ["/sawmill"]
