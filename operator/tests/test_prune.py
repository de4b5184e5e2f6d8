"""Pruning: only children this platform controls, only those no longer rendered."""

from __future__ import annotations

from typing import Any

from parley_operator.prune import ObjectRef, to_prune

UID = "uid-1"


def _obj(
    kind: str, name: str, owner: str | None = UID, api: str = "v1", **annotations: str
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "chat", "annotations": annotations}
    if owner is not None:
        meta["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "ChatPlatform", "name": "acme"}]
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def test_rendered_objects_stay_and_dropped_ones_go() -> None:
    desired = [_obj("Service", "acme-api"), _obj("HorizontalPodAutoscaler", "acme-api", api="autoscaling/v2")]
    live = [
        _obj("Service", "acme-api"),
        # Same group, other version: still the rendered HPA.
        _obj("HorizontalPodAutoscaler", "acme-api", api="autoscaling/v1"),
        _obj("HorizontalPodAutoscaler", "acme-socket", api="autoscaling/v2"),
        _obj("Ingress", "acme", api="networking.k8s.io/v1"),
    ]
    assert to_prune(desired, live, UID) == [
        ObjectRef("autoscaling/v2", "HorizontalPodAutoscaler", "chat", "acme-socket"),
        ObjectRef("networking.k8s.io/v1", "Ingress", "chat", "acme"),
    ]


def test_objects_of_others_and_create_only_secrets_are_never_pruned() -> None:
    live = [
        _obj("ConfigMap", "someone-elses", owner="uid-2"),
        _obj("ConfigMap", "unowned", owner=None),
        _obj("Secret", "acme-signing-key", **{"parley.dev/create-only": "true"}),
    ]
    assert to_prune([], live, UID) == []


def test_same_name_of_another_kind_is_not_a_match() -> None:
    desired = [_obj("Service", "acme-api")]
    live = [_obj("ConfigMap", "acme-api")]
    assert to_prune(desired, live, UID) == [ObjectRef("v1", "ConfigMap", "chat", "acme-api")]
