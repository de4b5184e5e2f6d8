"""The one ConfigMap every service reads (envFrom): what every service's settings share.

Only names the services' settings read (a contract test in tests/contract builds each service's
settings from what is rendered and fails on any other name): where Kafka is and the installation's
topic and Redis key prefixes, how tokens are verified (the auth Service's cluster DNS name as issuer
and JWKS URL), which proxies' X-Forwarded-For to believe, the log level, and where traces go. A
setting of one service goes in that service's container env (deployments.py); secrets (DSNs,
credentials) never go here, they reach each service as secretKeyRef env vars or mounted files.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from parley_operator.api.durations import parse_duration
from parley_operator.names import Installation
from parley_operator.render import entry
from parley_operator.render.context import RenderInput

JWKS_PATH = "/.well-known/jwks.json"


def public_url(inp: RenderInput) -> str:
    """Where clients reach the platform (the status's endpoint)."""
    return entry.public_url(inp.spec, inp.installation)


def auth_issuer(inst: Installation) -> str:
    """The `iss` of access tokens, and where the others fetch the keys from: the auth Service."""
    return inst.service_url("auth")


def config_data(inp: RenderInput) -> dict[str, str]:
    spec, inst = inp.spec, inp.installation
    return {
        "PARLEY_LOG_LEVEL": spec.observability.log_level.value,
        "PARLEY_KAFKA_BOOTSTRAP": spec.kafka.bootstrap_servers,
        # Topics are `<prefix>.<topic>.v1` (names.py and parley.common.topics agree, a test checks).
        "PARLEY_KAFKA_TOPIC_PREFIX": inst.prefix,
        # Two installations may share a Redis: every key starts with the installation's prefix.
        "PARLEY_REDIS_KEY_PREFIX": f"{inst.prefix}:",
        "PARLEY_AUTH_ISSUER": auth_issuer(inst),
        "PARLEY_AUTH_AUDIENCE": inst.prefix,
        "PARLEY_AUTH_JWKS_URL": f"{auth_issuer(inst)}{JWKS_PATH}",
        "PARLEY_TRUSTED_PROXIES": json.dumps(spec.entry_point.trusted_proxies),
        **trace_settings(inp),
    }


def trace_settings(inp: RenderInput) -> dict[str, str]:
    """Traces to the ChatPlatform's OTLP/HTTP collector, when it names one, and the share of new
    traces recorded (docs/observability.md)."""
    observability = inp.spec.observability
    ratio = {"PARLEY_TRACE_SAMPLE_RATIO": repr(observability.trace_sample_ratio)}
    endpoint = observability.otlp_endpoint
    if endpoint is None:
        return ratio
    return {
        "PARLEY_TRACE_EXPORTER": "otlp",
        "PARLEY_TRACE_ENDPOINT": f"{endpoint.rstrip('/')}/v1/traces",
        **ratio,
    }


def service_env(inp: RenderInput, service: str) -> dict[str, str]:
    """Plain settings of one service, in its container's env."""
    auth = inp.spec.auth
    if service == "auth":
        return {
            "PARLEY_AUTH_ACCESS_TOKEN_TTL_SECONDS": _seconds(auth.access_token_lifetime),
            "PARLEY_AUTH_REFRESH_TOKEN_TTL_SECONDS": _seconds(auth.refresh_token_lifetime),
        }
    if service == "search":
        # The alias and index generations the operator names (and deletes with the platform).
        return {"PARLEY_SEARCH_INDEX_PREFIX": inp.installation.prefix}
    if service == "storage":
        return storage_env(inp)
    if service == "notification":
        notification = inp.spec.notification
        env = {
            "PARLEY_NOTIFICATION_DELAY_SECONDS": _seconds(notification.delay),
            "PARLEY_NOTIFICATION_URGENT_DELAY_SECONDS": _seconds(notification.urgent_delay),
            "PARLEY_NOTIFICATION_DIGEST_INTERVAL_SECONDS": _seconds(notification.digest_interval),
            "PARLEY_NOTIFICATION_PUBLIC_URL": public_url(inp),
        }
        email = notification.email
        if email is None:
            env["PARLEY_NOTIFICATION_EMAIL_ENABLED"] = "false"
        else:
            env |= {
                "PARLEY_SMTP_HOST": email.smtp_host,
                "PARLEY_SMTP_PORT": str(email.smtp_port),
                "PARLEY_SMTP_FROM": email.from_address,
                "PARLEY_SMTP_TLS": "starttls" if email.starttls else "none",
            }
        return env
    return {}


MiB = 1024 * 1024


def storage_env(inp: RenderInput) -> dict[str, str]:
    """The bucket the operator provisions, the limits of spec.storage, and the S3 address clients
    use. The service sets the bucket's CORS rule at start, for the platform's public origin (the
    browser uploads straight to S3 from the web client's page)."""
    spec, inst = inp.spec, inp.installation
    storage = spec.storage
    env = {
        "PARLEY_S3_BUCKET": spec.s3.bucket or inst.default_bucket,
        "PARLEY_S3_REGION": spec.s3.region,
        "PARLEY_S3_SET_CORS": "true",
        "PARLEY_S3_CORS_ORIGINS": json.dumps([public_url(inp).rstrip("/")]),
        "PARLEY_STORAGE_MAX_FILE_BYTES": str(storage.max_file_megabytes * MiB),
        "PARLEY_STORAGE_QUOTA_BYTES": str(storage.quota_megabytes_per_user * MiB),
        "PARLEY_STORAGE_UPLOADS_PER_MINUTE": str(storage.uploads_per_minute),
    }
    if spec.s3.public_endpoint:
        env["PARLEY_S3_PUBLIC_ENDPOINT"] = spec.s3.public_endpoint.rstrip("/")
    if storage.clamd_address:
        env["PARLEY_STORAGE_CLAMD_ADDRESS"] = storage.clamd_address
    return env


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
