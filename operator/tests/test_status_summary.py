"""The status a pass writes, from what it observed."""

from __future__ import annotations

from typing import Any

from parley_operator.api.spec import SERVICE_NAMES
from parley_operator.api.status import BucketLifecycle, InfrastructureProblem, InfrastructureStatus
from parley_operator.names import IMAGE_ANNOTATION, VERSION_ANNOTATION
from parley_operator.render import Release
from parley_operator.rollout import Decision, JobState, decide
from parley_operator.status.conditions import find
from parley_operator.status.summary import Observation, previous_infrastructure, summarize

OLD, NEW = Release("1.4.0", "parley:1.4.0"), Release("1.5.0", "parley:1.5.0")
T1, T2 = "2026-01-01T10:00:00Z", "2026-01-01T10:05:00Z"
READY_INFRA = InfrastructureStatus(topic_prefix="chat.acme", checked=True)


def _dep(
    release: Release,
    desired: int = 2,
    ready: int = 2,
    updated: int = 2,
    seen: bool = True,
    replicas: int | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "x",
            "generation": 4,
            "annotations": {VERSION_ANNOTATION: release.version, IMAGE_ANNOTATION: release.image},
        },
        "spec": {"replicas": desired},
        "status": {
            "observedGeneration": 4 if seen else 3,
            "readyReplicas": ready,
            "updatedReplicas": updated,
            "replicas": max(ready, updated) if replicas is None else replicas,
        },
    }


def _all(release: Release, **kw: Any) -> dict[str, dict[str, Any]]:
    return {name: _dep(release, **kw) for name in SERVICE_NAMES}


def _obs(
    decision: Decision, deps: dict[str, dict[str, Any]], infra: InfrastructureStatus = READY_INFRA
) -> Observation:
    return Observation(
        generation=7, decision=decision, deployments=deps, infrastructure=infra, endpoint="http://e"
    )


def _cond(status: dict[str, Any], type_: str) -> tuple[str, str]:
    cond = find(status["conditions"], type_)
    assert cond is not None
    return cond["status"], cond["reason"]


def test_running_when_everything_is_ready() -> None:
    status = summarize({}, _obs(decide(NEW, NEW, JobState.ABSENT, "j"), _all(NEW)), T1)
    assert status["phase"] == "Running"
    assert (
        status["observedGeneration"] == 7
        and status["version"] == "1.5.0"
        and status["endpoint"] == "http://e"
    )
    assert _cond(status, "Ready") == ("True", "Ready")
    assert _cond(status, "Progressing") == ("False", "RolloutComplete")
    assert _cond(status, "Degraded") == ("False", "AsExpected")
    assert status["services"]["socket"] == {"desiredReplicas": 2, "readyReplicas": 2, "updatedReplicas": 2}
    assert status["conditions"][0]["type"] == "Ready"


def test_progressing_while_replicas_come_up() -> None:
    deps = _all(NEW)
    deps["socket"] = _dep(NEW, ready=1, updated=1)
    status = summarize({}, _obs(decide(NEW, NEW, JobState.ABSENT, "j"), deps), T1)
    assert status["phase"] == "Progressing"
    assert _cond(status, "ServicesReady") == ("False", "ReplicasNotReady")
    assert "socket 1/2" in find(status["conditions"], "ServicesReady")["message"]  # type: ignore[index]
    assert _cond(status, "Progressing") == ("True", "RollingOut")


def test_a_scale_down_stays_ready_and_progresses_until_the_surplus_is_gone() -> None:
    deps = _all(NEW)
    deps["consumer"] = _dep(NEW, desired=2, ready=4, updated=4, replicas=4)
    status = summarize({}, _obs(decide(NEW, NEW, JobState.ABSENT, "j"), deps), T1)
    assert _cond(status, "Ready") == ("True", "Ready")
    assert _cond(status, "Progressing") == ("True", "RollingOut")
    assert "consumer scaling down" in find(status["conditions"], "Progressing")["message"]  # type: ignore[index]
    assert status["services"]["consumer"] == {"desiredReplicas": 2, "readyReplicas": 4, "updatedReplicas": 4}
    deps["consumer"] = _dep(NEW, desired=2, ready=2, updated=2, replicas=2)
    status = summarize({}, _obs(decide(NEW, NEW, JobState.ABSENT, "j"), deps), T1)
    assert _cond(status, "Progressing") == ("False", "RolloutComplete")


