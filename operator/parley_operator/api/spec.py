"""ChatPlatform spec (parley.dev/v1alpha1): the one source of the CRD schema and of the handlers' parsing.

Docstrings of fields become the CRD's descriptions (`kubectl explain chatplatform.spec...`).
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, WithJsonSchema

from parley_operator.api.durations import DURATION_PATTERN, parse_duration
from parley_operator.api.rules import Rule, SpecModel, field_rule, nested, regex_rule

SERVICE_NAMES = (
    "gateway",
    "auth",
    "api",
    "socket",
    "consumer",
    "presence",
    "storage",
    "notification",
    "web",
    "search",
)
"""The services the operator deploys: those the image has (`parley serve`) and the gateway (Envoy).
A new service goes here and in `Services`."""

# RFC 1123 subdomain (Secret names) and Secret data keys, as the apiserver checks them.
DNS_SUBDOMAIN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY = "^[-._a-zA-Z0-9]+$"

SecretName = Annotated[
    str,
    Field(min_length=1, max_length=253),
    *field_rule(regex_rule(DNS_SUBDOMAIN, "must be a Secret name: lowercase letters, digits, '-' and '.'")),
]
SecretKey = Annotated[
    str,
    Field(min_length=1, max_length=253),
    *field_rule(regex_rule(SECRET_KEY, "must be a Secret key: letters, digits, '-', '_' and '.'")),
]
Duration = Annotated[
    str,
    Field(max_length=32),
    *field_rule(regex_rule(DURATION_PATTERN, "must be a duration such as 15m, 1h30m or 720h")),
]
# The shape of an IPv4 or IPv6 CIDR for the apiserver (CEL's isCIDR needs Kubernetes 1.31; the
# chart supports 1.29); Python checks the address itself.
CIDR_SHAPE = "^[0-9a-fA-F:.]+/[0-9]{1,3}$"


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return re.fullmatch(CIDR_SHAPE, value) is not None


Cidr = Annotated[
    str,
    Field(min_length=3, max_length=49),
    *field_rule(
        Rule(
            cel=f"self.matches('{CIDR_SHAPE}')",
            message="must be a CIDR such as 10.0.0.0/8 or fd00::/8",
            check=_is_cidr,
        )
    ),
]
# Where a cluster's pods and the proxies in front of them live, unless the user says otherwise.
PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
QUANTITY_PATTERN = "^[0-9]+([.][0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$"


def _quantity(value: int | str) -> int | str:
    if (isinstance(value, int) and value < 0) or (
        isinstance(value, str) and not re.fullmatch(QUANTITY_PATTERN, value)
    ):
        raise ValueError(f"not a resource quantity such as 250m, 128Mi or 2: {value!r}")
    return value


Quantity = Annotated[
    int | str,
    AfterValidator(_quantity),
    # The apiserver accepts int-or-string only as exactly this anyOf; the format goes in a rule.
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "maxLength": 32,
            "x-kubernetes-validations": [
                {
                    "rule": f"type(self) == int ? self >= 0 : self.matches('{QUANTITY_PATTERN}')",
                    "message": "must be a resource quantity such as 250m, 128Mi or 2",
                }
            ],
        }
    ),
]


class DeletionPolicy(StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


class PullPolicy(StrEnum):
    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class ImageSpec(SpecModel):
    repository: str = Field("parley", min_length=1, max_length=255)
    """Image repository of the Parley services (one image runs every service)."""
    tag: str | None = Field(None, max_length=128, pattern="^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    """Image tag; defaults to spec.version."""
    pull_policy: PullPolicy = PullPolicy.IF_NOT_PRESENT
    pull_secrets: list[Annotated[str, Field(max_length=253)]] = Field(default_factory=list, max_length=16)
    """Names of image pull Secrets in the platform's namespace."""


class Resources(SpecModel):
    """Container resources, as in a Pod spec."""

    requests: dict[str, Quantity] = Field(default_factory=dict, max_length=8)
    limits: dict[str, Quantity] = Field(default_factory=dict, max_length=8)


class Autoscaling(SpecModel):
    """A HorizontalPodAutoscaler for the service; spec replicas are then left to it."""

    rules = (
        Rule(
            "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
            "autoscaling.minReplicas must not exceed autoscaling.maxReplicas",
            lambda s: s.min_replicas <= s.max_replicas,
        ),
    )
    min_replicas: int = Field(2, ge=1, le=1000)
    max_replicas: int = Field(ge=1, le=1000)
    target_cpu_utilization_percentage: int = Field(75, ge=1, le=1000, alias="targetCPUUtilizationPercentage")
    """Average CPU use, in percent of the requested CPU, that the autoscaler aims at."""


