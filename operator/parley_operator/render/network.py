"""NetworkPolicies: the installation's pods take traffic only from each other, except the gateway
(the entry point's Envoy), which is the one service reachable from outside (the Ingress controller,
other namespaces). With a Gateway API Gateway serving the routes, its proxies (elsewhere) reach the
services the routes name: auth, api, presence, socket and web."""

from __future__ import annotations

from typing import Any

from parley_operator.edge.routes import BACKENDS
from parley_operator.names import HTTP_PORT
from parley_operator.render.context import RenderInput


def render_network_policies(inp: RenderInput) -> list[dict[str, Any]]:
    inst = inp.installation
    port = [{"protocol": "TCP", "port": HTTP_PORT}]

    def policy(purpose: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": inst.network_policy(purpose),
                "namespace": inst.namespace,
                "labels": inst.labels(),
            },
            "spec": spec,
        }

    return [
        # Selecting every pod with an Ingress policy and no rule: nothing gets in unless allowed below.
        policy("default-deny", {"podSelector": {"matchLabels": inst.selector()}, "policyTypes": ["Ingress"]}),
        policy(
            "internal",
            {
                "podSelector": {"matchLabels": inst.selector()},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": inst.selector()}}], "ports": port}],
            },
        ),
        policy(
            "gateway",
            {"podSelector": _edge_pods(inp), "policyTypes": ["Ingress"], "ingress": [{"ports": port}]},
        ),
    ]


def _edge_pods(inp: RenderInput) -> dict[str, Any]:
    inst = inp.installation
    if inp.spec.entry_point.own_envoy:
        return {"matchLabels": inst.selector("gateway")}
    return {
        "matchLabels": inst.selector(),
        "matchExpressions": [
            {"key": "app.kubernetes.io/component", "operator": "In", "values": sorted(BACKENDS)}
        ],
    }
