# qaas: Queue-as-a-Service for Kubernetes.

GO ?= go
# Tests run with the race detector; the fuzz seed corpora run as tests.
GOTESTFLAGS ?= -race -count=1 -timeout 30m

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
STATICCHECK_VERSION ?= v0.8.2
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
HELM_VERSION ?= v3.22.0
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
# The image's version is the chart's appVersion: the chart deploys the image
# `make image` builds, with no override.
VERSION ?= $(shell sed -n 's/^appVersion: *"*\([^"]*\)"*$$/\1/p' charts/qaas/Chart.yaml)
IMG ?= qaas.dev/qaas:$(VERSION)
IMAGE_TAR ?= $(LOCALBIN)/qaas-image.tar
MKIMAGE ?= $(LOCALBIN)/mkimage
GOARCH ?= $(shell $(GO) env GOARCH)

# Files that `make manifests generate` writes.
GENERATED = api/v1alpha1/zz_generated.deepcopy.go config/crd/bases/*.yaml config/rbac/role.yaml \
	charts/qaas/files/crds/*.yaml charts/qaas/files/role.yaml

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC manifests from the markers in api/ and controllers/, and the chart's copies.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/...;./controllers/..." output:crd:artifacts:config=config/crd/bases
	rm -f charts/qaas/files/crds/*.yaml
	mkdir -p charts/qaas/files/crds
	cp config/crd/bases/*.yaml charts/qaas/files/crds/
	cp config/rbac/role.yaml charts/qaas/files/role.yaml

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
vet: ## Run go vet on the code, the end-to-end test's included.
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/e2e/

.PHONY: check-fmt
check-fmt: ## Fail when a file is not gofmt-formatted.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

.PHONY: lint
lint: ## Run staticcheck (pinned; fetched by go run).
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -tags e2e ./test/e2e/

.PHONY: test
test: check-fmt vet lint verify-generated chart-check ## Run every test: real HTTPS, in-process Kafka with SASL and ACLs, a real kube-apiserver (envtest, built once into a cache), the Helm chart.
	KUBEBUILDER_ASSETS="$${KUBEBUILDER_ASSETS:-$$(bash hack/envtest/build.sh)}" HELM=$(HELM) $(GO) test $(GOTESTFLAGS) ./...

CHART = charts/qaas
# The one value a user must give.
CHART_REQUIRED = --set 'kafka.bootstrapServers={kafka:9092}'

.PHONY: chart-check
chart-check: $(HELM) ## Lint the Helm chart, render it with defaults and with every option on, and check that a misspelt value fails.
	$(HELM) lint --strict $(CHART) $(CHART_REQUIRED)
	$(HELM) lint --strict $(CHART) -f $(CHART)/ci/all-options-values.yaml
	$(HELM) template qaas $(CHART) $(CHART_REQUIRED) >/dev/null
	$(HELM) template qaas $(CHART) -f $(CHART)/ci/all-options-values.yaml >/dev/null
	@if out=$$($(HELM) template qaas $(CHART) $(CHART_REQUIRED) --set kafka.bootstrapServer=kafka:9092 2>&1); then \
		echo "chart-check: the misspelt value kafka.bootstrapServer was accepted"; exit 1; \
	elif ! echo "$$out" | grep -q bootstrapServer; then \
		echo "chart-check: the misspelt value kafka.bootstrapServer failed without naming it:"; echo "$$out"; exit 1; \
	fi

.PHONY: bench
bench: ## Measure the gateway over HTTPS beside a native sarama client in one run on one broker (produce, batch, raw, drain; msgs/s, latency, CPU), then GET latency while replicas scale from 1 to 3.
	$(GO) run ./hack/bench $(BENCHFLAGS)
	$(GO) test ./gateway/server -run '^$$' -bench ScaleUpGetLatency -benchtime 1x | grep -E '^(Benchmark|ok|PASS|FAIL)'

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
	$(GO) run ./demo/gateway

.PHONY: run
run: manifests generate ## Run the manager against the cluster of the current kubeconfig (pass flags in ARGS).
	$(GO) run . $(ARGS)

.PHONY: image
image: $(MKIMAGE) ## Build the image (/manager and /gateway, non-root) as IMG into IMAGE_TAR, with no registry and no container engine.
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build -trimpath -ldflags "-s -w" -o $(LOCALBIN)/linux/manager .
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build -trimpath -ldflags "-s -w" -o $(LOCALBIN)/linux/gateway ./gateway
	@test -f /etc/ssl/certs/ca-certificates.crt || { echo "image: /etc/ssl/certs/ca-certificates.crt is missing: install the ca-certificates package"; exit 1; }
	$(MKIMAGE) -o $(IMAGE_TAR) -tag $(IMG) -arch $(GOARCH) -entrypoint /manager -user 65532:65532 \
		-label org.opencontainers.image.title=qaas -label org.opencontainers.image.version=$(VERSION) \
		$(LOCALBIN)/linux/manager=/manager $(LOCALBIN)/linux/gateway=/gateway \
		/etc/ssl/certs/ca-certificates.crt=/etc/ssl/certs/ca-certificates.crt
	@echo "image $(IMG) written to $(IMAGE_TAR): load it with 'docker load -i' or 'ctr -n k8s.io images import'"

.PHONY: e2e
e2e: image $(HELM) ## As root: bring up a real one-node Kubernetes here, helm install the chart, use it as README says, tear it all down.
	IMG=$(IMG) IMAGE_TAR=$(IMAGE_TAR) MKIMAGE=$(MKIMAGE) HELM=$(HELM) bash hack/e2e/run.sh

##@ Tools

$(MKIMAGE): hack/image/main.go hack/image/go.mod hack/image/go.sum
	cd hack/image && GOWORK=off $(GO) build -o $(MKIMAGE) .

$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)

# With the link flags of Helm's release build: its version, and the Kubernetes version that
# `helm template` and `helm lint` assume (that of its client-go, 1.37 for Helm v3.22).
HELM_KUBE_MINOR ?= 37
HELM_LDFLAGS = -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	$(foreach p,chartutil lint/rules,-X helm.sh/helm/v3/pkg/$(p).k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/$(p).k8sVersionMinor=$(HELM_KUBE_MINOR))
$(HELM):
	GOBIN=$(LOCALBIN) $(GO) install -ldflags '$(HELM_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(LOCALBIN)/helm $(HELM)
