# tagcast — see README.md. `make help` lists the targets.
GO            ?= go
GOBIN         ?= $(shell $(GO) env GOPATH)/bin
GOLANGCI_LINT ?= $(GOBIN)/golangci-lint
GOLANGCI_VER  ?= v2.15.0
PKGS          ?= ./...
TEST_FLAGS    ?= -count=1 -timeout 30m

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/tagcast
	$(GO) build -o bin/tagcast ./cmd/tagcast

.PHONY: services
services: ## install redis-server and PostgreSQL when missing (tests start their own throwaway servers)
	@./scripts/ensure-services.sh

.PHONY: test
test: services ## run every test (starts its own Redis and PostgreSQL)
	$(GO) vet $(PKGS)
	$(GO) test $(TEST_FLAGS) $(PKGS)

.PHONY: test-race
test-race: services ## run every test with the race detector
	$(GO) test -race $(TEST_FLAGS) $(PKGS)

$(GOLANGCI_LINT):
	GOBIN=$(GOBIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VER)

.PHONY: lint
lint: $(GOLANGCI_LINT) ## gofmt, go mod tidy, go vet and golangci-lint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) vet $(PKGS)
	$(GOLANGCI_LINT) run --allow-serial-runners $(PKGS)

E2E_FLAGS     ?= -tags e2e -count=1

.PHONY: e2e
e2e: services ## multi-process end-to-end and chaos tests, full size: 500 campaigns over a simulated day
	$(GO) vet -tags e2e ./e2e
	$(GO) test $(E2E_FLAGS) -timeout 150m -v ./e2e -e2e.size=full

.PHONY: e2e-short
e2e-short: services ## the short end-to-end and chaos run that CI does (a few minutes)
	$(GO) vet -tags e2e ./e2e
	$(GO) test $(E2E_FLAGS) -timeout 25m ./e2e -e2e.size=short

BENCH_OUT   ?= bench.out
BENCH_COUNT ?= 5

.PHONY: bench
bench: services ## issue-8 benchmarks, 5 runs each, medians printed (see BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchtime 1x -count $(BENCH_COUNT) -timeout 30m ./bench/ > $(BENCH_OUT) 2>&1; \
	  status=$$?; grep -v '^ *writer.go' $(BENCH_OUT) | grep -E '^(Benchmark|---|    [a-z_]+_test.go|FAIL|ok|PASS)' ; \
	  $(GO) run ./cmd/tagcast bench report $(BENCH_OUT) && exit $$status

.PHONY: bench-micro
bench-micro: services ## the packages' own micro-benchmarks (store, quota, emulator), 5 runs each
	$(GO) test -run '^$$' -bench 'ClaimDue' -benchtime 200x -benchmem -count $(BENCH_COUNT) ./campaign/sqlstore/ | tee bench-micro.out
	$(GO) test -run '^$$' -bench 'Reserve' -benchmem -count $(BENCH_COUNT) ./quota/ | tee -a bench-micro.out
	$(GO) test -run '^$$' -bench 'Push' -benchmem -count $(BENCH_COUNT) ./pushapi/emulator/ | tee -a bench-micro.out
	$(GO) run ./cmd/tagcast bench report bench-micro.out

.PHONY: demo
demo: ## the whole pipeline on embedded defaults
	$(GO) run ./cmd/tagcast demo
