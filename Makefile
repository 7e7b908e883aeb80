# Sawmill. The two commands a new machine needs:
#   make dev    build and run every role in one process (installs clickhouse-server if missing)
#   make test   vet and run every test against real NATS and ClickHouse
.DEFAULT_GOAL := help

GO       ?= go
DATA_DIR ?= .data

include mk/proto.mk

.PHONY: help dev build test vet fmt-check bench bench-load ensure-deps

help:
	@echo "make dev          run the whole stack on 127.0.0.1:8080 (HTTP) and :4317 (gRPC)"
	@echo "make test         vet and test everything (real NATS in-process, private clickhouse-server)"
	@echo "make bench        Go benchmarks of the hot paths"
	@echo "make bench-load   end-to-end load test against a fresh dev stack (bench/)"
	@echo "make proto        regenerate gen/ from proto/"

ensure-deps:
	@scripts/ensure-deps.sh

build:
	$(GO) build -o bin/sawmill ./cmd/sawmill

dev: ensure-deps build
	SAWMILL_DATA_DIR=$(DATA_DIR) ./bin/sawmill dev

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test: ensure-deps fmt-check vet
	$(GO) test -count=1 -timeout 15m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/event/ ./services/ingest/native/ ./services/ingest/ ./pkg/store/ ./pkg/lql/

bench-load: ensure-deps build
	$(GO) run ./bench/loadgen -sawmill ./bin/sawmill
