"""ChatPlatform status, written by the operator only (the status subresource)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from parley_operator.api.rules import SpecModel


class Phase(StrEnum):
    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    MIGRATING = "Migrating"
    PROGRESSING = "Progressing"
    RUNNING = "Running"
    DEGRADED = "Degraded"
    DELETING = "Deleting"


class ConditionType(StrEnum):
    READY = "Ready"
    INFRASTRUCTURE_READY = "InfrastructureReady"
    SERVICES_READY = "ServicesReady"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    BUCKET_LIFECYCLE = "BucketLifecycle"
    """Informational: whether the S3 server aborts abandoned multipart uploads itself. False
    (LifecycleUnsupported) neither degrades the platform nor holds back Ready."""
    MONITORING = "Monitoring"
    """Informational: the Prometheus Operator's objects (observability.metrics.prometheusOperator).
    True (Rendered) when applied; False when not asked for (Disabled), when the cluster does not serve
    their kinds (CRDsMissing: none rendered) or when applying them failed (ApplyFailed)."""


class BucketLifecycle(StrEnum):
    CONFIGURED = "Configured"
    """The bucket has the rule aborting multipart uploads left unfinished."""
    UNSUPPORTED = "Unsupported"
    """The S3 server has no bucket lifecycle API; the storage service sweeps abandoned uploads."""


class Condition(SpecModel):
    """A condition as the Kubernetes API conventions define it (metav1.Condition)."""

    type: str = Field(max_length=316)
    status: str = Field(pattern="^(True|False|Unknown)$")
    reason: str = Field(max_length=1024, pattern="^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    """CamelCase reason for the condition's last transition."""
    message: str = Field("", max_length=32768)
    last_transition_time: str
    """When the status last changed (RFC 3339); unchanged while only reason or message change."""
    observed_generation: int | None = Field(None, ge=0)


class ServiceReplicas(SpecModel):
    desired_replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0


class InfrastructureProblem(SpecModel):
    component: str
    """kafka, s3, opensearch or secrets."""
    reason: str
    message: str = ""
    blocking: bool = True
    """False for a request the operator declines but that leaves the platform working (shrinking
    a topic's partitions): Degraded, yet Ready."""


class InfrastructureStatus(SpecModel):
    topic_prefix: str | None = None
    bucket: str | None = None
    index_alias: str | None = None
    problems: list[InfrastructureProblem] = Field(default_factory=list)
    """What the last provisioning pass could not do; empty when every external resource is in place."""
    bucket_lifecycle: BucketLifecycle | None = None
    """What the last provisioning pass found of the bucket's lifecycle rule; unset when S3 was not
    reached."""
    checked: bool = False
    """Whether provisioning has run at all for this generation's spec."""


class SocketScalingStatus(SpecModel):
    """The operator's last look at the socket pods' open connections (autoscaling with
    targetConnectionsPerPod)."""

    replicas: int
    """Replicas the socket Deployment was set to."""
    recommended_replicas: int
    """What the connections alone ask for (within the bounds), before the scale-down window."""
    open_connections: int | None = None
    """Open connections on the pods whose metrics were read; unset when none could be read."""
    pods: int = 0
    """Ready socket pods."""
    pods_reporting: int = 0
    """Ready socket pods whose metrics were read."""
    target_connections_per_pod: int
    reason: str
    message: str = ""
    last_check_time: str
    last_scale_time: str | None = None
    """When the operator last changed the replicas."""


class ChatPlatformStatus(SpecModel):
    observed_generation: int | None = None
    phase: Phase | None = None
    version: str | None = None
    """Version the services run (rolled out after its migration Job succeeded)."""
    endpoint: str | None = None
    """Where clients reach the platform: the Ingress URL, else the gateway's cluster URL."""
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    services: dict[str, ServiceReplicas] = Field(default_factory=dict)
    infrastructure: InfrastructureStatus | None = None
    socket_scaling: SocketScalingStatus | None = None
    """Written by the socket scaler, on its own schedule, not by the reconcile pass."""
