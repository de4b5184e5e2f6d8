"""Smoke test of the dev stack's real node: a pod of a namespace that asks for the real node lands
there, runs (containerd, runc, the CNI bridge), gets an address of the pod subnet, and the node
answers the apiserver's calls for it (logs go through the kubelet at the node's InternalIP). Pods of
other namespaces keep away from it (its taint)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes
import pytest
from parley.devstack import images, podnet
from parley.devstack.components.kube.node import NODE_NAME, real_node_namespace_annotations
from parley.devstack.stack import Stack

pytestmark = [pytest.mark.kube, pytest.mark.node]


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)
    return value


@pytest.fixture(scope="module")
def real_node(dev_stack: Stack) -> dict[str, dict[str, str]]:
    return dev_stack.up(["node"])


@pytest.fixture
def namespaces(k8s_api: Any) -> Iterator[tuple[str, str]]:
    """(one that asks for the real node, one that does not)."""
    core = kubernetes.client.CoreV1Api(k8s_api)
    names = (f"t-node-{uuid.uuid4().hex[:8]}", f"t-kwok-{uuid.uuid4().hex[:8]}")
    for name, wanted in zip(names, (real_node_namespace_annotations(), {}), strict=True):
        meta = kubernetes.client.V1ObjectMeta(name=name, annotations=wanted)
        core.create_namespace(kubernetes.client.V1Namespace(metadata=meta))
    yield names
    for name in names:
        core.delete_namespace(name, grace_period_seconds=0)


def pause_pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "pause", "image": images.PAUSE_IMAGE, "imagePullPolicy": "Never"}],
        },
    }


@pytest.mark.timeout(300)
def test_a_pod_runs_on_the_real_node_only_where_asked(
    real_node: dict[str, dict[str, str]], k8s_api: Any, namespaces: tuple[str, str]
) -> None:
    on_node, elsewhere = namespaces
    core = kubernetes.client.CoreV1Api(k8s_api)
    core.create_namespaced_pod(on_node, pause_pod("real"))
    core.create_namespaced_pod(elsewhere, pause_pod("fake"))

    def running(namespace: str, name: str) -> Any:
        pod = core.read_namespaced_pod(name, namespace)
        statuses = pod.status.container_statuses or []
        return pod if pod.status.phase == "Running" and statuses and statuses[0].ready else None

    real = wait_for(lambda: running(on_node, "real"), 120, "the pod on the real node to run")
    assert real.spec.node_name == NODE_NAME
    assert real.status.host_ip == podnet.GATEWAY
    assert real.status.pod_ip.startswith(podnet.POD_SUBNET.rsplit(".", 1)[0] + ".")
    # containerd really runs it: the kubelet reports the runtime's container id.
    assert real.status.container_statuses[0].container_id.startswith("containerd://")
    # The apiserver reaches the kubelet (logs of a container that wrote nothing: empty, no error).
    assert core.read_namespaced_pod_log("real", on_node) == ""

    fake = wait_for(lambda: running(elsewhere, "fake"), 120, "the other pod to run on a kwok node")
    assert fake.spec.node_name != NODE_NAME
