"""Fixtures of the chart tests: helm pointed at the dev stack's control plane, the chart's CRD served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from chartkit import Helm, apply_chart_crd, kube_version


@pytest.fixture(scope="session")
def helm(helm_bin: Path, kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(helm_bin, kubeconfig, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def cluster_version(k8s_api: Any) -> str:
    return kube_version(k8s_api)


@pytest.fixture
def chart_crd(k8s_api: Any) -> None:
    """The ChatPlatform CRD of this tree, applied as docs/kubernetes.md says to upgrade it. Per test:
    the CRD is cluster-wide, and a dev stack shared with other work trees may have had another
    version applied meanwhile (the apiserver then defaults and prunes by that one)."""
    apply_chart_crd(k8s_api)


@pytest.fixture
def extra_namespaces(k8s_api: Any) -> Iterator[list[str]]:
    """Append names to have namespaces made for a test (beyond k8s_namespace); they are deleted after."""
    core = kubernetes.client.CoreV1Api(k8s_api)
    made: list[str] = []
    yield made
    for name in made:
        try:
            core.delete_namespace(name, propagation_policy="Background")
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise
