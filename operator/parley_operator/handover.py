"""Handing a Deployment's replica count over to a HorizontalPodAutoscaler without a dip.

Server-side apply removes a field that the applier stops sending if no other manager owns it; the
Deployment then falls back to the default of one replica until the HPA scales it up again. Before the
operator stops sending `replicas`, a second field manager applies the current count, so the field
stays where it is and the HPA takes it from there (the procedure the server-side apply docs give).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parley_operator.names import MANAGER

HANDOVER_MANAGER = f"{MANAGER}-hpa-handover"


def _owns_replicas(live: Mapping[str, Any], manager: str) -> bool:
    for entry in live.get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") != manager or entry.get("operation") != "Apply":
            continue
        if "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {}):
            return True
    return False


def replicas_handover(live: Mapping[str, Any] | None, rendered: Mapping[str, Any]) -> dict[str, Any] | None:
    """The apply (for HANDOVER_MANAGER) that keeps the live replica count, or None when not needed."""
    if live is None or "replicas" in rendered["spec"] or not _owns_replicas(live, MANAGER):
        return None
    return {
        "apiVersion": rendered["apiVersion"],
        "kind": rendered["kind"],
        "metadata": {"name": rendered["metadata"]["name"], "namespace": rendered["metadata"]["namespace"]},
        "spec": {"replicas": live.get("spec", {}).get("replicas", 1)},
    }
