"""The status of a ChatPlatform after one reconcile pass, computed from what was observed (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from parley_operator.api.spec import SERVICE_NAMES
from parley_operator.api.status import (
    BucketLifecycle,
    ChatPlatformStatus,
    ConditionType,
    InfrastructureStatus,
    Phase,
    ServiceReplicas,
)
from parley_operator.rollout import Decision, RolloutPhase, release_of
from parley_operator.status.conditions import ConditionUpdate, find, set_conditions


@dataclass(frozen=True)
class ServiceState:
    desired: int
    ready: int
    updated: int
    settled: bool
    """The Deployment controller has seen the latest spec and every replica is updated and ready."""
    surplus: bool = False
    """More pods than desired still run (a scale-down, or old pods of a rollout going away): the
    service serves, so it stays ready, but the platform is still progressing."""
    growing: bool = False
    """Seen by the Deployment controller, every pod on the current template, fewer ready than
    desired: a scale-up (or a first start) without a rollout."""
    scaling_up: bool = False
    """A growing service of a platform that was Ready, whose replicas that served still do: it
    serves, so it stays ready, and the platform is progressing (set by `summarize`)."""


def service_state(deployment: Mapping[str, Any]) -> ServiceState:
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    desired = int(spec.get("replicas", 1))
    ready, updated = int(status.get("readyReplicas", 0)), int(status.get("updatedReplicas", 0))
    seen = int(status.get("observedGeneration", -1)) >= int(deployment["metadata"].get("generation", 0))
    pods = int(status.get("replicas", 0))
    surplus = pods > desired
    growing = seen and updated >= pods and 0 < ready < desired
    return ServiceState(
        desired, ready, updated, seen and ready >= desired and updated >= desired, surplus, growing
    )


def _scaling_up(previous: Mapping[str, Any], name: str, state: ServiceState) -> bool:
    """Whether a growing service still has (at least) the ready replicas it had when the platform
    was last Ready: then the scale-up leaves it serving."""
    if not state.growing or not ready(previous):
        return False
    before = (previous.get("services") or {}).get(name) or {}
    return state.ready >= int(before.get("readyReplicas", state.desired))


@dataclass(frozen=True)
class MonitoringObservation:
    """The Prometheus Operator's objects this pass (observability.metrics.prometheusOperator)."""

    wanted: bool = False
    unserved: tuple[str, ...] = ()
    """Their kinds the cluster does not serve (skipped)."""
    applied: tuple[str, ...] = ()
    """`Kind/name` of those the pass applied (or tried to)."""


@dataclass
class Observation:
    """Everything one pass learned; the summary is a function of this and the previous status."""

    generation: int
    decision: Decision
    deployments: Mapping[str, Mapping[str, Any]]
    """Live Deployments by service name."""
    infrastructure: InfrastructureStatus
    endpoint: str
    apply_errors: list[str] = field(default_factory=list)
    expected: tuple[str, ...] = SERVICE_NAMES
    """Services that should have a Deployment (not the gateway when a Gateway serves the routes)."""
    monitoring: MonitoringObservation = field(default_factory=MonitoringObservation)


def _services_condition(obs: Observation, states: Mapping[str, ServiceState]) -> ConditionUpdate:
    kind = ConditionType.SERVICES_READY
    if obs.decision.services_release is None:
        return ConditionUpdate(kind, False, "WaitingForMigration", "services start after the first migration")
    missing = [name for name in obs.expected if name not in states]
    if missing:
        return ConditionUpdate(kind, False, "DeploymentsMissing", "no Deployment yet: " + ", ".join(missing))
    lagging = [f"{n} {s.ready}/{s.desired}" for n, s in states.items() if not (s.settled or s.scaling_up)]
    if lagging:
        return ConditionUpdate(kind, False, "ReplicasNotReady", "ready/desired: " + ", ".join(lagging))
    return ConditionUpdate(kind, True, "AllReplicasReady", f"{len(states)} services ready")


def _infra_condition(infra: InfrastructureStatus) -> ConditionUpdate:
    kind = ConditionType.INFRASTRUCTURE_READY
    if not infra.checked:
        return ConditionUpdate(kind, None, "Pending", "topics, bucket and indices not checked yet")
    blocking = [p for p in infra.problems if p.blocking]
    if blocking:
        return ConditionUpdate(kind, False, blocking[0].reason, "; ".join(p.message for p in blocking))
    return ConditionUpdate(kind, True, "Provisioned", "topics, bucket and search index are in place")


def _lifecycle_condition(infra: InfrastructureStatus) -> ConditionUpdate:
    """Informational only: Ready and Degraded do not look at it."""
    kind, bucket = ConditionType.BUCKET_LIFECYCLE, infra.bucket or "the bucket"
    if infra.bucket_lifecycle is BucketLifecycle.CONFIGURED:
        return ConditionUpdate(
            kind, True, "Configured", f"the S3 server aborts multipart uploads left unfinished in {bucket}"
        )
    if infra.bucket_lifecycle is BucketLifecycle.UNSUPPORTED:
        return ConditionUpdate(
            kind,
            False,
            "LifecycleUnsupported",
            f"the S3 server has no bucket lifecycle API: the storage service sweeps abandoned "
            f"multipart uploads in {bucket} itself",
        )
    return ConditionUpdate(kind, None, "Unknown", "the S3 server was not reached")