class SocketAutoscaling(Autoscaling):
    target_connections_per_pod: int | None = Field(None, ge=1, le=1_000_000)
    """Open WebSocket connections per pod to stay under. When set, the operator scales the socket
    Deployment itself between minReplicas and maxReplicas, from the `parley_socket_open_connections`
    gauge it reads on each socket pod's /metrics (through the apiserver's pod proxy); no
    HorizontalPodAutoscaler is made for socket then, and the CPU target is not used."""


class DisruptionBudget(SpecModel):
    """A PodDisruptionBudget for the service."""

    max_unavailable: int = Field(1, ge=1, le=1000)
    """Pods that voluntary disruptions (node drains) may take down at once."""


def _default_resources() -> Resources:
    return Resources(requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "512Mi"})


class ServiceSpec(SpecModel):
    replicas: int = Field(2, ge=0, le=1000)
    """Replicas when no autoscaling is configured."""
    resources: Resources = Field(
        default_factory=_default_resources,
        json_schema_extra={
            "default": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
        },
    )
    autoscaling: Autoscaling | None = None
    pod_disruption_budget: DisruptionBudget | None = None


class SocketServiceSpec(ServiceSpec):
    autoscaling: SocketAutoscaling | None = None


class Services(SpecModel):
    """Per-service settings; every service runs from the same image as `parley serve <service>`, but
    the gateway, which is the entry point's Envoy (see entryPoint)."""

    gateway: ServiceSpec = nested(ServiceSpec)
    """The operator's own Envoy in front of the services (entryPoint). Not deployed when
    entryPoint.gatewayRef names a Gateway: that Gateway serves the routes then."""
    auth: ServiceSpec = nested(ServiceSpec)
    api: ServiceSpec = nested(ServiceSpec)
    socket: SocketServiceSpec = nested(SocketServiceSpec)
    consumer: ServiceSpec = nested(ServiceSpec)
    presence: ServiceSpec = nested(ServiceSpec)
    storage: ServiceSpec = nested(ServiceSpec)
    """Attachments (`parley serve storage`): presigned uploads and downloads, scans, previews."""
    notification: ServiceSpec = nested(ServiceSpec)
    """Email digests for members who are away (`parley serve notification`); see `notification`."""
    web: ServiceSpec = nested(ServiceSpec)
    """The static file server of the web client (`parley serve web`), behind the entry point at `/`."""
    search: ServiceSpec = nested(ServiceSpec)
    """Message search (`parley serve search`): indexes the events topic into OpenSearch, answers
    `/api/search`."""

    def by_name(self) -> dict[str, ServiceSpec]:
        return {name: getattr(self, name) for name in SERVICE_NAMES}


class TopicSpec(SpecModel):
    partitions: int = Field(6, ge=1, le=10_000)
    """Partitions; they can grow, never shrink (a smaller number is reported, not applied)."""
    replication_factor: (
        Annotated[
            int,
            Field(ge=1, le=32),
            Field(
                json_schema_extra={
                    "x-kubernetes-validations": [
                        Rule(
                            "self == oldSelf", "replicationFactor cannot change once the topic exists"
                        ).schema()
                    ]
                }
            ),
        ]
        | None
    ) = None
    """Replicas per partition; unset: as many as there are brokers, at most 3, chosen at creation."""
    retention_hours: int | None = Field(None, ge=1, le=87_600)
    """retention.ms of the topic; the broker's default when unset."""


# Each topic's own default partitions are in its model, so a topic given only some fields (say a
# replicationFactor) keeps the partitions it would have had without them.


class WideTopicSpec(TopicSpec):
    """The busy topics (commands, events): 12 partitions by default."""

    partitions: int = Field(12, ge=1, le=10_000)
    """Partitions; they can grow, never shrink (a smaller number is reported, not applied)."""


class DeadLetterTopicSpec(TopicSpec):
    """The dead-letter topic: 1 partition by default."""

    partitions: int = Field(1, ge=1, le=10_000)
    """Partitions; they can grow, never shrink (a smaller number is reported, not applied)."""


class Topics(SpecModel):
    """Topic sizing; names are `<namespace>.<platform>.<topic>.v1`."""

    commands: WideTopicSpec = nested(WideTopicSpec)
    events: WideTopicSpec = nested(WideTopicSpec)
    connections: TopicSpec = nested(TopicSpec)
    presence: TopicSpec = nested(TopicSpec)
    notifications: TopicSpec = nested(TopicSpec)
    notifications_dlq: DeadLetterTopicSpec = nested(DeadLetterTopicSpec)
    attachments_jobs: TopicSpec = nested(TopicSpec)
    """Completed uploads for the storage service to scan and preview (`attachments.jobs`)."""


