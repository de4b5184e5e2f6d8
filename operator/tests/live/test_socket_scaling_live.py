"""The socket scaler on the dev cluster: its own timer and field manager, the bounds, its report, and
the metrics read through the apiserver's pod proxy.

What cannot run here: a successful read of a socket pod's /metrics. kwok's pods run nothing and
their addresses (10.244.0.0/16) lead nowhere on this machine, and the apiserver refuses to proxy to
a loopback address. So the socket pods of this test are kept Pending (they ask for more CPU than a
node has): the scaler then finds no ready pod to read, and the one read attempted here is refused
by the apiserver itself (a pod without an address) without any connection being tried. Scaling on
real readings is covered by the pure rule's tests (operator/tests/test_socket_scaling.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import kubernetes
import pytest
from parley.testing.chatplatforms import Platforms, platform_spec, wait_for
from parley.testing.operator_process import OperatorProcess
from parley.testing.waiting import holds_sync
from parley_operator.kube import Kube
from parley_operator.names import Installation
from parley_operator.scaling.scaler import SCALER_MANAGER, read_pod
from parley_operator.status.conditions import now_rfc3339

pytestmark = pytest.mark.kube

NAME = "acme"
UNSCHEDULABLE = {"requests": {"cpu": "64", "memory": "128Mi"}}  # kwok nodes have 32 CPUs


def socket_replicas(apps: Any, inst: Installation) -> int:
    return int(apps.read_namespaced_deployment(inst.service("socket"), inst.namespace).spec.replicas)


def replicas_manager(apps: Any, inst: Installation) -> list[str]:
    dep = apps.read_namespaced_deployment(inst.service("socket"), inst.namespace)
    return [
        entry.manager
        for entry in dep.metadata.managed_fields or []
        if "f:replicas" in ((entry.fields_v1 or {}).get("f:spec") or {})
    ]


def scaling_status(platforms: Platforms, inst: Installation) -> dict[str, Any]:
    return dict(
        (platforms.must_get(inst.namespace, inst.name).get("status") or {}).get("socketScaling") or {}
    )


def test_the_operator_keeps_socket_replicas_within_the_bounds(
    operator: OperatorProcess, platforms: Platforms, namespace: str, infra: dict[str, Any], k8s_api: Any
) -> None:
    inst = Installation(namespace, NAME)
    apps: Any = kubernetes.client.AppsV1Api(k8s_api)
    autoscaling: Any = kubernetes.client.AutoscalingV2Api(k8s_api)
    spec = platform_spec(infra["kafka_bootstrap"])
    spec["services"]["socket"] = {
        "resources": UNSCHEDULABLE,
        "autoscaling": {"minReplicas": 2, "maxReplicas": 4, "targetConnectionsPerPod": 100},
    }
    platforms.create(namespace, NAME, spec)

    taken = platforms.wait(
        namespace,
        NAME,
        lambda p: bool((p.get("status") or {}).get("socketScaling")),
        "the scaler's first report",
    )
    report = taken["status"]["socketScaling"]
    assert report["targetConnectionsPerPod"] == 100
    assert (report["replicas"], report["pods"], report["podsReporting"]) == (2, 0, 0)
    assert report["reason"] == "NoReadyPods" and "openConnections" not in report
    assert socket_replicas(apps, inst) == 2  # created at minReplicas, not the default of one
    # The operator scales socket itself: an HPA on the same Deployment would fight it.
    assert autoscaling.list_namespaced_horizontal_pod_autoscaler(namespace).items == []

    patched = now_rfc3339()  # the status's own format, to the second: compared as text
    platforms.patch_spec(namespace, NAME, {"services": {"socket": {"autoscaling": {"minReplicas": 3}}}})
    wait_for(lambda: socket_replicas(apps, inst) == 3, 30, "socket raised to the new minimum")
    # The pass that scaled says "2 -> 3 replicas"; the next one (2 s later) "3 replicas", and keeps
    # the time of the scaling.
    raised = wait_for(
        lambda: (s := scaling_status(platforms, inst)).get("replicas") == 3 and s, 30, "the report of 3"
    )
    assert raised["lastScaleTime"] >= patched and "3 replicas" in raised["message"], raised
    assert replicas_manager(apps, inst) == [SCALER_MANAGER]

    platforms.patch_spec(
        namespace, NAME, {"services": {"socket": {"autoscaling": {"minReplicas": 1, "maxReplicas": 2}}}}
    )
    wait_for(lambda: socket_replicas(apps, inst) == 2, 30, "socket lowered to the new maximum")
    # Full passes (every 5s) and child passes leave the scaler's replicas alone.
    holds_sync(
        lambda: socket_replicas(apps, inst) == 2,
        seconds=6,
        reason="a full pass runs every 5 s: one has run by then",
    )
    assert replicas_manager(apps, inst) == [SCALER_MANAGER]


def test_a_metrics_read_goes_through_the_apiserver_and_reports_its_refusal(
    operator: OperatorProcess, platforms: Platforms, namespace: str, infra: dict[str, Any], k8s_api: Any
) -> None:
    inst = Installation(namespace, NAME)
    core: Any = kubernetes.client.CoreV1Api(k8s_api)
    spec = platform_spec(infra["kafka_bootstrap"])
    spec["services"]["socket"] = {"replicas": 1, "resources": UNSCHEDULABLE}
    platforms.create(namespace, NAME, spec)
    selector = ",".join(f"{k}={v}" for k, v in inst.selector("socket").items())

    def pending_pod() -> str | None:
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
        return pods[0].metadata.name if pods else None

    platforms.wait(namespace, NAME, lambda p: bool(p.get("status")), "taken up by the operator")
    pod = wait_for(pending_pod, 60, "a socket pod")
    assert not core.read_namespaced_pod(pod, namespace).status.pod_ip  # never bound, so no address
    reading = asyncio.run(read_pod(Kube(k8s_api), namespace, pod))
    assert reading.connections is None
    assert reading.error == "400 Bad Request: address not allowed"
