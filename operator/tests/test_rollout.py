"""Migration gating: the decision table, read off Job and Deployment objects."""

from __future__ import annotations

from typing import Any

import pytest
from parley_operator.names import IMAGE_ANNOTATION, VERSION_ANNOTATION
from parley_operator.render import Release
from parley_operator.rollout import JobState, RolloutPhase, decide, job_state, observed_release

OLD, NEW = Release("1.4.0", "parley:1.4.0"), Release("1.5.0", "parley:1.5.0")
JOB = "acme-migrate-1-5-0"


def _job(*conditions: tuple[str, str]) -> dict[str, Any]:
    return {"status": {"conditions": [{"type": t, "status": s} for t, s in conditions]}}


def _deployment(release: Release | None) -> dict[str, Any]:
    annotations = (
        {} if release is None else {VERSION_ANNOTATION: release.version, IMAGE_ANNOTATION: release.image}
    )
    return {"metadata": {"name": "x", "annotations": annotations}}


@pytest.mark.parametrize(
    ("job", "state"),
    [
        (None, JobState.ABSENT),
        ({"status": {}}, JobState.RUNNING),
        (_job(("Complete", "False")), JobState.RUNNING),
        (_job(("SuccessCriteriaMet", "True"), ("Complete", "True")), JobState.SUCCEEDED),
        (_job(("FailureTarget", "True"), ("Failed", "True")), JobState.FAILED),
    ],
)
def test_job_state_from_its_conditions(job: dict[str, Any] | None, state: JobState) -> None:
    assert job_state(job) is state


def test_observed_release_is_none_without_deployments() -> None:
    assert observed_release([], NEW) is None


def test_observed_release_reports_a_half_finished_rollout_as_not_done() -> None:
    assert observed_release([_deployment(NEW), _deployment(NEW)], NEW) == NEW
    assert observed_release([_deployment(NEW), _deployment(OLD)], NEW) == OLD
    assert observed_release([_deployment(None), _deployment(OLD)], NEW) == OLD


def test_steady_when_the_services_run_the_wanted_release() -> None:
    decision = decide(NEW, NEW, JobState.ABSENT, JOB)
    assert decision.phase is RolloutPhase.STEADY
    assert decision.services_release == NEW and decision.migration is None


@pytest.mark.parametrize("job", [JobState.ABSENT, JobState.RUNNING])
def test_upgrade_migrates_first_and_holds_the_services(job: JobState) -> None:
    decision = decide(NEW, OLD, job, JOB)
    assert decision.phase is RolloutPhase.MIGRATING
    assert decision.services_release == OLD and decision.migration == NEW


def test_fresh_install_starts_no_service_before_the_migration() -> None:
    decision = decide(NEW, None, JobState.RUNNING, JOB)
    assert decision.phase is RolloutPhase.MIGRATING and decision.services_release is None


def test_successful_migration_rolls_the_services_and_keeps_the_job_until_steady() -> None:
    decision = decide(NEW, OLD, JobState.SUCCEEDED, JOB)
    assert decision.phase is RolloutPhase.ROLLING
    assert decision.services_release == NEW and decision.migration == NEW


def test_failed_migration_blocks_and_says_how_to_retry() -> None:
    decision = decide(NEW, OLD, JobState.FAILED, JOB)
    assert decision.phase is RolloutPhase.BLOCKED
    assert decision.services_release == OLD and decision.reason == "MigrationFailed"
    assert JOB in decision.message and "delete the Job" in decision.message


def test_new_image_of_the_same_version_rolls_without_migration() -> None:
    rebuilt = Release("1.4.0", "parley:1.4.0-patched")
    decision = decide(rebuilt, OLD, JobState.ABSENT, "acme-migrate-1-4-0")
    assert decision.phase is RolloutPhase.ROLLING
    assert decision.services_release == rebuilt and decision.migration is None
