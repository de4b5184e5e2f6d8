"""Which live children no longer belong to the rendered set (an HPA after autoscaling was switched off,
an Ingress after the host was removed, a finished migration Job)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from parley_operator.render.secrets import CREATE_ONLY_ANNOTATION

# Kinds the operator applies and so may prune; generated Secrets are created once and never pruned.
PRUNABLE_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("v1", "Service"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("batch/v1", "Job"),
    ("apps/v1", "Deployment"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "Ingress"),
)

# Kinds of APIs a cluster may not serve (Gateway API, Envoy Gateway's policies, the Prometheus
# Operator's): applied only when a ChatPlatform asks for them, and pruned when it stops asking; where
# the API is not served there is nothing of that kind to prune.
OPTIONAL_PRUNABLE_KINDS: tuple[tuple[str, str], ...] = (
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy"),
    ("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy"),
    # The Prometheus Operator's (observability.metrics.prometheusOperator).
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
)

# Kinds that can be deleted and created again to repair drift without losing anything: no pods,
# no data. (A Service gets a new cluster IP; clients use its DNS name.)
RECREATABLE_KINDS = frozenset(
    {
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "NetworkPolicy",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Ingress",
        "HTTPRoute",
        "SecurityPolicy",
        "BackendTrafficPolicy",
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
    }
)


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str
    name: str


def ref(obj: Mapping[str, Any]) -> ObjectRef:
    meta = obj["metadata"]
    return ObjectRef(obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def _owned_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(r.get("uid") == owner_uid and r.get("controller") for r in refs)


def _group(api_version: str) -> str:
    # A live object may come back in another version of its group (autoscaling/v1 vs v2).
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def to_prune(
    desired: Iterable[Mapping[str, Any]], live: Iterable[Mapping[str, Any]], owner_uid: str
) -> list[ObjectRef]:
    """Live objects controlled by this owner that the rendered set lacks; anything not controlled by
    it (same labels, other owner or none) is left alone."""
    wanted = {(_group(r.api_version), r.kind, r.namespace, r.name) for r in map(ref, desired)}
    doomed: list[ObjectRef] = []
    for obj in live:
        r = ref(obj)
        if (_group(r.api_version), r.kind, r.namespace, r.name) in wanted:
            continue
        annotations = obj.get("metadata", {}).get("annotations") or {}
        if annotations.get(CREATE_ONLY_ANNOTATION) == "true" or not _owned_by(obj, owner_uid):
            continue
        doomed.append(r)
    return doomed
