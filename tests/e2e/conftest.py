"""Fixtures of the end-to-end tests: the dev stack's real node, Parley's images built here and loaded
into it, helm, and namespaces whose pods go to the real node.

The platform's pods reach the dev stack's servers at the pod bridge's address (the servers listen
on 127.0.0.1 and on it, see parley.devstack.podnet); the tests reach the platform from the host
through the Services' ClusterIPs (kube-proxy's rules answer on the host too).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from parley.devstack import images
from parley.devstack.components.kube.node import real_node_namespace_annotations
from parley.devstack.stack import Stack
from parley.testing.slices import unique

# The chart tests' helm runner (tests/charts is no package).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "charts"))
from chartkit import REPO, Helm
from e2ekit import BuiltImages

TAG = "e2e"
NEXT_TAG = "e2e-next"


@pytest.fixture(scope="session")
def real_node(dev_stack: Stack) -> dict[str, dict[str, str]]:
    """containerd, CoreDNS, the kubelet and kube-proxy up (with the control plane they need)."""
    return dev_stack.up(["node"])


@pytest.fixture(scope="session")
def e2e_images(dev_stack: Stack, real_node: dict[str, dict[str, str]]) -> BuiltImages:
    """The images built from this tree with podman (cached layers make a rebuild quick), tagged
    TAG and NEXT_TAG (the same build: an upgrade to a new tag), and imported into the node."""
    log = dev_stack.paths.logs / "images.log"
    seconds = images.build_images(dev_stack.paths, REPO, TAG, log)
    refs = []
    for spec in images.IMAGES:
        ref = f"localhost/{spec.name}:{TAG}"
        images.podman(dev_stack.paths, ["tag", ref, f"localhost/{spec.name}:{NEXT_TAG}"], log)
        refs += [ref, f"localhost/{spec.name}:{NEXT_TAG}"]
    dev_stack.load_images(refs)
    return BuiltImages(
        "localhost/parley", "localhost/parley-operator", "localhost/parley-envoy", TAG, NEXT_TAG, seconds
    )


@pytest.fixture(scope="module")
def helm_e2e(helm_bin: Path, kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(helm_bin, kubeconfig, tmp_path_factory.mktemp("helm-home"))


def real_node_namespace(api: Any, prefix: str) -> str:
    """A namespace whose every pod goes to the real node (node selector and toleration by
    annotation)."""
    name = unique(prefix)
    kubernetes.client.CoreV1Api(api).create_namespace(
        kubernetes.client.V1Namespace(
            metadata=kubernetes.client.V1ObjectMeta(
                name=name,
                labels={"parley.dev/test": "true"},
                annotations=real_node_namespace_annotations(),
            )
        )
    )
    return name


def delete_namespace(api: Any, name: str, timeout: float = 120) -> None:
    core = kubernetes.client.CoreV1Api(api)
    try:
        core.delete_namespace(name, propagation_policy="Foreground")
    except kubernetes.client.ApiException as exc:
        if exc.status != 404:
            raise
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            core.read_namespace(name)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(1)


@pytest.fixture(scope="module")
def e2e_namespaces(k8s_api: Any) -> Iterator[tuple[str, str]]:
    """(operator namespace, platform namespace), both on the real node; deleted afterwards."""
    names = (real_node_namespace(k8s_api, "e2e-op-"), real_node_namespace(k8s_api, "e2e-"))
    yield names
    for name in reversed(names):
        delete_namespace(k8s_api, name)