def _monitoring_condition(obs: Observation) -> ConditionUpdate:
    """Informational only: Ready and Degraded do not look at it (a failed apply is in Degraded)."""
    kind, mon = ConditionType.MONITORING, obs.monitoring
    if not mon.wanted:
        return ConditionUpdate(
            kind, False, "Disabled", "observability.metrics.prometheusOperator.enabled is false"
        )
    if mon.unserved:
        return ConditionUpdate(
            kind,
            False,
            "CRDsMissing",
            f"the cluster does not serve monitoring.coreos.com/v1 {', '.join(mon.unserved)} (the "
            "Prometheus Operator's CRDs are not installed): none rendered",
        )
    failed = [e for e in obs.apply_errors if e.split(":", 1)[0] in mon.applied]
    if failed:
        return ConditionUpdate(kind, False, "ApplyFailed", "; ".join(failed))
    counts: dict[str, int] = {}
    for applied in mon.applied:
        counts[applied.split("/", 1)[0]] = counts.get(applied.split("/", 1)[0], 0) + 1
    what = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in counts.items())
    return ConditionUpdate(kind, True, "Rendered", f"applied {what}")


def _progressing_condition(obs: Observation, states: Mapping[str, ServiceState]) -> ConditionUpdate:
    kind, decision = ConditionType.PROGRESSING, obs.decision
    if decision.phase is RolloutPhase.MIGRATING:
        return ConditionUpdate(kind, True, decision.reason, decision.message)
    if decision.phase is RolloutPhase.BLOCKED:
        return ConditionUpdate(kind, False, decision.reason, decision.message)
    wanted = decision.services_release
    behind = [
        name
        for name, dep in obs.deployments.items()
        if release_of(dep) != wanted or states[name].updated < states[name].desired
    ]
    shrinking = [name for name, state in states.items() if state.surplus and name not in behind]
    growing = [name for name, state in states.items() if state.scaling_up and name not in behind]
    if decision.phase is RolloutPhase.ROLLING or behind or shrinking or growing:
        details = [
            f"{', '.join(names)} {what}"
            for names, what in ((behind, "updating"), (shrinking, "scaling down"), (growing, "scaling up"))
            if names
        ]
        detail = f" ({'; '.join(details)})" if details else ""
        return ConditionUpdate(kind, True, "RollingOut", decision.message + detail)
    return ConditionUpdate(kind, False, "RolloutComplete", decision.message)


def _degraded_condition(obs: Observation) -> ConditionUpdate:
    troubles: list[tuple[str, str]] = []
    if obs.decision.phase is RolloutPhase.BLOCKED:
        troubles.append((obs.decision.reason, obs.decision.message))
    troubles += [(p.reason, p.message) for p in obs.infrastructure.problems]
    troubles += [("ApplyFailed", err) for err in obs.apply_errors]
    if not troubles:
        return ConditionUpdate(ConditionType.DEGRADED, False, "AsExpected")
    return ConditionUpdate(ConditionType.DEGRADED, True, troubles[0][0], "; ".join(m for _, m in troubles))


def _ready_condition(parts: list[ConditionUpdate], blocked: bool) -> ConditionUpdate:
    infra, services = parts
    if blocked:
        return ConditionUpdate(ConditionType.READY, False, "MigrationFailed", "see the Degraded condition")
    for part in (infra, services):
        if part.status is not True:
            return ConditionUpdate(ConditionType.READY, False, part.reason, part.message)
    return ConditionUpdate(ConditionType.READY, True, "Ready", "the platform serves clients")


def _phase(conditions: Mapping[str, ConditionUpdate], decision: Decision) -> Phase:
    if conditions[ConditionType.DEGRADED].status:
        return Phase.DEGRADED
    if conditions[ConditionType.INFRASTRUCTURE_READY].status is not True:
        return Phase.PROVISIONING
    if decision.phase is RolloutPhase.MIGRATING:
        return Phase.MIGRATING
    if conditions[ConditionType.READY].status:
        return Phase.RUNNING
    return Phase.PROGRESSING


def summarize(previous: Mapping[str, Any], obs: Observation, now: str) -> dict[str, Any]:
    """The new status (as it goes on the wire) from the previous one and this pass's observation."""
    states = {name: service_state(dep) for name, dep in obs.deployments.items()}
    states = {
        name: replace(state, scaling_up=_scaling_up(previous, name, state)) for name, state in states.items()
    }
    infra, services = _infra_condition(obs.infrastructure), _services_condition(obs, states)
    updates = [
        infra,
        services,
        _progressing_condition(obs, states),
        _degraded_condition(obs),
        _ready_condition([infra, services], obs.decision.phase is RolloutPhase.BLOCKED),
        _lifecycle_condition(obs.infrastructure),
        _monitoring_condition(obs),
    ]
    by_type = {u.type: u for u in updates}
    order = [ConditionType.READY, *(u.type for u in updates if u.type != ConditionType.READY)]
    conditions = set_conditions(
        previous.get("conditions") or [], [by_type[t] for t in order], now, obs.generation
    )
    status = ChatPlatformStatus(
        observed_generation=obs.generation,
        phase=_phase(by_type, obs.decision),
        version=obs.decision.services_release.version if obs.decision.services_release else None,
        endpoint=obs.endpoint,
        services={
            name: ServiceReplicas(
                desired_replicas=s.desired, ready_replicas=s.ready, updated_replicas=s.updated
            )
            for name, s in states.items()
        },
        infrastructure=obs.infrastructure,
    )
    wire = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    wire["conditions"] = conditions
    return wire


def previous_infrastructure(previous: Mapping[str, Any]) -> InfrastructureStatus:
    """The last provisioning result, for passes that do not provision (a child changed)."""
    raw = previous.get("infrastructure")
    if not raw:
        return InfrastructureStatus()
    return InfrastructureStatus.model_validate(raw)


def ready(status: Mapping[str, Any]) -> bool:
    condition = find(status.get("conditions") or [], ConditionType.READY)
    return condition is not None and condition.get("status") == "True"