class KafkaSpec(SpecModel):
    bootstrap_servers: str = Field(
        min_length=1, max_length=1024, pattern="^[^,:]+:[0-9]{1,5}(,[^,:]+:[0-9]{1,5})*$"
    )
    """Comma-separated host:port list of the Kafka brokers."""
    topics: Topics = nested(Topics)


class PostgresSpec(SpecModel):
    secret_name: SecretName
    """Secret holding the PostgreSQL DSN."""
    dsn_key: SecretKey = "dsn"


class RedisSpec(SpecModel):
    secret_name: SecretName
    """Secret holding the Redis URL."""
    url_key: SecretKey = "url"


class S3Spec(SpecModel):
    secret_name: SecretName
    """Secret holding the S3 endpoint URL and credentials."""
    endpoint_key: SecretKey = "endpoint"
    access_key_key: SecretKey = "accessKey"
    secret_key_key: SecretKey = "secretKey"
    region: str = Field("us-east-1", min_length=1, max_length=64)
    bucket: str | None = Field(
        None, min_length=3, max_length=63, pattern="^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
    )
    """Bucket name; defaults to `parley-<namespace>-<platform>`."""
    abort_incomplete_uploads_after_days: int = Field(1, ge=1, le=365)
    """Lifecycle rule: multipart uploads left unfinished this long are aborted."""
    public_endpoint: str | None = Field(None, max_length=2048, pattern="^https?://[^/?#]+/?$")
    """Where browsers reach the S3 server (scheme and host), when not at the Secret's endpoint: the
    storage service signs the upload and download URLs it hands out for this address, and the
    entry point's Content-Security-Policy allows uploads to it."""


class StorageSpec(SpecModel):
    """Attachments: limits of the storage service."""

    max_file_megabytes: int = Field(100, ge=1, le=5_000_000)
    """Largest attachment, in MiB."""
    quota_megabytes_per_user: int = Field(2048, ge=1, le=100_000_000)
    """What one user's attachments may take up together, in MiB."""
    uploads_per_minute: int = Field(60, ge=1, le=100_000)
    """Uploads one user may start per minute."""
    clamd_address: str | None = Field(None, max_length=255, pattern="^[^:/ ]+:[0-9]{1,5}$")
    """host:port of a clamd that attachments are scanned with (INSTREAM) before anyone can read
    them; unset: attachments become readable unscanned (and say so)."""


class OpenSearchSpec(SpecModel):
    secret_name: SecretName
    """Secret holding the OpenSearch URL (credentials, if any, in the URL)."""
    url_key: SecretKey = "url"
    number_of_shards: int = Field(1, ge=1, le=1024)
    number_of_replicas: int = Field(1, ge=0, le=16)


class SigningKeySpec(SpecModel):
    secret_name: SecretName | None = None
    """Secret holding the RS256 private key (PEM); when unset the operator generates
    `<platform>-signing-key` once and never overwrites it."""
    key: SecretKey = "signing-key.pem"


class MigrationSpec(SpecModel):
    """The schema migration Job (`parley migrate`) run before a new version's services roll out."""

    backoff_limit: int = Field(3, ge=0, le=10)
    """Failed attempts retried before the Job counts as failed and the rollout stops; 0 for
    migrations that must not run twice."""


def _shorter(first: str, second: str) -> bool:
    return parse_duration(first) < parse_duration(second)


class AuthSpec(SpecModel):
    rules = (
        Rule(
            # has(): the apiserver also checks the CRD's default ({}), before nested defaults apply.
            # matches(): a malformed duration is reported by its field's rule, not as a CEL error here.
            "!has(self.accessTokenLifetime) || !has(self.refreshTokenLifetime)"
            f" || !self.accessTokenLifetime.matches('{DURATION_PATTERN}')"
            f" || !self.refreshTokenLifetime.matches('{DURATION_PATTERN}')"
            " || duration(self.accessTokenLifetime) < duration(self.refreshTokenLifetime)",
            "auth.accessTokenLifetime must be shorter than auth.refreshTokenLifetime",
            lambda s: _shorter(s.access_token_lifetime, s.refresh_token_lifetime),
        ),
    )
    access_token_lifetime: Duration = "15m"
    refresh_token_lifetime: Duration = "720h"
    signing_key: SigningKeySpec = nested(SigningKeySpec)


