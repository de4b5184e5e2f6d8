"""A ClusterIP Service per service (port 80 -> 8000, so peers use `http://<platform>-<service>.<ns>.svc`),
and the one ServiceAccount the pods run as."""

from __future__ import annotations

from typing import Any

from parley_operator.names import SERVICE_PORT
from parley_operator.render.context import RenderInput, meta


def render_services(inp: RenderInput) -> list[dict[str, Any]]:
    inst = inp.installation
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(inst, inst.service(name), name),
            "spec": {
                "type": "ClusterIP",
                "selector": inst.selector(name),
                "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        }
        for name in inp.spec.deployed_services()
    ]


def render_service_account(inp: RenderInput) -> list[dict[str, Any]]:
    inst = inp.installation
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": inst.service_account, "namespace": inst.namespace, "labels": inst.labels()},
            # The services never call the Kubernetes API: no token in their pods.
            "automountServiceAccountToken": False,
        }
    ]
