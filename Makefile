# TelemetryLake. The README's two commands are `make demo` and `make test`.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

GO ?= go
# The ingester ships as one static binary.
export CGO_ENABLED ?= 0
# The lakehouse embeds DuckDB through cgo, and hands it rows through duckdb-go's Arrow API.
LAKEHOUSE_GO = CGO_ENABLED=1 $(GO)
LAKEHOUSE_TAGS = -tags duckdb_arrow

RUN_DIR ?= $(CURDIR)/tmp/lake
FUZZTIME ?= 60s
TEST_TIMEOUT ?= 30m

.PHONY: all build run test test-deps lint tools fuzz bench clean manifests generate verify-generated
.PHONY: demo demo-down test-e2e bench-operator images

all: build

build: ## build every binary: the static ones from cmd/, and bin/lakehouse (its own module, cgo for DuckDB)
	$(GO) build -o bin/ ./cmd/...
	cd lakehouse && $(LAKEHOUSE_GO) build $(LAKEHOUSE_TAGS) -o ../bin/lakehouse ./cmd/lakehouse

# The images' registry and tag. The tag is the chart's appVersion, which the chart, config/manager
# and the operator's --ingester-image and --lakehouse-image default to.
IMAGE_REGISTRY ?= ghcr.io/telemetrylake
IMAGE_TAG ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' charts/telemetrylake-operator/Chart.yaml)

images: ## the operator, ingester and lakehouse images as OCI archives in bin/images/, with no Docker engine
	$(GO) run ./hack/images --out bin/images --registry $(IMAGE_REGISTRY) --tag $(IMAGE_TAG) \
		--revision "$$(git rev-parse HEAD)" --source-date-epoch "$$(git log -1 --format=%ct)"

run: build ## run the ingester in the foreground on the embedded file store
	@echo "make run: anonymous ingestion into $(RUN_DIR) (Ctrl-C stops it)"
	./bin/ingester --listen 127.0.0.1:4318 --admin-listen 127.0.0.1:9090 \
		--storage file://$(RUN_DIR) --allow-anonymous

tools: ## build the pinned tools the tests start (cached under ~/.cache/telemetrylake)
	hack/tools.sh weed controller-gen helm kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy etcd kwok kwokctl >/dev/null

CONTROLLER_GEN = hack/tools.sh controller-gen

manifests: ## CRDs and RBAC from the markers in api/ and controllers/
	$$($(CONTROLLER_GEN)) crd rbac:roleName=telemetrylake-operator paths=./api/... paths=./controllers/... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

generate: ## deepcopy code for api/
	$$($(CONTROLLER_GEN)) object:headerFile=hack/boilerplate.go.txt paths=./api/...

# The generated files are committed; this fails when they are stale.
verify-generated: manifests generate
	@git diff --exit-code -- api config || { echo "generated files are stale: run 'make manifests generate' and commit"; exit 1; }

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [[ -n "$$unformatted" ]]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd lakehouse && $(LAKEHOUSE_GO) vet $(LAKEHOUSE_TAGS) ./...

test-deps: ## the Debian packages the tests and benchmarks run (their list: hack/debian-deps.sh)
	hack/debian-deps.sh

test: tools test-deps verify-generated lint ## every test, against real servers the tests start themselves
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	# The lakehouse is its own module: it embeds DuckDB through cgo; everything else is built static.
	cd lakehouse && $(LAKEHOUSE_GO) test $(LAKEHOUSE_TAGS) -count=1 -timeout $(TEST_TIMEOUT) ./...

fuzz: ## run each fuzz target for FUZZTIME
	$(GO) test ./ingester/otlpwire -run '^$$' -fuzz '^FuzzSplit$$' -fuzztime $(FUZZTIME)
	$(GO) test ./ingester/otlpwire -run '^$$' -fuzz '^FuzzJSONToProto$$' -fuzztime $(FUZZTIME)

bench: test-deps ## the ingester (file store, SeaweedFS) beside the durable floor, the OTel Collector (nop, durable) and bare HTTP; auth, validation, the lakehouse
	$(GO) run ./test/bench
	$(GO) test -run '^$$' -bench 'BenchmarkTokenAuth' -benchmem ./ingester/auth
	$(GO) test -run '^$$' -bench 'BenchmarkSplit' -benchmem ./ingester/otlpwire
	cd lakehouse && $(LAKEHOUSE_GO) test $(LAKEHOUSE_TAGS) -run '^$$' -bench . -benchtime 1x .

BENCH_OPERATOR_ARGS ?=

bench-operator: ## the operator onboarding 100, 300 and 1,000 tenants on a local kwok cluster with SeaweedFS (test/benchoperator)
	$(GO) test -tags benchoperator -count=1 -v -timeout 4h -run '^TestBenchOperator$$' ./test/benchoperator -args $(BENCH_OPERATOR_ARGS)

demo: ## a local cluster with a real node, SeaweedFS, the operator, two tenants whose pods run there, an OTel SDK client
	hack/demo.sh up

demo-down: ## stop everything `make demo` started and remove its cluster and data
	hack/demo.sh down

E2E_TIMEOUT ?= 15m

test-e2e: tools ## the demo's path with assertions, on its own local cluster with a real node (also part of `make test`)
	$(GO) test -count=1 -v -timeout $(E2E_TIMEOUT) ./test/e2e

clean:
	rm -rf bin tmp