def test_a_scale_up_stays_ready_while_the_replicas_that_served_still_do() -> None:
    decision = decide(NEW, NEW, JobState.ABSENT, "j")
    running = summarize({}, _obs(decision, _all(NEW)), T1)
    assert _cond(running, "Ready") == ("True", "Ready")
    deps = _all(NEW)
    deps["socket"] = _dep(NEW, desired=5, ready=2, updated=5, replicas=5)  # three new pods starting
    status = summarize(running, _obs(decision, deps), T2)
    assert _cond(status, "Ready") == ("True", "Ready")
    assert _cond(status, "ServicesReady") == ("True", "AllReplicasReady")
    assert _cond(status, "Progressing") == ("True", "RollingOut")
    assert "socket scaling up" in find(status["conditions"], "Progressing")["message"]  # type: ignore[index]
    deps["socket"] = _dep(NEW, desired=5, ready=4, updated=5, replicas=5)
    status = summarize(status, _obs(decision, deps), T2)
    assert _cond(status, "Ready") == ("True", "Ready")
    # One that served stops serving during the scale-up: not ready any more.
    deps["socket"] = _dep(NEW, desired=5, ready=3, updated=5, replicas=5)
    assert _cond(summarize(status, _obs(decision, deps), T2), "Ready") == ("False", "ReplicasNotReady")
    deps["socket"] = _dep(NEW, desired=5, ready=5, updated=5, replicas=5)
    done = summarize(status, _obs(decision, deps), T2)
    assert _cond(done, "Ready") == ("True", "Ready")
    assert _cond(done, "Progressing") == ("False", "RolloutComplete")


def test_a_first_start_is_not_ready_until_every_replica_is() -> None:
    deps = _all(NEW)
    deps["socket"] = _dep(NEW, desired=2, ready=1, updated=2, replicas=2)
    status = summarize({}, _obs(decide(NEW, NEW, JobState.ABSENT, "j"), deps), T1)
    assert _cond(status, "Ready") == ("False", "ReplicasNotReady")


def test_a_scale_up_during_a_rollout_is_not_ready() -> None:
    decision = decide(NEW, NEW, JobState.ABSENT, "j")
    running = summarize({}, _obs(decision, _all(NEW)), T1)
    deps = _all(NEW)
    deps["socket"] = _dep(NEW, desired=4, ready=2, updated=1, replicas=3)  # old pods still there
    assert _cond(summarize(running, _obs(decision, deps), T2), "Ready") == ("False", "ReplicasNotReady")


def test_a_deployment_whose_new_spec_is_unseen_is_not_ready() -> None:
    deps = _all(NEW)
    deps["api"] = _dep(NEW, seen=False)
    status = summarize({}, _obs(decide(NEW, NEW, JobState.ABSENT, "j"), deps), T1)
    assert _cond(status, "ServicesReady")[0] == "False"


def test_migrating_on_upgrade_keeps_the_old_version_in_status() -> None:
    status = summarize({}, _obs(decide(NEW, OLD, JobState.RUNNING, "j"), _all(OLD)), T1)
    assert status["phase"] == "Migrating" and status["version"] == "1.4.0"
    assert _cond(status, "Progressing") == ("True", "MigrationRunning")
    assert _cond(status, "Ready") == ("True", "Ready")  # the old version still serves


def test_failed_migration_is_degraded_and_not_ready() -> None:
    status = summarize({}, _obs(decide(NEW, OLD, JobState.FAILED, "j"), _all(OLD)), T1)
    assert status["phase"] == "Degraded"
    assert _cond(status, "Degraded") == ("True", "MigrationFailed")
    assert _cond(status, "Ready") == ("False", "MigrationFailed")


def test_fresh_install_waits_for_migration() -> None:
    status = summarize({}, _obs(decide(NEW, None, JobState.RUNNING, "j"), {}), T1)
    assert status["phase"] == "Migrating" and "version" not in status
    assert _cond(status, "ServicesReady") == ("False", "WaitingForMigration")


