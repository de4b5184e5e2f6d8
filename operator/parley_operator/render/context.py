"""What the renderers are given: the parsed spec, the installation and the rollout decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parley_operator.api.spec import ChatPlatformSpec
from parley_operator.names import Installation


@dataclass(frozen=True)
class Release:
    """A version of Parley and the image that carries it."""

    version: str
    image: str


@dataclass(frozen=True)
class RenderInput:
    spec: ChatPlatformSpec
    installation: Installation
    services_release: Release | None
    """Release the Deployments run; None before the first migration has succeeded (no Deployments)."""
    migration: Release | None = None
    """Release whose migration Job is wanted; None when no migration is running or due."""
    signing_key_pem: str | None = None
    """A freshly generated key when the generated signing-key Secret does not exist yet."""
    notification_token: str | None = None
    """A freshly generated unsubscribe-link key when its Secret does not exist yet."""

    @classmethod
    def steady(cls, spec: ChatPlatformSpec, installation: Installation) -> RenderInput:
        """Everything at the spec's version, as after a finished rollout."""
        return cls(spec, installation, Release(spec.version, spec.image_ref))


def meta(inst: Installation, name: str, component: str | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": inst.namespace, "labels": inst.labels(component)}


def secret_env(env: str, secret: str, key: str) -> dict[str, object]:
    return {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
