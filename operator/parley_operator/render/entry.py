"""The entry point in the cluster, from the one rendering in parley_operator.edge.

Without a named Gateway: the operator's own Envoy, the `gateway` component (its Deployment and its
configuration in a ConfigMap; the Service comes with the others). With `entryPoint.gatewayRef`:
Gateway API HTTPRoutes attached to that Gateway, and, when asked, Envoy Gateway's SecurityPolicy (the
JWT check) and BackendTrafficPolicy (the per-client rate limit) for them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from parley_operator.api.spec import ChatPlatformSpec
from parley_operator.edge import EdgePolicy, Route, Upstream, envoy_bootstrap
from parley_operator.edge.envoy import PROVIDER
from parley_operator.edge.routes import BACKENDS, TOKEN_SUBPROTOCOL_PREFIX
from parley_operator.names import (
    CONFIG_HASH_ANNOTATION,
    HTTP_PORT,
    SERVICE_PORT,
    Installation,
)
from parley_operator.render.context import Release, RenderInput, meta
from parley_operator.render.pods import container_security, deployment, deployment_pod

COMPONENT = "gateway"
HEALTH_PORT = HTTP_PORT + 1
ADMIN_PORT = 9901
CONFIG_KEY = "envoy.json"
CONFIG_DIR = "/etc/envoy"
GATEWAY_API = "gateway.networking.k8s.io/v1"
ENVOY_GATEWAY_API = "gateway.envoyproxy.io/v1alpha1"


def public_url(spec: ChatPlatformSpec, inst: Installation) -> str:
    """The origin clients use."""
    if not spec.entry_point.own_envoy:
        hosts = spec.entry_point.hostnames
        return f"https://{hosts[0]}" if hosts else inst.service_url("auth")
    if spec.ingress is None:
        return inst.service_url(COMPONENT)
    scheme = "https" if spec.ingress.tls is not None else "http"
    return f"{scheme}://{spec.ingress.host}"


def cluster_host(inst: Installation, service: str) -> str:
    return f"{inst.service(service)}.{inst.namespace}.svc.cluster.local"


def jwks_url(inst: Installation) -> str:
    return f"http://{cluster_host(inst, 'auth')}/.well-known/jwks.json"


def edge_policy(spec: ChatPlatformSpec, inst: Installation) -> EdgePolicy:
    entry, ingress = spec.entry_point, spec.ingress
    return EdgePolicy(
        # As the services verify them (render/configmap.py): the auth Service names the issuer.
        issuer=inst.service_url("auth"),
        audience=inst.prefix,
        requests_per_second=entry.rate_limit.requests_per_second,
        burst=entry.rate_limit.burst,
        max_request_bytes=entry.max_request_bytes,
        tls=ingress is not None and ingress.tls is not None,
        # Behind the Ingress controller, the client is the address it saw.
        trusted_hops=1 if ingress is not None else 0,
        # The storage service's presigned URLs point there: the browser uploads to it directly.
        upload_origins=(spec.s3.public_endpoint.rstrip("/"),) if spec.s3.public_endpoint else (),
    )


def envoy_config(spec: ChatPlatformSpec, inst: Installation) -> dict[str, Any]:
    upstreams = {name: Upstream(cluster_host(inst, name), SERVICE_PORT) for name in BACKENDS}
    return envoy_bootstrap(
        edge_policy(spec, inst),
        upstreams,
        listen=Upstream("0.0.0.0", HTTP_PORT),
        health=Upstream("0.0.0.0", HEALTH_PORT),
        admin=Upstream("127.0.0.1", ADMIN_PORT),
    )


def _config_map_name(inst: Installation) -> str:
    return f"{inst.service(COMPONENT)}-envoy"


def render_envoy(inp: RenderInput) -> list[dict[str, Any]]:
    """The operator's own Envoy: its configuration, and its Deployment once the services run."""
    spec, inst = inp.spec, inp.installation
    if not spec.entry_point.own_envoy:
        return []
    # Compact: the readable form is in the golden files of parley_operator.edge.
    text = json.dumps(envoy_config(spec, inst), sort_keys=True, separators=(",", ":")) + "\n"
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(inst, _config_map_name(inst), COMPONENT),
        "data": {CONFIG_KEY: text},
    }
    if inp.services_release is None:
        return [config_map]
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return [config_map, _deployment(inp, inp.services_release, digest)]


