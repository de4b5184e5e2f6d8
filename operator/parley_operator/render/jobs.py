"""The schema migration Job (`parley migrate`) that runs before a version's services roll out."""

from __future__ import annotations

from typing import Any

from parley_operator.names import VERSION_ANNOTATION
from parley_operator.render.context import RenderInput
from parley_operator.render.pods import (
    SERVICE_NEEDS,
    container_security,
    pod_security,
    pull_secrets,
    secret_envs,
    volume_mounts,
    volumes,
)


def render_migration_job(inp: RenderInput) -> list[dict[str, Any]]:
    release = inp.migration
    if release is None:
        return []
    inst, spec = inp.installation, inp.spec
    needs = SERVICE_NEEDS["migrate"]
    labels = inst.labels("migrate", release.version)
    pod_spec: dict[str, Any] = {
        "serviceAccountName": inst.service_account,
        "automountServiceAccountToken": False,
        "restartPolicy": "Never",
        "securityContext": pod_security(),
        "containers": [
            {
                "name": "migrate",
                "image": release.image,
                "imagePullPolicy": spec.image.pull_policy.value,
                "command": ["parley"],
                "args": ["migrate"],
                "envFrom": [{"configMapRef": {"name": inst.config_map}}],
                "env": [{"name": "PARLEY_SERVICE_NAME", "value": "migrate"}, *secret_envs(spec, needs)],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
                "securityContext": container_security(),
                "volumeMounts": volume_mounts(needs),
            }
        ],
        "volumes": volumes(spec, inst, needs),
    }
    if spec.image.pull_secrets:
        pod_spec["imagePullSecrets"] = pull_secrets(spec)
    return [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": inst.migration_job(release.version),
                "namespace": inst.namespace,
                "labels": labels,
                "annotations": {VERSION_ANNOTATION: release.version},
            },
            "spec": {
                "backoffLimit": 3,
                "activeDeadlineSeconds": 1800,
                "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
            },
        }
    ]
