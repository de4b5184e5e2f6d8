"""Pure rendering: a ChatPlatform spec (plus the rollout decision) in, Kubernetes manifests out.

Nothing here talks to a cluster; owner references are added by the caller (kopf.adopt) since they
need the live object's uid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parley_operator.render.autoscaling import render_autoscalers, render_disruption_budgets
from parley_operator.render.configmap import config_data, config_hash, render_configmap
from parley_operator.render.context import Release, RenderInput
from parley_operator.render.deployments import render_deployments
from parley_operator.render.entry import render_envoy, render_gateway_api
from parley_operator.render.ingress import render_ingress
from parley_operator.render.jobs import render_migration_job
from parley_operator.render.monitoring import render_monitoring
from parley_operator.render.network import render_network_policies
from parley_operator.render.secrets import render_notification_token_secret, render_signing_key_secret
from parley_operator.render.services import render_service_account, render_services

__all__ = ["Release", "RenderInput", "Rendered", "render_all"]


@dataclass
class Rendered:
    apply: list[dict[str, Any]] = field(default_factory=list)
    """Server-side applied on every reconcile (drift is repaired)."""
    create_once: list[dict[str, Any]] = field(default_factory=list)
    """Created when absent, never updated (the generated signing key)."""

    @property
    def all(self) -> list[dict[str, Any]]:
        return [*self.create_once, *self.apply]


def render_all(inp: RenderInput) -> Rendered:
    """Every child of the installation, in an order that applies cleanly (config before its readers,
    the migration Job before the Deployments it gates)."""
    digest = config_hash(config_data(inp))
    return Rendered(
        apply=[
            *render_service_account(inp),
            *render_configmap(inp),
            *render_network_policies(inp),
            *render_services(inp),
            *render_migration_job(inp),
            *render_envoy(inp),
            *render_deployments(inp, digest),
            *render_autoscalers(inp),
            *render_disruption_budgets(inp),
            *render_ingress(inp),
            *render_gateway_api(inp),
            *render_monitoring(inp),
        ],
        create_once=[*render_signing_key_secret(inp), *render_notification_token_secret(inp)],
    )
