# Protobuf code generation: proto/ -> gen/ (Go, gRPC, grpc-gateway, OpenAPI).
#
#   make proto        install the pinned tools into bin/ if needed, regenerate gen/
#   make proto-check  regenerate into a temp dir and fail if gen/ differs
#
# Included by the top-level Makefile; `make -f mk/proto.mk proto` works too.
# Run from the repository root: buf.gen.yaml's paths are relative to it.

# Pinned tools, one "<package>@<version>" each; the binary is the package's
# last path element. gen/gen_test.go parses these lines, so keep them literal.
# protoc-gen-go and the grpc-gateway plugins must not be newer than the
# google.golang.org/protobuf and grpc-gateway/v2 versions in go.mod.
PROTO_BUF            := github.com/bufbuild/buf/cmd/buf@v1.75.0
PROTO_GEN_GO         := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTO_GEN_GO_GRPC    := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
PROTO_GEN_GATEWAY    := github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@v2.33.0
PROTO_GEN_OPENAPIV2  := github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@v2.33.0

PROTO_TOOLS := $(PROTO_BUF) $(PROTO_GEN_GO) $(PROTO_GEN_GO_GRPC) \
	$(PROTO_GEN_GATEWAY) $(PROTO_GEN_OPENAPIV2)

# Repo-local, gitignored install dir for the tools.
PROTO_BIN ?= $(CURDIR)/bin
GO        ?= go
GOFMT     ?= gofmt

# Files in gen/ written by hand; everything else there is generated.
PROTO_HANDWRITTEN := doc.go gen_test.go

# Keep the includer's default goal: this fragment must not become it.
proto_saved_default_goal := $(.DEFAULT_GOAL)

# proto_generate runs buf with the pinned plugins into $$tmp/gen and gofmts it.
# Both targets generate this way, so proto-check compares like with like.
define proto_generate
PATH="$(PROTO_BIN):$$PATH" "$(PROTO_BIN)/buf" generate --output "$$tmp" && \
$(GOFMT) -w "$$tmp/gen"
endef

.PHONY: proto proto-check proto-tools

## proto: regenerate gen/ from proto/
proto: proto-tools
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(proto_generate) && \
	find gen -type f $(foreach f,$(PROTO_HANDWRITTEN),! -name $(f)) -delete && \
	find gen -mindepth 1 -type d -empty -delete && \
	cp -R "$$tmp/gen/." gen/ && \
	echo "proto: gen/ regenerated"

## proto-check: fail when gen/ is not what proto/ generates
proto-check: proto-tools
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(proto_generate) && \
	if diff -ru $(foreach f,$(PROTO_HANDWRITTEN),-x $(f)) gen "$$tmp/gen"; then \
		echo "proto-check: gen/ is up to date"; \
	else \
		echo "proto-check: gen/ is stale; run 'make proto'" >&2; exit 1; \
	fi

## proto-tools: install the pinned tools into bin/ when missing or of another version
proto-tools:
	@mkdir -p "$(PROTO_BIN)" && set -e && for t in $(PROTO_TOOLS); do \
		pkg=$${t%@*}; ver=$${t##*@}; bin="$(PROTO_BIN)/$${pkg##*/}"; \
		have=$$($(GO) version -m "$$bin" 2>/dev/null | \
			awk -v p="$$pkg" '$$1 == "path" { ok = ($$2 == p) } $$1 == "mod" && ok { print $$3 }'); \
		if [ "$$have" != "$$ver" ]; then \
			echo "go install $$t"; GOBIN="$(PROTO_BIN)" $(GO) install "$$t"; \
		fi; \
	done

.DEFAULT_GOAL := $(proto_saved_default_goal)