def _deployment(inp: RenderInput, release: Release, digest: str) -> dict[str, Any]:
    spec, inst = inp.spec, inp.installation
    svc = spec.services.gateway
    # Envoy's image goes with the release the services run (rolled after the migration, like them).
    envoy = spec.entry_point.envoy_image
    image = f"{envoy.repository}:{envoy.tag or spec.image.tag or release.version}"
    annotations = {CONFIG_HASH_ANNOTATION: digest}
    if spec.observability.metrics.scrape_annotations:
        annotations |= {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(HEALTH_PORT),
            "prometheus.io/path": "/stats/prometheus",
        }
    probe = {"httpGet": {"path": "/ready", "port": "health"}, "timeoutSeconds": 2}
    pod_spec = deployment_pod(
        spec,
        inst,
        COMPONENT,
        # Envoy drains its listeners on SIGTERM; WebSockets get the socket service's grace.
        grace=60,
        containers=[
            {
                "name": "envoy",
                "image": image,
                "imagePullPolicy": spec.image.pull_policy.value,
                "command": ["envoy"],
                "args": [
                    "--config-path",
                    f"{CONFIG_DIR}/{CONFIG_KEY}",
                    "--log-level",
                    "warning",
                    "--disable-hot-restart",
                ],
                "ports": [
                    {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
                    {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"},
                ],
                "resources": svc.resources.model_dump(exclude_defaults=False),
                "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": 30},
                "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 3},
                "readinessProbe": {**probe, "periodSeconds": 5, "failureThreshold": 3},
                "securityContext": container_security(),
                "volumeMounts": [
                    {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }
        ],
        volumes=[
            {"name": "config", "configMap": {"name": _config_map_name(inst)}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        ],
    )
    return deployment(
        inst,
        COMPONENT,
        svc,
        version=release.version,
        image=image,
        pod_annotations=annotations,
        pod_spec=pod_spec,
    )


# -- Gateway API -----------------------------------------------------------------------------------


def httproute_names(inst: Installation) -> dict[bool, str]:
    """The routes are two HTTPRoutes: the JWT policy attaches to the protected one as a whole."""
    return {False: f"{inst.name}-public", True: f"{inst.name}-protected"}


def _rule(route: Route, inst: Installation, headers: dict[str, str]) -> dict[str, Any]:
    match_type = "Exact" if route.exact else "PathPrefix"
    # Gateway API prefixes match whole path segments: "/api" matches /api and /api/…, never /apix.
    value = route.path if route.exact or route.path == "/" else route.path.rstrip("/")
    filters: list[dict[str, Any]] = []
    if route.rewrite is not None:
        path = (
            {"type": "ReplaceFullPath", "replaceFullPath": route.rewrite}
            if route.exact
            else {"type": "ReplacePrefixMatch", "replacePrefixMatch": route.rewrite}
        )
        filters.append({"type": "URLRewrite", "urlRewrite": {"path": path}})
    filters.append(
        {
            "type": "ResponseHeaderModifier",
            "responseHeaderModifier": {"set": [{"name": k, "value": v} for k, v in headers.items()]},
        }
    )
    return {
        "matches": [{"path": {"type": match_type, "value": value}}],
        "filters": filters,
        "backendRefs": [{"name": inst.service(route.backend), "port": SERVICE_PORT}],
    }


def render_gateway_api(inp: RenderInput) -> list[dict[str, Any]]:
    spec, inst = inp.spec, inp.installation
    entry = spec.entry_point
    ref = entry.gateway_ref
    if ref is None:
        return []
    policy = edge_policy(spec, inst)
    parent: dict[str, Any] = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": ref.name}
    if ref.namespace is not None:
        parent["namespace"] = ref.namespace
    if ref.section_name is not None:
        parent["sectionName"] = ref.section_name
    names = httproute_names(inst)
    objs: list[dict[str, Any]] = []
    for protected in (False, True):
        routes = [r for r in policy.routes if r.jwt is protected]
        body: dict[str, Any] = {
            "parentRefs": [parent],
            "rules": [_rule(r, inst, policy.security_headers()) for r in routes],
        }
        if entry.hostnames:
            body["hostnames"] = list(entry.hostnames)
        objs.append(
            {
                "apiVersion": GATEWAY_API,
                "kind": "HTTPRoute",
                "metadata": meta(inst, names[protected], COMPONENT),
                "spec": body,
            }
        )
    if entry.envoy_gateway_policies:
        objs += _envoy_gateway_policies(inp, policy, names)
    return objs


def _target(name: str) -> dict[str, str]:
    return {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": name}


def _envoy_gateway_policies(
    inp: RenderInput, policy: EdgePolicy, names: dict[bool, str]
) -> list[dict[str, Any]]:
    inst = inp.installation
    security = {
        "apiVersion": ENVOY_GATEWAY_API,
        "kind": "SecurityPolicy",
        "metadata": meta(inst, f"{inst.name}-jwt", COMPONENT),
        "spec": {
            "targetRefs": [_target(names[True])],
            "jwt": {
                "providers": [
                    {
                        "name": PROVIDER,
                        "issuer": policy.issuer,
                        "audiences": [policy.audience],
                        "remoteJWKS": {"uri": jwks_url(inst)},
                        "extractFrom": {
                            "headers": [
                                {"name": "Authorization", "valuePrefix": "Bearer "},
                                {"name": "Sec-WebSocket-Protocol", "valuePrefix": TOKEN_SUBPROTOCOL_PREFIX},
                            ]
                        },
                    }
                ]
            },
        },
    }
    traffic = {
        "apiVersion": ENVOY_GATEWAY_API,
        "kind": "BackendTrafficPolicy",
        "metadata": meta(inst, f"{inst.name}-rate-limit", COMPONENT),
        "spec": {
            "targetRefs": [_target(names[False]), _target(names[True])],
            "rateLimit": {
                "type": "Local",
                "local": {
                    "rules": [
                        {
                            "clientSelectors": [{"sourceCIDR": {"type": "Distinct", "value": "0.0.0.0/0"}}],
                            "limit": {"requests": policy.requests_per_second, "unit": "Second"},
                        }
                    ]
                },
            },
        },
    }
    return [security, traffic]
