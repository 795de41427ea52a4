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
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

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
lint: $(GOLANGCI_LINT) ## gofmt, go vet and golangci-lint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GOLANGCI_LINT) run $(PKGS)

.PHONY: bench
bench: services ## run the Go benchmarks (see BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem -count 5 $(PKGS)

.PHONY: demo
demo: ## the whole pipeline on embedded defaults
	$(GO) run ./cmd/tagcast demo
