"""The Gateway API CRDs (standard channel) in the dev apiserver, taken from the CRD YAML that the Go
module `sigs.k8s.io/gateway-api` carries (downloaded into the module cache; nothing committed)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import kubernetes
import yaml

from parley.devstack import golang, versions
from parley.devstack.errors import DevStackError
from parley.devstack.paths import Paths

MODULE = "sigs.k8s.io/gateway-api"
MANAGER = "parley-dev"


def crds(paths: Paths, log_file: Path) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition of the module's standard channel."""
    info = golang.go_mod_download(paths, MODULE, versions.GATEWAY_API, log_file)
    folder = Path(info["Dir"]) / "config" / "crd" / "standard"
    found = [
        doc
        for file in sorted(folder.glob("*.yaml"))
        for doc in yaml.safe_load_all(file.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]
    if not found:
        raise DevStackError(f"no CRDs under {folder}")
    return found


def install(api: Any, definitions: list[dict[str, Any]], timeout: float = 60.0) -> list[str]:
    """Server-side applies the CRDs and waits until each is established; returns their names."""
    client: Any = kubernetes.dynamic.DynamicClient  # no type hints
    dynamic = client(api)
    resource = dynamic.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    for crd in definitions:
        dynamic.server_side_apply(resource, body=crd, field_manager=MANAGER, force_conflicts=True)
    ext: Any = kubernetes.client.ApiextensionsV1Api(api)
    names = [crd["metadata"]["name"] for crd in definitions]
    deadline = time.monotonic() + timeout
    for name in names:
        while not _established(ext.read_custom_resource_definition(name)):
            if time.monotonic() > deadline:
                raise DevStackError(f"CRD {name} not established after {timeout:.0f}s")
            time.sleep(0.2)
    return names


def _established(crd: Any) -> bool:
    conditions = (crd.status and crd.status.conditions) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)
