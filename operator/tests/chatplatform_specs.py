"""Specs the tests share: the smallest valid one, a full one, and specs that must be refused.

BAD_SPECS is meant for both sides of each rule: the Python models refuse them here, and the live
tests (against a real kube-apiserver) check the CRD's CEL rules refuse them with the same message.
"""

from __future__ import annotations

import copy
from typing import Any

from parley_operator.api.spec import SERVICE_NAMES, Topics
from pydantic.alias_generators import to_camel

NAMESPACE = "chat"
NAME = "acme"

REQUIRED: dict[str, Any] = {
    "version": "1.4.0",
    "kafka": {"bootstrapServers": "kafka-0.kafka:9092,kafka-1.kafka:9092"},
    "postgres": {"secretName": "parley-postgres"},
    "redis": {"secretName": "parley-redis"},
    "s3": {"secretName": "parley-s3"},
    "opensearch": {"secretName": "parley-opensearch"},
}
"""Only what has no default: every other field takes the CRD's defaults."""

MINIMAL: dict[str, Any] = {
    **REQUIRED,
    "deletionPolicy": "Delete",
    "services": {
        name: {"replicas": 1, "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}
        for name in SERVICE_NAMES
    },
    "kafka": {
        "bootstrapServers": "127.0.0.1:9092",
        "topics": {
            topic: {"partitions": 1, "replicationFactor": 1}
            for topic in (to_camel(name) for name in Topics.model_fields)
        },
    },
    "opensearch": {"secretName": "parley-opensearch", "numberOfReplicas": 0},
    "observability": {"metrics": {"scrapeAnnotations": False}},
}
"""A one-node footprint: one replica of everything, single-partition topics, no replicas."""

FULL: dict[str, Any] = {
    **REQUIRED,
    "image": {"repository": "registry.example/parley", "tag": "1.4.0-rc1", "pullSecrets": ["regcred"]},
    "services": {
        "gateway": {
            "replicas": 3,
            "autoscaling": {"minReplicas": 3, "maxReplicas": 10},
            "podDisruptionBudget": {"maxUnavailable": 1},
        },
        "socket": {
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": 1073741824}},
            "autoscaling": {"minReplicas": 2, "maxReplicas": 20, "targetConnectionsPerPod": 5000},
            "podDisruptionBudget": {"maxUnavailable": 1},
        },
        "consumer": {"replicas": 4, "podDisruptionBudget": {"maxUnavailable": 2}},
    },
    "kafka": {
        "bootstrapServers": "kafka:9092",
        "topics": {"commands": {"partitions": 24, "retentionHours": 168}},
    },
    "s3": {
        "secretName": "parley-s3",
        "endpointKey": "url",
        "bucket": "acme-attachments",
        "region": "eu-central-1",
        "abortIncompleteUploadsAfterDays": 3,
    },
    "auth": {
        "accessTokenLifetime": "10m",
        "refreshTokenLifetime": "168h",
        "signingKey": {"secretName": "acme-jwt", "key": "private.pem"},
    },
    "notification": {
        "email": {
            "smtpHost": "smtp.example",
            "fromAddress": "noreply@acme.example",
            "credentials": {"secretName": "acme-smtp"},
        },
        "sms": {"url": "https://sms.example/api/send", "secretName": "acme-sms"},
        "digestInterval": "30m",
    },
    "ingress": {
        "host": "chat.acme.example",
        "className": "nginx",
        "tls": {"secretName": "chat-acme-tls"},
        "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"},
    },
    "observability": {
        "otlpEndpoint": "http://otel-collector.monitoring:4318",
        "logLevel": "DEBUG",
        "traceSampleRatio": 0.1,
        "metrics": {"prometheusOperator": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}}},
    },
}


def with_change(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `base` with the dotted `path` set to `value`."""
    spec = copy.deepcopy(base)
    node = spec
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return spec


BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    (
        "a Prometheus label key with a space",
        with_change(REQUIRED, "observability.metrics.prometheusOperator.labels", {"team name": "chat"}),
        "label keys must be Kubernetes label keys",
    ),
    (
        "autoscaling min above max",
        with_change(REQUIRED, "services.api.autoscaling", {"minReplicas": 5, "maxReplicas": 2}),
        "autoscaling.minReplicas must not exceed autoscaling.maxReplicas",
    ),
    (
        "secret name with capitals",
        with_change(REQUIRED, "postgres.secretName", "Parley_Postgres"),
        "must be a Secret name",
    ),
    (
        "secret key with a slash",
        with_change(REQUIRED, "redis.urlKey", "redis/url"),
        "must be a Secret key",
    ),
    (
        "access token outliving the refresh token",
        with_change(REQUIRED, "auth", {"accessTokenLifetime": "48h", "refreshTokenLifetime": "24h"}),
        "auth.accessTokenLifetime must be shorter than auth.refreshTokenLifetime",
    ),
    (
        "duration without a unit",
        with_change(REQUIRED, "auth.accessTokenLifetime", "900"),
        "must be a duration",
    ),
    (
        "version that is not semantic",
        with_change(REQUIRED, "version", "latest"),
        "version must be a semantic version",
    ),
    (
        "generated signing key secret name malformed",
        with_change(REQUIRED, "auth.signingKey", {"secretName": "-bad-"}),
        "must be a Secret name",
    ),
    (
        "trusted proxy not a CIDR",
        with_change(REQUIRED, "entryPoint.trustedProxies", ["10.0.0.0"]),
        "must be a CIDR",
    ),
]

GATEWAY_API: dict[str, Any] = {
    **REQUIRED,
    "entryPoint": {
        "gatewayRef": {"name": "public", "namespace": "gateways", "sectionName": "https"},
        "hostnames": ["chat.example.org"],
        "envoyGatewayPolicies": True,
        "rateLimit": {"requestsPerSecond": 20, "burst": 40},
    },
}
"""Routes on a user's Gateway (Envoy Gateway, with its JWT and rate-limit policies): no own Envoy."""
