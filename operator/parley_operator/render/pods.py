"""Pod pieces shared by the services' Deployments, the entry point's Envoy and the migration Job."""

from __future__ import annotations

from typing import Any

from parley_operator.api.spec import ChatPlatformSpec, ServiceSpec
from parley_operator.names import IMAGE_ANNOTATION, VERSION_ANNOTATION, Installation
from parley_operator.render.context import secret_env

RUN_AS = 10001
SIGNING_KEY_DIR = "/var/run/secrets/parley/signing-key"

# Which secrets each service reads (only services the image has); everything else comes from the
# shared ConfigMap and the container's env.
SERVICE_NEEDS: dict[str, frozenset[str]] = {
    "auth": frozenset({"postgres", "redis", "signing_key"}),
    "api": frozenset({"postgres", "redis"}),
    "socket": frozenset({"postgres", "redis"}),
    "consumer": frozenset({"postgres", "redis"}),
    "presence": frozenset({"redis"}),
    "storage": frozenset({"postgres", "s3"}),
    "notification": frozenset({"postgres", "redis", "smtp", "notification_token"}),
    "web": frozenset(),
    "search": frozenset({"postgres", "opensearch"}),
    "migrate": frozenset({"postgres"}),
}


def signing_key_source(spec: ChatPlatformSpec, inst: Installation) -> tuple[str, str]:
    """(Secret, key) of the RS256 signing key: the user's, else the generated one."""
    ref = spec.auth.signing_key
    return (ref.secret_name or inst.signing_key_secret, ref.key)


NOTIFICATION_TOKEN_KEY = "token-secret"  # noqa: S105 - a key name, not a secret


def secret_envs(
    spec: ChatPlatformSpec, needs: frozenset[str], inst: Installation | None = None
) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    if "postgres" in needs:
        env.append(secret_env("PARLEY_POSTGRES_DSN", spec.postgres.secret_name, spec.postgres.dsn_key))
    if "redis" in needs:
        env.append(secret_env("PARLEY_REDIS_URL", spec.redis.secret_name, spec.redis.url_key))
    if "opensearch" in needs:
        env.append(secret_env("PARLEY_OPENSEARCH_URL", spec.opensearch.secret_name, spec.opensearch.url_key))
    if "s3" in needs:
        s3 = spec.s3
        env.append(secret_env("PARLEY_S3_ENDPOINT", s3.secret_name, s3.endpoint_key))
        env.append(secret_env("PARLEY_S3_ACCESS_KEY", s3.secret_name, s3.access_key_key))
        env.append(secret_env("PARLEY_S3_SECRET_KEY", s3.secret_name, s3.secret_key_key))
    email = spec.notification.email
    if "smtp" in needs and email is not None and email.credentials is not None:
        creds = email.credentials
        env.append(secret_env("PARLEY_SMTP_USERNAME", creds.secret_name, creds.username_key))
        env.append(secret_env("PARLEY_SMTP_PASSWORD", creds.secret_name, creds.password_key))
    if "notification_token" in needs and inst is not None:
        env.append(
            secret_env(
                "PARLEY_NOTIFICATION_TOKEN_SECRET", inst.notification_token_secret, NOTIFICATION_TOKEN_KEY
            )
        )
    # SMS credentials are not rendered: the notification pods run with SMS off (NotificationSpec.sms).
    return env


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def volumes(spec: ChatPlatformSpec, inst: Installation, needs: frozenset[str]) -> list[dict[str, Any]]:
    # The root filesystem is read-only; Python and thumbnailing still need a scratch /tmp.
    vols: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    if "signing_key" in needs:
        secret, key = signing_key_source(spec, inst)
        vols.append(
            {
                "name": "signing-key",
                "secret": {"secretName": secret, "items": [{"key": key, "path": key}], "defaultMode": 0o440},
            }
        )
    return vols


def volume_mounts(needs: frozenset[str]) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    if "signing_key" in needs:
        mounts.append({"name": "signing-key", "mountPath": SIGNING_KEY_DIR, "readOnly": True})
    return mounts


def pull_secrets(spec: ChatPlatformSpec) -> list[dict[str, str]]:
    return [{"name": name} for name in spec.image.pull_secrets]


def deployment_pod(
    spec: ChatPlatformSpec,
    inst: Installation,
    component: str,
    *,
    grace: int,
    containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
) -> dict[str, Any]:
    """A Deployment's pod: no API token, non-root, spread over the nodes."""
    pod_spec: dict[str, Any] = {
        "serviceAccountName": inst.service_account,
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "terminationGracePeriodSeconds": grace,
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": inst.selector(component)},
                "matchLabelKeys": ["pod-template-hash"],
            }
        ],
        "containers": containers,
        "volumes": volumes,
    }
    if spec.image.pull_secrets:
        pod_spec["imagePullSecrets"] = pull_secrets(spec)
    return pod_spec


def deployment(
    inst: Installation,
    component: str,
    svc: ServiceSpec,
    *,
    version: str,
    image: str,
    pod_annotations: dict[str, str],
    pod_spec: dict[str, Any],
) -> dict[str, Any]:
    """A component's Deployment, rolled one surge pod at a time."""
    labels = inst.labels(component, version)
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": inst.selector(component)},
        "revisionHistoryLimit": 5,
        # Never below the wanted capacity during a rollout: surge one pod, take none away.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {"metadata": {"labels": dict(labels), "annotations": pod_annotations}, "spec": pod_spec},
    }
    if svc.autoscaling is None:
        # With an HPA the replica count is the HPA's field: applying it here would fight the HPA.
        deployment_spec = {"replicas": svc.replicas, **deployment_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": inst.service(component),
            "namespace": inst.namespace,
            "labels": labels,
            "annotations": {VERSION_ANNOTATION: version, IMAGE_ANNOTATION: image},
        },
        "spec": deployment_spec,
    }
