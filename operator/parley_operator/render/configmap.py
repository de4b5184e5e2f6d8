"""The one ConfigMap every service reads (envFrom): peers' URLs, topic names and plain settings.

Secrets (DSNs, credentials) never go here; they reach each service as secretKeyRef env vars.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from parley_operator.api.durations import parse_duration
from parley_operator.names import TOPICS, Installation
from parley_operator.render import entry
from parley_operator.render.context import RenderInput


def env_name(text: str) -> str:
    return text.upper().replace(".", "_").replace("-", "_")


def bucket_name(inp: RenderInput) -> str:
    return inp.spec.s3.bucket or inp.installation.default_bucket


def public_url(inp: RenderInput) -> str:
    return entry.public_url(inp.spec, inp.installation)


def config_data(inp: RenderInput) -> dict[str, str]:
    spec, inst = inp.spec, inp.installation
    data: dict[str, str] = {
        "PARLEY_PLATFORM": inst.name,
        "PARLEY_NAMESPACE": inst.namespace,
        "PARLEY_PUBLIC_URL": public_url(inp),
        # The tokens' issuer is the origin; the services fetch the keys inside the cluster.
        "PARLEY_AUTH_ISSUER": public_url(inp),
        "PARLEY_AUTH_JWKS_URL": entry.jwks_url(inst),
        "PARLEY_LOG_LEVEL": spec.observability.log_level.value,
    }
    data |= {f"PARLEY_{env_name(svc)}_URL": inst.service_url(svc) for svc in spec.deployed_services()}
    data |= {
        "PARLEY_KAFKA_BOOTSTRAP": spec.kafka.bootstrap_servers,
        "PARLEY_KAFKA_TOPIC_PREFIX": inst.prefix,
    }
    data |= {f"PARLEY_TOPIC_{env_name(topic)}": inst.topic(topic) for topic in TOPICS}
    data |= {
        "PARLEY_S3_BUCKET": bucket_name(inp),
        "PARLEY_S3_REGION": spec.s3.region,
        # For the storage service's own sweep where the S3 server has no lifecycle API.
        "PARLEY_S3_ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS": str(spec.s3.abort_incomplete_uploads_after_days),
        "PARLEY_OPENSEARCH_INDEX_ALIAS": inst.messages_alias,
        "PARLEY_ACCESS_TOKEN_TTL_SECONDS": _seconds(spec.auth.access_token_lifetime),
        "PARLEY_REFRESH_TOKEN_TTL_SECONDS": _seconds(spec.auth.refresh_token_lifetime),
        "PARLEY_NOTIFICATION_DIGEST_SECONDS": _seconds(spec.notification.digest_interval),
    }
    email = spec.notification.email
    if email is not None:
        data |= {
            "PARLEY_SMTP_HOST": email.smtp_host,
            "PARLEY_SMTP_PORT": str(email.smtp_port),
            "PARLEY_SMTP_FROM": email.from_address,
            "PARLEY_SMTP_STARTTLS": "true" if email.starttls else "false",
        }
    if spec.notification.sms is not None:
        data["PARLEY_SMS_URL"] = spec.notification.sms.url
    if spec.observability.otlp_endpoint is not None:
        data["PARLEY_OTLP_ENDPOINT"] = spec.observability.otlp_endpoint
    return data


def _seconds(duration: str) -> str:
    return str(int(parse_duration(duration).total_seconds()))


def config_hash(data: dict[str, str]) -> str:
    """Goes into each pod template, so a config change rolls the pods that read it at start."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def render_configmap(inp: RenderInput) -> list[dict[str, Any]]:
    inst: Installation = inp.installation
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": inst.config_map, "namespace": inst.namespace, "labels": inst.labels()},
            "data": config_data(inp),
        }
    ]
