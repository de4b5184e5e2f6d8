"""The operator killed half way through building a platform, and Kafka stopped under a running one:
level-based passes converge once the operator (or Kafka) is back."""

from __future__ import annotations

import time
from typing import Any

import kubernetes
import pytest
from parley.devstack.stack import Stack
from parley.testing.chatplatforms import Platforms, condition, is_current_and_ready, platform_spec, wait_for
from parley.testing.operator_process import OperatorProcess
from parley_operator.api.spec import SERVICE_NAMES
from parley_operator.names import Installation

pytestmark = pytest.mark.kube

NAME = "acme"


def test_an_operator_killed_mid_reconcile_converges_after_a_restart(
    operator: OperatorProcess, platforms: Platforms, namespace: str, infra: dict[str, Any], k8s_api: Any
) -> None:
    inst = Installation(namespace, NAME)
    core: Any = kubernetes.client.CoreV1Api(k8s_api)
    apps: Any = kubernetes.client.AppsV1Api(k8s_api)

    def building() -> bool:
        # The first object a pass writes: the generated signing key.
        try:
            core.read_namespaced_secret(inst.signing_key_secret, namespace)
        except kubernetes.client.ApiException:
            return False
        return True

    platforms.create(namespace, NAME, platform_spec(infra["kafka_bootstrap"]))
    wait_for(building, 30, "the operator to start building", interval=0.01)
    operator.kill()
    at_kill = platforms.must_get(namespace, NAME)
    assert not is_current_and_ready(at_kill), "the platform was finished before the kill"
    assert apps.list_namespaced_deployment(namespace).items == []  # no service had started yet

    # While no operator runs, someone changes the spec.
    platforms.patch_spec(namespace, NAME, {"services": {"api": {"replicas": 3}}})
    time.sleep(1)
    assert apps.list_namespaced_deployment(namespace).items == []
    operator.start()
    ready = platforms.wait_running(namespace, NAME, "1.0.0")
    assert ready["status"]["services"]["api"]["readyReplicas"] == 3
    assert len(apps.list_namespaced_deployment(namespace).items) == len(SERVICE_NAMES)


def test_kafka_stopped_degrades_the_platform_until_it_is_back(
    operator: OperatorProcess, platforms: Platforms, namespace: str, infra: dict[str, Any]
) -> None:
    """Kafka is shared with every other test and developer of this machine: it is down only as long
    as the operator needs to notice, and started again whatever happens."""
    platforms.create(namespace, NAME, platform_spec(infra["kafka_bootstrap"]))
    platforms.wait_ready(namespace, NAME)
    stack = Stack()
    kafka = stack.component("kafka")
    try:
        kafka.down()
        down = platforms.wait(
            namespace,
            NAME,
            lambda p: condition(p, "Degraded").get("reason") == "KafkaUnavailable",
            "Kafka's absence to be reported",
            timeout=90,
        )
    finally:
        stack.up(["kafka"])
    assert down["status"]["phase"] == "Degraded"
    assert condition(down, "InfrastructureReady")["reason"] == "KafkaUnavailable"
    assert condition(down, "Ready")["status"] == "False"
    assert "Kafka unreachable" in condition(down, "Degraded")["message"]
    back = platforms.wait(
        namespace, NAME, is_current_and_ready, "the platform to be Ready with Kafka back", timeout=120
    )
    assert condition(back, "Degraded")["status"] == "False"
    assert back["status"]["phase"] == "Running"
