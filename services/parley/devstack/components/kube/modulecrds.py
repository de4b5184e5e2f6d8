"""CRDs of the optional APIs the operator renders objects of, taken from the CRD YAML files their Go
modules carry (downloaded into the module cache under ~/.cache/parley; nothing committed), and
installed into the dev apiserver so that what the operator renders is validated there.

- The Prometheus Operator (github.com/prometheus-operator/prometheus-operator, its
  example/prometheus-operator-crd files): ServiceMonitor, PodMonitor, PrometheusRule.
- Envoy Gateway (github.com/envoyproxy/gateway, the CRDs of its gateway-helm chart): its policies,
  SecurityPolicy and BackendTrafficPolicy among them.

The Gateway API's own CRDs (gatewayapi.py) come the same way, and are installed first: Envoy
Gateway's refer to them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import yaml

from parley.devstack import golang, versions
from parley.devstack.errors import DevStackError
from parley.devstack.paths import Paths


@dataclass(frozen=True)
class ModuleCRDs:
    module: str
    version: str
    folder: str
    """Where the CRD files are in the module."""
    files: tuple[str, ...] = ()
    """Only these files of the folder; every *.yaml when empty."""


PROMETHEUS_OPERATOR = ModuleCRDs(
    "github.com/prometheus-operator/prometheus-operator",
    versions.PROMETHEUS_OPERATOR,
    "example/prometheus-operator-crd",
    (
        "monitoring.coreos.com_servicemonitors.yaml",
        "monitoring.coreos.com_podmonitors.yaml",
        "monitoring.coreos.com_prometheusrules.yaml",
    ),
)
"""The kinds the operator renders (observability.metrics.prometheusOperator)."""

ENVOY_GATEWAY = ModuleCRDs(
    "github.com/envoyproxy/gateway",
    versions.ENVOY_GATEWAY,
    "charts/gateway-helm/charts/crds/crds/generated",
)
"""Envoy Gateway's own kinds (gateway.envoyproxy.io; the Gateway API's come from gatewayapi.py)."""

MANAGER = "parley-dev"

ALL = (PROMETHEUS_OPERATOR, ENVOY_GATEWAY)


def crds(paths: Paths, source: ModuleCRDs, log_file: Path) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions of `source`'s files."""
    info = golang.go_mod_download(paths, source.module, source.version, log_file)
    folder = Path(info["Dir"]) / source.folder
    files = [folder / name for name in source.files] if source.files else sorted(folder.glob("*.yaml"))
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DevStackError(f"{source.module}@{source.version} has no {', '.join(missing)}")
    found = [
        doc
        for file in files
        for doc in yaml.safe_load_all(file.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]
    if not found:
        raise DevStackError(f"no CRDs under {folder}")
    return found


def install(
    api: Any, definitions: list[dict[str, Any]], timeout: float = 60.0, field_manager: str = MANAGER
) -> list[str]:
    """Server-side applies the CRDs and waits until each is established; returns their names. The
    one CRD installer: the dev stack's modules, the ChatPlatform CRD of the tests and the charts."""
    client: Any = kubernetes.dynamic.DynamicClient  # no type hints
    dynamic = client(api)
    resource = dynamic.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    for crd in definitions:
        dynamic.server_side_apply(resource, body=crd, field_manager=field_manager, force_conflicts=True)
    names = [crd["metadata"]["name"] for crd in definitions]
    deadline = time.monotonic() + timeout
    for name in names:
        while not established(api, name):
            if time.monotonic() > deadline:
                raise DevStackError(f"CRD {name} not established after {timeout:.0f}s")
            time.sleep(0.2)
    return names


def established(api: Any, name: str) -> bool:
    """Whether the apiserver serves the CRD `name`."""
    crd = kubernetes.client.ApiextensionsV1Api(api).read_custom_resource_definition(name)
    conditions = (crd.status and crd.status.conditions) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)
