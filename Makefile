# qaas: Queue-as-a-Service for Kubernetes.

GO ?= go
# Tests run with the race detector; the fuzz seed corpora run as tests.
GOTESTFLAGS ?= -race -count=1 -timeout 20m

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-12s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: fmt
fmt: ## Run gofmt on the code.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet on the code.
	$(GO) vet ./...

.PHONY: check-fmt
check-fmt: ## Fail when a file is not gofmt-formatted.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

.PHONY: test
test: check-fmt vet ## Run every test (real HTTPS, in-process Kafka with SASL and ACLs) under the race detector.
	$(GO) test $(GOTESTFLAGS) ./...

.PHONY: fuzz
fuzz: ## Fuzz the produce-body decoder for FUZZTIME (default 1m).
	$(GO) test ./gateway/httpapi -run '^$$' -fuzz FuzzDecodeProduceBody -fuzztime $(or $(FUZZTIME),1m)

##@ Build

.PHONY: build
build: ## Build bin/gateway.
	$(GO) build -o bin/gateway ./gateway

.PHONY: demo
demo: ## Run the gateway with an embedded Kafka and a demo tenant; prints how to use it.
	$(GO) run ./gateway --embedded-kafka

.PHONY: run
run: demo ## Same as demo.
