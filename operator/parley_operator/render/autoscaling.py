"""HorizontalPodAutoscalers and PodDisruptionBudgets, for the services whose spec asks for them."""

from __future__ import annotations

from typing import Any

from parley_operator.api.spec import SocketAutoscaling
from parley_operator.render.context import RenderInput, meta


def operator_scaled(scaling: object) -> bool:
    """The socket service scaled by the operator on open connections (parley_operator.scaling)."""
    return isinstance(scaling, SocketAutoscaling) and scaling.target_connections_per_pod is not None


def render_autoscalers(inp: RenderInput) -> list[dict[str, Any]]:
    inst = inp.installation
    objs: list[dict[str, Any]] = []
    for name, svc in inp.spec.services.by_name().items():
        if name not in inp.spec.deployed_services():
            continue
        scaling = svc.autoscaling
        # Two scalers on one Deployment fight: the operator's own scaling replaces the HPA.
        if scaling is None or operator_scaled(scaling):
            continue
        metrics: list[dict[str, Any]] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": scaling.target_cpu_utilization_percentage,
                    },
                },
            }
        ]
        objs.append(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": meta(inst, inst.service(name), name),
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": inst.service(name),
                    },
                    "minReplicas": scaling.min_replicas,
                    "maxReplicas": scaling.max_replicas,
                    "metrics": metrics,
                    # Scale down slowly: dropping socket pods moves every connection they hold.
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
                },
            }
        )
    return objs


def render_disruption_budgets(inp: RenderInput) -> list[dict[str, Any]]:
    inst = inp.installation
    return [
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta(inst, inst.service(name), name),
            "spec": {
                "maxUnavailable": svc.pod_disruption_budget.max_unavailable,
                "selector": {"matchLabels": inst.selector(name)},
            },
        }
        for name, svc in inp.spec.services.by_name().items()
        if svc.pod_disruption_budget is not None and name in inp.spec.deployed_services()
    ]