def test_unreachable_kafka_is_reported_not_raised() -> None:
    infra = InfrastructureStatus(
        checked=True,
        problems=[InfrastructureProblem(component="kafka", reason="KafkaUnavailable", message="kafka down")],
    )
    status = summarize({}, _obs(decide(NEW, NEW, JobState.ABSENT, "j"), _all(NEW), infra), T1)
    assert status["phase"] == "Degraded"
    assert _cond(status, "InfrastructureReady") == ("False", "KafkaUnavailable")
    assert _cond(status, "Ready") == ("False", "KafkaUnavailable")
    assert status["infrastructure"]["problems"][0]["component"] == "kafka"


def test_a_refused_shrink_degrades_but_keeps_the_platform_ready() -> None:
    shrink = InfrastructureProblem(
        component="kafka", reason="PartitionShrinkRefused", message="m", blocking=False
    )
    infra = InfrastructureStatus(checked=True, problems=[shrink])
    status = summarize({}, _obs(decide(NEW, NEW, JobState.ABSENT, "j"), _all(NEW), infra), T1)
    assert _cond(status, "InfrastructureReady") == ("True", "Provisioned")
    assert _cond(status, "Degraded") == ("True", "PartitionShrinkRefused")
    assert _cond(status, "Ready") == ("True", "Ready")


def test_an_s3_server_without_lifecycle_api_is_noted_without_degrading() -> None:
    infra = READY_INFRA.model_copy(update={"bucket": "b", "bucket_lifecycle": BucketLifecycle.UNSUPPORTED})
    status = summarize({}, _obs(decide(NEW, NEW, JobState.ABSENT, "j"), _all(NEW), infra), T1)
    assert _cond(status, "BucketLifecycle") == ("False", "LifecycleUnsupported")
    lifecycle = find(status["conditions"], "BucketLifecycle")
    assert lifecycle is not None
    assert "storage service sweeps abandoned multipart uploads in b" in lifecycle["message"]
    assert _cond(status, "Degraded") == ("False", "AsExpected")
    assert _cond(status, "Ready") == ("True", "Ready")
    assert status["phase"] == "Running"


def test_bucket_lifecycle_is_true_when_configured_and_unknown_when_s3_was_not_reached() -> None:
    configured = READY_INFRA.model_copy(update={"bucket_lifecycle": BucketLifecycle.CONFIGURED})
    status = summarize({}, _obs(decide(NEW, NEW, JobState.ABSENT, "j"), _all(NEW), configured), T1)
    assert _cond(status, "BucketLifecycle") == ("True", "Configured")
    s3_down = InfrastructureStatus(
        checked=True, problems=[InfrastructureProblem(component="s3", reason="S3Unavailable", message="x")]
    )
    status = summarize({}, _obs(decide(NEW, NEW, JobState.ABSENT, "j"), _all(NEW), s3_down), T1)
    assert _cond(status, "BucketLifecycle") == ("Unknown", "Unknown")
    assert _cond(status, "Degraded") == ("True", "S3Unavailable")


def test_unchecked_infrastructure_is_unknown() -> None:
    status = summarize(
        {}, _obs(decide(NEW, NEW, JobState.ABSENT, "j"), _all(NEW), InfrastructureStatus()), T1
    )
    assert _cond(status, "InfrastructureReady") == ("Unknown", "Pending")
    assert status["phase"] == "Provisioning"


def test_transition_times_survive_a_pass_that_changes_nothing() -> None:
    obs = _obs(decide(NEW, NEW, JobState.ABSENT, "j"), _all(NEW))
    first = summarize({}, obs, T1)
    second = summarize(first, obs, T2)
    assert [c["lastTransitionTime"] for c in second["conditions"]] == [T1] * 7


def test_previous_infrastructure_round_trips_through_the_status() -> None:
    shrink = InfrastructureProblem(
        component="kafka", reason="PartitionShrinkRefused", message="m", blocking=False
    )
    infra = InfrastructureStatus(
        checked=True, bucket="b", problems=[shrink], bucket_lifecycle=BucketLifecycle.UNSUPPORTED
    )
    status = summarize({}, _obs(decide(NEW, NEW, JobState.ABSENT, "j"), _all(NEW), infra), T1)
    assert previous_infrastructure(status) == infra
    assert previous_infrastructure({}) == InfrastructureStatus()