class SmtpCredentials(SpecModel):
    secret_name: SecretName
    username_key: SecretKey = "username"
    password_key: SecretKey = "password"


class EmailSpec(SpecModel):
    smtp_host: str = Field(min_length=1, max_length=253)
    smtp_port: int = Field(587, ge=1, le=65535)
    from_address: str = Field(max_length=254, pattern="^[^@ ]+@[^@ ]+$")
    starttls: bool = True
    credentials: SmtpCredentials | None = None


class SmsSpec(SpecModel):
    url: str = Field(max_length=2048, pattern="^https?://.+$")
    """HTTP endpoint of the SMS provider."""
    secret_name: SecretName | None = None
    """Secret holding the provider's API token."""
    token_key: SecretKey = "token"


class NotificationSpec(SpecModel):
    email: EmailSpec | None = None
    """The SMTP server digests go through; without it no email is sent."""
    sms: SmsSpec | None = None
    """Accepted but not rendered yet: the notification pods run with SMS off (docs/notification.md)."""
    digest_interval: Duration = "15m"
    """At most one digest per user in this interval."""
    delay: Duration = "5m"
    """How long a group message may stay unread before a member who is away is told."""
    urgent_delay: Duration = "1m"
    """The same for direct messages and mentions."""


class IngressTLS(SpecModel):
    secret_name: SecretName
    """TLS Secret (kubernetes.io/tls) for the host."""


