"""Replica handover to an HPA, and which children may be recreated to repair drift."""

from __future__ import annotations

from typing import Any

from parley_operator.handover import HANDOVER_MANAGER, replicas_handover
from parley_operator.prune import RECREATABLE_KINDS


def _live(manager: str, fields: dict[str, Any], replicas: int = 5) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "acme-gateway",
            "managedFields": [{"manager": manager, "operation": "Apply", "fieldsV1": {"f:spec": fields}}],
        },
        "spec": {"replicas": replicas},
    }


RENDERED_WITH_HPA = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "acme-gateway", "namespace": "chat"},
    "spec": {"template": {}},
}


def test_handover_keeps_the_current_count_when_the_operator_lets_go_of_replicas() -> None:
    handover = replicas_handover(_live("parley-operator", {"f:replicas": {}}), RENDERED_WITH_HPA)
    assert handover == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "acme-gateway", "namespace": "chat"},
        "spec": {"replicas": 5},
    }
    assert HANDOVER_MANAGER != "parley-operator"


def test_no_handover_when_not_needed() -> None:
    # The operator still sends replicas (no HPA).
    with_replicas = {**RENDERED_WITH_HPA, "spec": {"replicas": 2}}
    assert replicas_handover(_live("parley-operator", {"f:replicas": {}}), with_replicas) is None
    # Already handed over: the operator no longer owns the field.
    assert replicas_handover(_live("parley-operator", {"f:template": {}}), RENDERED_WITH_HPA) is None
    assert replicas_handover(_live("kube-controller-manager", {"f:replicas": {}}), RENDERED_WITH_HPA) is None
    # First creation.
    assert replicas_handover(None, RENDERED_WITH_HPA) is None


def test_workloads_are_never_recreated_to_repair_drift() -> None:
    assert {"Deployment", "Job", "Secret"}.isdisjoint(RECREATABLE_KINDS)
    assert "Service" in RECREATABLE_KINDS
