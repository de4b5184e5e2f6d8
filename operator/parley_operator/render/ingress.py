"""An Ingress to the gateway (the operator's own Envoy) when the spec names a host and no Gateway."""

from __future__ import annotations

from typing import Any

from parley_operator.names import SERVICE_PORT
from parley_operator.render.context import RenderInput


def render_ingress(inp: RenderInput) -> list[dict[str, Any]]:
    spec, inst = inp.spec.ingress, inp.installation
    if spec is None or not inp.spec.entry_point.own_envoy:
        return []
    body: dict[str, Any] = {
        "rules": [
            {
                "host": spec.host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {
                                "service": {"name": inst.service("gateway"), "port": {"number": SERVICE_PORT}}
                            },
                        }
                    ]
                },
            }
        ]
    }
    if spec.class_name is not None:
        body = {"ingressClassName": spec.class_name, **body}
    if spec.tls is not None:
        body["tls"] = [{"hosts": [spec.host], "secretName": spec.tls.secret_name}]
    metadata: dict[str, Any] = {
        "name": inst.ingress,
        "namespace": inst.namespace,
        "labels": inst.labels("gateway"),
    }
    if spec.annotations:
        metadata["annotations"] = dict(spec.annotations)
    return [{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata, "spec": body}]
