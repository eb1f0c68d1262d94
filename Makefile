# TelemetryLake. The README's two commands are `make run` and `make test`.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

GO ?= go
# The ingester ships as one static binary.
export CGO_ENABLED ?= 0

RUN_DIR ?= $(CURDIR)/tmp/lake
FUZZTIME ?= 60s
TEST_TIMEOUT ?= 30m

.PHONY: all build run test lint tools fuzz bench clean

all: build

build: ## build bin/ingester
	$(GO) build -o bin/ingester ./ingester

run: build ## run the ingester in the foreground on the embedded file store
	@echo "make run: anonymous ingestion into $(RUN_DIR) (Ctrl-C stops it)"
	./bin/ingester --listen 127.0.0.1:4318 --admin-listen 127.0.0.1:9090 \
		--storage file://$(RUN_DIR) --allow-anonymous

tools: ## build the pinned tools the tests start (cached under ~/.cache/telemetrylake)
	hack/tools.sh weed >/dev/null

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [[ -n "$$unformatted" ]]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...

test: tools lint ## every test, against real servers the tests start themselves
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

fuzz: ## run each fuzz target for FUZZTIME
	$(GO) test ./ingester/otlpwire -run '^$$' -fuzz '^FuzzSplit$$' -fuzztime $(FUZZTIME)
	$(GO) test ./ingester/otlpwire -run '^$$' -fuzz '^FuzzJSONToProto$$' -fuzztime $(FUZZTIME)

bench: ## measure the ingester beside the OTel Collector and a bare HTTP server
	$(GO) run ./test/bench

clean:
	rm -rf bin tmp
