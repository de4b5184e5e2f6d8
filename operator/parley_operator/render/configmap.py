"""The one ConfigMap every service reads (envFrom): what every service's settings share.

Only names the services' settings read (a contract test in tests/contract builds each service's
settings from what is rendered and fails on any other name): where Kafka is and the installation's
topic and Redis key prefixes, how tokens are verified (the auth Service's cluster DNS name as issuer
and JWKS URL), and the log level. A setting of one service goes in that service's container env
(deployments.py); secrets (DSNs, credentials) never go here, they reach each service as secretKeyRef
env vars or mounted files.
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
    }


def service_env(inp: RenderInput, service: str) -> dict[str, str]:
    """Plain settings of one service, in its container's env."""
    auth = inp.spec.auth
    if service == "auth":
        return {
            "PARLEY_AUTH_ACCESS_TOKEN_TTL_SECONDS": _seconds(auth.access_token_lifetime),
            "PARLEY_AUTH_REFRESH_TOKEN_TTL_SECONDS": _seconds(auth.refresh_token_lifetime),
        }
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
