# Parley: `make dev` runs the platform locally, `make test` runs every check and test.
# Both install what they need (uv into ~/.cache/parley/tools, servers into ~/.cache/parley).

SHELL := /bin/bash
VENV := .venv/bin
PARLEY := $(VENV)/parley

.PHONY: dev down status test web-test lint typecheck imports pytest bootstrap crds helm-lint \
	kind-up kind-down images kind-load deploy e2e-kind

bootstrap:
	@./scripts/bootstrap.sh

## dev: start every backing server and every service built so far, then print where they are
dev: bootstrap
	$(PARLEY) dev up all

## down: stop everything `make dev` started (data is kept under ~/.cache/parley/dev)
down: bootstrap
	$(PARLEY) dev down

status: bootstrap
	$(PARLEY) dev status

## test: lint, type check, import contracts, then every test against the real servers
test: bootstrap lint typecheck imports
	$(PARLEY) dev up all
	$(MAKE) web-test
	$(VENV)/pytest

## web-test: the web client's type check and unit tests (vitest); `make dev` has installed its
## packages (svc-web runs npm ci). The browser tests run under pytest (tests/e2e/test_web_client.py).
web-test:
	cd frontend && ./node_modules/.bin/tsc -b && ./node_modules/.bin/vitest run

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

typecheck:
	$(VENV)/mypy
	$(VENV)/mypy bench/kube_operator.py
	# Test directories are no packages: each directory is checked on its own (two conftest modules).
	MYPYPATH=operator/tests $(VENV)/mypy operator/tests/*.py
	MYPYPATH=operator/tests:operator/tests/live $(VENV)/mypy operator/tests/live/*.py

imports:
	$(VENV)/lint-imports

## crds: regenerate crds/chatplatform.yaml and the charts' copies (the CRD and the platform values
## schema) from the operator's API models; tests fail while any of them is stale
crds: bootstrap
	$(VENV)/python -m parley_operator.crd
	$(VENV)/python -m parley_operator.crd.charts

## helm-lint: `helm lint --strict` of both charts with every values file (helm comes with the dev stack)
helm-lint: bootstrap
	$(VENV)/pytest tests/charts/test_chart_lint.py -q

# --- Kubernetes with kind ----------------------------------------------------------------------------
# For users with Docker, kind, kubectl and helm on their PATH. Neither `make test` nor CI runs these:
# the development machines have no container engine (the charts are tested against the dev stack's
# control plane instead). See docs/kubernetes.md.
KIND ?= kind
KUBECTL ?= kubectl
HELM ?= helm
DOCKER ?= docker
KIND_CLUSTER := parley
IMAGE_TAG ?= dev
OPERATOR_NAMESPACE ?= parley-system
NAMESPACE ?= parley

## kind-up: a local cluster from kind-config.yaml (one control plane, two workers)
kind-up:
	@$(KIND) get clusters | grep -qx $(KIND_CLUSTER) || $(KIND) create cluster --config kind-config.yaml
	$(KUBECTL) config use-context kind-$(KIND_CLUSTER)

## kind-down: delete the kind cluster
kind-down:
	$(KIND) delete cluster --name $(KIND_CLUSTER)

## images: the services image (parley), the operator image (parley-operator) and the entry point's
## Envoy (parley-envoy), tagged $(IMAGE_TAG)
images:
	$(DOCKER) build -f services/Dockerfile -t parley:$(IMAGE_TAG) .
	$(DOCKER) build -f operator/Dockerfile -t parley-operator:$(IMAGE_TAG) .
	$(DOCKER) build -f images/envoy/Dockerfile -t parley-envoy:$(IMAGE_TAG) .

## kind-load: put both images on the kind nodes (the kind values use pullPolicy Never)
kind-load: images
	$(KIND) load docker-image --name $(KIND_CLUSTER) parley:$(IMAGE_TAG) parley-operator:$(IMAGE_TAG) \
		parley-envoy:$(IMAGE_TAG)

## deploy: the operator (CRD applied first: Helm never upgrades a CRD) and a platform with every
## server in the cluster (charts/parley/ci/kind-values.yaml)
deploy:
	$(KUBECTL) apply --server-side --force-conflicts -f charts/parley-operator/crds/chatplatform.yaml
	$(KUBECTL) wait --for condition=Established crd/chatplatforms.parley.dev --timeout=60s
	$(HELM) upgrade --install parley-operator charts/parley-operator \
		--namespace $(OPERATOR_NAMESPACE) --create-namespace \
		--set image.tag=$(IMAGE_TAG) --set image.pullPolicy=Never --wait
	$(HELM) upgrade --install parley charts/parley \
		--namespace $(NAMESPACE) --create-namespace \
		-f charts/parley/ci/kind-values.yaml --set platform.image.tag=$(IMAGE_TAG)

## e2e-kind: cluster, images, deploy, then wait for the platform to be Ready and run `helm test`
e2e-kind: kind-up kind-load deploy
	$(KUBECTL) -n $(NAMESPACE) wait chatplatform/parley --for=condition=Ready --timeout=15m
	$(HELM) test parley --namespace $(NAMESPACE) --logs
