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

## test: lint, type check, import contracts, then every test against the real servers; the
## disruptive ones (they stop the shared Kafka) on their own afterwards, whatever the rest gave
test: bootstrap lint typecheck imports
	$(PARLEY) dev up all
	$(MAKE) web-test
	status=0; $(VENV)/pytest || status=$$?; $(VENV)/pytest -m disruptive || status=$$?; exit $$status

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
	MYPYPATH=operator/tests $(VENV)/mypy tests/contract/*.py

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

# --- Images and Kubernetes with kind ----------------------------------------------------------------
# `make images` builds both images with podman on a Debian base made here (no registry needed; what
# `make test` does for the e2e tests on the dev stack's real node). CONTAINER_ENGINE=docker builds
# them with Docker on python:3.11-slim instead. The kind targets are for users with Docker, or with
# podman (KIND_EXPERIMENTAL_PROVIDER=podman); neither `make test` nor CI runs them. See docs/kubernetes.md.
KIND ?= kind
KUBECTL ?= kubectl
HELM ?= helm
CONTAINER_ENGINE ?= podman
KIND_CLUSTER := parley
IMAGE_TAG ?= dev
OPERATOR_NAMESPACE ?= parley-system
NAMESPACE ?= parley
# podman names local images localhost/<name>; Docker names them docker.io/library/<name>.
ifeq ($(CONTAINER_ENGINE),docker)
IMAGE_PREFIX ?=
else
IMAGE_PREFIX ?= localhost/
endif

## kind-up: a local cluster from kind-config.yaml (one control plane, two workers)
kind-up:
	@$(KIND) get clusters | grep -qx $(KIND_CLUSTER) || $(KIND) create cluster --config kind-config.yaml
	$(KUBECTL) config use-context kind-$(KIND_CLUSTER)

## kind-down: delete the kind cluster
kind-down:
	$(KIND) delete cluster --name $(KIND_CLUSTER)

## images: the services image (parley), the operator image (parley-operator) and the entry point's
## Envoy (parley-envoy), tagged $(IMAGE_TAG)
images: bootstrap
ifeq ($(CONTAINER_ENGINE),docker)
	docker build -f services/Dockerfile -t parley:$(IMAGE_TAG) .
	docker build -f operator/Dockerfile -t parley-operator:$(IMAGE_TAG) .
	docker build -f images/envoy/Dockerfile -t parley-envoy:$(IMAGE_TAG) .
else
	$(PARLEY) dev images --tag $(IMAGE_TAG)
endif

## kind-load: put both images on the kind nodes (the kind values use pullPolicy Never)
kind-load: images
ifeq ($(CONTAINER_ENGINE),docker)
	$(KIND) load docker-image --name $(KIND_CLUSTER) parley:$(IMAGE_TAG) parley-operator:$(IMAGE_TAG) \
		parley-envoy:$(IMAGE_TAG)
else
	for image in parley parley-operator parley-envoy; do \
		podman save --format docker-archive -o /tmp/parley-kind-$$image.tar localhost/$$image:$(IMAGE_TAG) \
		&& $(KIND) load image-archive --name $(KIND_CLUSTER) /tmp/parley-kind-$$image.tar \
		&& rm -f /tmp/parley-kind-$$image.tar || exit 1; \
	done
endif

## deploy: the operator (CRD applied first: Helm never upgrades a CRD) and a platform with every
## server in the cluster (charts/parley/ci/kind-values.yaml)
deploy:
	$(KUBECTL) apply --server-side --force-conflicts -f charts/parley-operator/crds/chatplatform.yaml
	$(KUBECTL) wait --for condition=Established crd/chatplatforms.parley.dev --timeout=60s
	$(HELM) upgrade --install parley-operator charts/parley-operator \
		--namespace $(OPERATOR_NAMESPACE) --create-namespace \
		--set image.repository=$(IMAGE_PREFIX)parley-operator \
		--set image.tag=$(IMAGE_TAG) --set image.pullPolicy=Never --wait
	$(HELM) upgrade --install parley charts/parley \
		--namespace $(NAMESPACE) --create-namespace \
		-f charts/parley/ci/kind-values.yaml --set platform.image.repository=$(IMAGE_PREFIX)parley \
		--set platform.image.tag=$(IMAGE_TAG)

## e2e-kind: cluster, images, deploy, then wait for the platform to be Ready and run `helm test`
e2e-kind: kind-up kind-load deploy
	$(KUBECTL) -n $(NAMESPACE) wait chatplatform/parley --for=condition=Ready --timeout=15m
	$(HELM) test parley --namespace $(NAMESPACE) --logs
