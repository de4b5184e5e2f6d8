"""CRDs of the optional APIs the operator renders objects of, taken from the CRD YAML files their Go
modules carry (downloaded into the module cache under ~/.cache/parley; nothing committed), and
installed into the dev apiserver so that what the operator renders is validated there.

- The Prometheus Operator (github.com/prometheus-operator/prometheus-operator, its
  example/prometheus-operator-crd files): ServiceMonitor, PodMonitor, PrometheusRule.
- Envoy Gateway (github.com/envoyproxy/gateway, the CRDs of its gateway-helm chart): its policies,
  SecurityPolicy and BackendTrafficPolicy among them.

The Gateway API's own CRDs come the same way from gatewayapi.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from parley.devstack import golang, versions
from parley.devstack.components.kube import gatewayapi
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


def install(api: Any, definitions: list[dict[str, Any]], timeout: float = 60.0) -> list[str]:
    """Server-side applies the CRDs and waits until each is established; returns their names."""
    return gatewayapi.install(api, definitions, timeout)
