"""The Gateway API CRDs (standard channel) in the dev apiserver, taken from the CRD YAML that the Go
module `sigs.k8s.io/gateway-api` carries (downloaded into the module cache; nothing committed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from parley.devstack import versions
from parley.devstack.components.kube.modulecrds import ModuleCRDs
from parley.devstack.components.kube.modulecrds import crds as module_crds
from parley.devstack.components.kube.modulecrds import install as install
from parley.devstack.paths import Paths

GATEWAY_API = ModuleCRDs("sigs.k8s.io/gateway-api", versions.GATEWAY_API, "config/crd/standard")


def crds(paths: Paths, log_file: Path) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition of the module's standard channel."""
    return module_crds(paths, GATEWAY_API, log_file)
