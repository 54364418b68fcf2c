# qaas: Queue-as-a-Service for Kubernetes.

GO ?= go
# Tests run with the race detector; the fuzz seed corpora run as tests.
GOTESTFLAGS ?= -race -count=1 -timeout 30m

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
STATICCHECK_VERSION ?= v0.8.2
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
IMG ?= qaas:latest

# Files that `make manifests generate` writes.
GENERATED = api/v1alpha1/zz_generated.deepcopy.go config/crd/bases/*.yaml config/rbac/role.yaml

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC manifests from the markers in api/ and controllers/.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/...;./controllers/..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the deepcopy code of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: verify-generated
verify-generated: ## Fail when the generated files differ from what `make manifests generate` writes.
	@before=$$(cat $(GENERATED) | sha256sum); \
	$(MAKE) --no-print-directory manifests generate >/dev/null; \
	after=$$(cat $(GENERATED) | sha256sum); \
	if [ "$$before" != "$$after" ]; then echo "generated files were stale; they are regenerated now: review and commit them"; exit 1; fi

.PHONY: fmt
fmt: ## Run gofmt on the code.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet on the code.
	$(GO) vet ./...

.PHONY: check-fmt
check-fmt: ## Fail when a file is not gofmt-formatted.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

.PHONY: lint
lint: ## Run staticcheck (pinned; fetched by go run).
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

.PHONY: test
test: check-fmt vet lint verify-generated ## Run every test: real HTTPS, in-process Kafka with SASL and ACLs, a real kube-apiserver (envtest, built once into a cache).
	KUBEBUILDER_ASSETS="$${KUBEBUILDER_ASSETS:-$$(bash hack/envtest/build.sh)}" $(GO) test $(GOTESTFLAGS) ./...

.PHONY: bench
bench: ## Measure produce throughput of the gateway over HTTPS against a native sarama client, in one run on one broker.
	$(GO) test ./gateway/server -run '^$$' -bench ProduceVersusSarama -benchtime $(or $(BENCHTIME),3s) | grep -E '^(Benchmark|ok|PASS|FAIL)'

.PHONY: fuzz
fuzz: ## Fuzz the produce-body decoder for FUZZTIME (default 1m).
	$(GO) test ./gateway/httpapi -run '^$$' -fuzz FuzzDecodeProduceBody -fuzztime $(or $(FUZZTIME),1m)

##@ Build

.PHONY: build
build: ## Build bin/manager and bin/gateway.
	$(GO) build -o $(LOCALBIN)/manager .
	$(GO) build -o $(LOCALBIN)/gateway ./gateway

.PHONY: demo
demo: ## Run everything on this machine (API server, Kafka, operator, the sample's gateway); prints how to use it.
	KUBEBUILDER_ASSETS="$${KUBEBUILDER_ASSETS:-$$(bash hack/envtest/build.sh)}" $(GO) run ./demo

.PHONY: demo-gateway
demo-gateway: ## Run the gateway alone with an embedded Kafka and a demo tenant; prints how to use it.
	$(GO) run ./gateway --embedded-kafka

.PHONY: run
run: manifests generate ## Run the manager against the cluster of the current kubeconfig (pass flags in ARGS).
	$(GO) run . $(ARGS)

.PHONY: docker-build
docker-build: ## Build the image (manager and gateway) as IMG.
	docker build -t $(IMG) .

##@ Tools

$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)