class IngressSpec(SpecModel):
    """An Ingress to the gateway (the operator's own Envoy), the only service reachable from outside
    the namespace. Not used with entryPoint.gatewayRef."""

    host: str = Field(
        max_length=253,
        pattern="^(\\*[.])?[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    )
    class_name: str | None = Field(None, max_length=253)
    tls: IngressTLS | None = None
    annotations: dict[str, str] = Field(default_factory=dict)


DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
HOSTNAME = "^(\\*[.])?[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class GatewayRef(SpecModel):
    """A Gateway (Gateway API) the platform's HTTPRoutes attach to."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)
    namespace: str | None = Field(None, min_length=1, max_length=63, pattern=DNS_LABEL)
    """Namespace of the Gateway; the platform's own when unset (the Gateway must allow routes from it)."""
    section_name: str | None = Field(None, min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)
    """One listener of the Gateway; all of them when unset."""


class EdgeRateLimit(SpecModel):
    """Requests per client address at the edge (a token bucket); more are answered 429."""

    rules = (
        Rule(
            "!has(self.requestsPerSecond) || !has(self.burst) || self.requestsPerSecond <= self.burst",
            "entryPoint.rateLimit.requestsPerSecond must not exceed entryPoint.rateLimit.burst",
            lambda s: s.requests_per_second <= s.burst,
        ),
    )
    requests_per_second: int = Field(50, ge=1, le=1_000_000)
    burst: int = Field(100, ge=1, le=1_000_000)


class EnvoyImage(SpecModel):
    repository: str = Field("parley-envoy", min_length=1, max_length=255)
    """Image of the operator's own Envoy (envoy/Dockerfile); pulled with spec.image's policy and secrets."""
    tag: str | None = Field(None, max_length=128, pattern="^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    """Defaults to spec.image.tag (the services' images are built with it), else spec.version."""


class EntryPointSpec(SpecModel):
    """The one origin clients use: `/` the web client, `/auth`, `/api` and `/ws` the services, with a
    JWT check, rate limits and size limits at the edge. Served by the operator's own Envoy (the
    gateway, optionally behind the Ingress), or by a Gateway API implementation when gatewayRef is set."""

    gateway_ref: GatewayRef | None = None
    """Attach HTTPRoutes to this Gateway instead of running the operator's own Envoy."""
    hostnames: list[Annotated[str, Field(max_length=253, pattern=HOSTNAME)]] = Field(
        default_factory=list, max_length=16
    )
    """Hostnames of the HTTPRoutes (with gatewayRef); all of the Gateway's when empty."""
    envoy_gateway_policies: bool = False
    """With gatewayRef, and Envoy Gateway as the implementation: also render its SecurityPolicy (the
    JWT check) and BackendTrafficPolicy (the rate limit) for the routes."""
    rate_limit: EdgeRateLimit = nested(EdgeRateLimit)
    max_request_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    """Larger request bodies are refused (413) at the edge."""
    envoy_image: EnvoyImage = nested(EnvoyImage)
    trusted_proxies: list[Cidr] = Field(
        default_factory=lambda: list(PRIVATE_NETWORKS),
        max_length=32,
        json_schema_extra={"default": list(PRIVATE_NETWORKS)},
    )
    """Addresses of the proxies (the entry point's Envoy, a Gateway's, an Ingress controller) whose
    X-Forwarded-For the services believe, so that per-address limits see the client, not the proxy.
    By default the private ranges: the NetworkPolicies admit only the installation's own pods and
    the edge to the services. Narrow it to the pod network's CIDR where other pods could forge it."""

    @property
    def own_envoy(self) -> bool:
        return self.gateway_ref is None


LABEL_KEY = (
    "^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    "[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
LABEL_VALUE = "^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"
_LABEL_KEY = re.compile(LABEL_KEY)

LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE)]
Labels = Annotated[
    dict[str, LabelValue],
    Field(max_length=16),
    # Keys: a CEL rule (the CRD schema has no patternProperties), checked the same in Python.
    *field_rule(
        Rule(
            cel=f"self.all(k, k.size() <= 316 && k.matches('{LABEL_KEY}'))",
            message="label keys must be Kubernetes label keys such as release or example.org/team",
            check=lambda labels: all(len(k) <= 316 and _LABEL_KEY.fullmatch(k) for k in labels),
        )
    ),
]


class PrometheusOperatorSpec(SpecModel):
    """Objects of the Prometheus Operator (monitoring.coreos.com/v1): a ServiceMonitor per service, a
    PodMonitor for the gateway's Envoy pods and a PrometheusRule with Parley's recording rules and
    alerts. Skipped, and said so in the Monitoring condition, when the cluster does not serve
    those kinds."""

    enabled: bool = False
    labels: Labels = Field(default_factory=dict)
    """Labels added to those objects, so that a Prometheus's serviceMonitorSelector,
    podMonitorSelector and ruleSelector pick them (e.g. `release: kube-prometheus-stack`)."""


class MetricsSpec(SpecModel):
    scrape_annotations: bool = True
    """Annotate pods with prometheus.io/scrape, port and path (/metrics on port 8000)."""
    prometheus_operator: PrometheusOperatorSpec = nested(PrometheusOperatorSpec)


class ObservabilitySpec(SpecModel):
    otlp_endpoint: str | None = Field(None, max_length=2048, pattern="^https?://.+$")
    """OpenTelemetry collector (OTLP/HTTP) the services export traces to."""
    trace_sample_ratio: float = Field(0.01, ge=0.0, le=1.0)
    """Share of new traces the services record (PARLEY_TRACE_SAMPLE_RATIO; the spans of a recorded
    trace follow it through Kafka and Redis). 0.01 by default: docs/observability.md has the cost."""
    log_level: LogLevel = LogLevel.INFO
    metrics: MetricsSpec = nested(MetricsSpec)


VERSION_PATTERN = "^v?[0-9]+[.][0-9]+[.][0-9]+(-[0-9A-Za-z.-]+)?([+][0-9A-Za-z.-]+)?$"


class ChatPlatformSpec(SpecModel):
    """One Parley installation."""

    version: Annotated[
        str,
        Field(max_length=63),
        *field_rule(regex_rule(VERSION_PATTERN, "version must be a semantic version such as 1.4.0")),
    ]
    """Parley version; changing it runs the schema migration Job before the services roll."""
    image: ImageSpec = nested(ImageSpec)
    deletion_policy: DeletionPolicy = DeletionPolicy.RETAIN
    """Retain keeps topics, bucket and indices when the ChatPlatform is deleted; Delete removes them."""
    migration: MigrationSpec = nested(MigrationSpec)
    services: Services = nested(Services)
    kafka: KafkaSpec
    postgres: PostgresSpec
    redis: RedisSpec
    s3: S3Spec
    opensearch: OpenSearchSpec
    auth: AuthSpec = nested(AuthSpec)
    notification: NotificationSpec = nested(NotificationSpec)
    storage: StorageSpec = nested(StorageSpec)
    ingress: IngressSpec | None = None
    entry_point: EntryPointSpec = nested(EntryPointSpec)
    observability: ObservabilitySpec = nested(ObservabilitySpec)

    @property
    def image_ref(self) -> str:
        return f"{self.image.repository}:{self.image.tag or self.version}"

    def deployed_services(self) -> tuple[str, ...]:
        """Services with a Deployment of the operator's: all but the gateway when a Gateway serves
        the routes."""
        if self.entry_point.own_envoy:
            return SERVICE_NAMES
        return tuple(name for name in SERVICE_NAMES if name != "gateway")


def parse_spec(spec: Any) -> ChatPlatformSpec:
    return ChatPlatformSpec.model_validate(spec)
