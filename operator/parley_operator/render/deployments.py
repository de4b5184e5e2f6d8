"""One Deployment per service: `parley serve <service>` on port 8000, hardened and spread over nodes."""

from __future__ import annotations

from typing import Any

from parley_operator.api.spec import ServiceSpec
from parley_operator.names import (
    CONFIG_HASH_ANNOTATION,
    HTTP_PORT,
)
from parley_operator.render.configmap import service_env
from parley_operator.render.context import Release, RenderInput
from parley_operator.render.pods import (
    SERVICE_NEEDS,
    SIGNING_KEY_DIR,
    container_security,
    deployment,
    deployment_pod,
    secret_envs,
    signing_key_source,
    volume_mounts,
    volumes,
)

# WebSocket connections get time to close and clients to reconnect elsewhere on a rollout.
GRACE_SECONDS = {"socket": 60}


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _env(inp: RenderInput, service: str) -> list[dict[str, Any]]:
    needs = SERVICE_NEEDS[service]
    env: list[dict[str, Any]] = [
        {"name": "PARLEY_SERVICE_NAME", "value": service},
        *({"name": name, "value": value} for name, value in service_env(inp, service).items()),
        *secret_envs(inp.spec, needs, inp.installation),
    ]
    if "signing_key" in needs:
        _, key = signing_key_source(inp.spec, inp.installation)
        env.append({"name": "PARLEY_AUTH_SIGNING_KEY_FILE", "value": f"{SIGNING_KEY_DIR}/{key}"})
    return env


def _pod_annotations(inp: RenderInput, config_hash: str) -> dict[str, str]:
    annotations = {CONFIG_HASH_ANNOTATION: config_hash}
    if inp.spec.observability.metrics.scrape_annotations:
        annotations |= {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(HTTP_PORT),
            "prometheus.io/path": "/metrics",
        }
    return annotations


def render_deployment(
    inp: RenderInput, service: str, svc: ServiceSpec, release: Release, config_hash: str
) -> dict[str, Any]:
    inst, spec = inp.installation, inp.spec
    needs = SERVICE_NEEDS[service]
    pod_spec = deployment_pod(
        spec,
        inst,
        service,
        grace=GRACE_SECONDS.get(service, 30),
        containers=[
            {
                "name": service,
                "image": release.image,
                "imagePullPolicy": spec.image.pull_policy.value,
                "command": ["parley"],
                "args": ["serve", service, "--host", "0.0.0.0", "--port", str(HTTP_PORT)],
                "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
                "envFrom": [{"configMapRef": {"name": inst.config_map}}],
                "env": _env(inp, service),
                "resources": svc.resources.model_dump(exclude_defaults=False),
                "startupProbe": _probe("/healthz", 2, 30),
                "livenessProbe": _probe("/healthz", 10, 3),
                "readinessProbe": _probe("/readyz", 5, 3),
                "securityContext": container_security(),
                "volumeMounts": volume_mounts(needs),
            }
        ],
        volumes=volumes(spec, inst, needs),
    )
    return deployment(
        inst,
        service,
        svc,
        version=release.version,
        image=release.image,
        pod_annotations=_pod_annotations(inp, config_hash),
        pod_spec=pod_spec,
    )


def render_deployments(inp: RenderInput, config_hash: str) -> list[dict[str, Any]]:
    if inp.services_release is None:
        return []
    return [
        render_deployment(inp, name, svc, inp.services_release, config_hash)
        for name, svc in inp.spec.services.by_name().items()
        # The gateway is Envoy, rendered by parley_operator.render.entry.
        if name != "gateway"
    ]
