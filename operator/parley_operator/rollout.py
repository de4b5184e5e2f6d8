"""Migration gating: a new version's schema migration Job must succeed before its services roll.

Pure: given the release the Deployments run, the release the spec wants and the state of the wanted
release's Job, decide what the Deployments render at and whether the Job is wanted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from parley_operator.names import IMAGE_ANNOTATION, VERSION_ANNOTATION
from parley_operator.render.context import Release


class JobState(StrEnum):
    ABSENT = "Absent"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class RolloutPhase(StrEnum):
    STEADY = "Steady"
    """The Deployments run the wanted release."""
    MIGRATING = "Migrating"
    """The migration Job of the wanted release is created or running; Deployments stay as they are."""
    ROLLING = "Rolling"
    """The Deployments are being moved to the wanted release."""
    BLOCKED = "Blocked"
    """The migration failed; the Deployments stay on the release they run."""


@dataclass(frozen=True)
class Decision:
    phase: RolloutPhase
    services_release: Release | None
    migration: Release | None
    reason: str
    message: str


def job_state(job: Mapping[str, Any] | None) -> JobState:
    if job is None:
        return JobState.ABSENT
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return JobState.SUCCEEDED
        if condition.get("type") == "Failed":
            return JobState.FAILED
    return JobState.RUNNING


def release_of(deployment: Mapping[str, Any]) -> Release | None:
    annotations = (deployment.get("metadata") or {}).get("annotations") or {}
    version, image = annotations.get(VERSION_ANNOTATION), annotations.get(IMAGE_ANNOTATION)
    if version is None or image is None:
        return None
    return Release(version, image)


def observed_release(deployments: Iterable[Mapping[str, Any]], wanted: Release) -> Release | None:
    """The release the services run: None without Deployments; when an earlier rollout stopped half
    way, a release other than the wanted one (so the rollout is finished, not taken as done)."""
    releases = [rel for rel in map(release_of, deployments) if rel is not None]
    if not releases:
        return None
    stale = [rel for rel in releases if rel != wanted]
    return stale[0] if stale else wanted


def decide(wanted: Release, current: Release | None, job: JobState, job_name: str) -> Decision:
    if current == wanted:
        return Decision(RolloutPhase.STEADY, wanted, None, "RolloutComplete", f"running {wanted.version}")
    if current is not None and current.version == wanted.version:
        # Same version from another image (a rebuild): the schema is the same, nothing to migrate.
        return Decision(RolloutPhase.ROLLING, wanted, None, "ImageChanged", f"rolling out {wanted.image}")
    held = current
    if job is JobState.SUCCEEDED:
        return Decision(
            RolloutPhase.ROLLING, wanted, wanted, "MigrationSucceeded", f"rolling out {wanted.version}"
        )
    if job is JobState.FAILED:
        return Decision(
            RolloutPhase.BLOCKED,
            held,
            wanted,
            "MigrationFailed",
            f"migration Job {job_name} for {wanted.version} failed; services stay on "
            f"{held.version if held else 'nothing'}; fix the cause and delete the Job to retry",
        )
    reason = "MigrationRunning" if job is JobState.RUNNING else "MigrationStarting"
    return Decision(
        RolloutPhase.MIGRATING, held, wanted, reason, f"migrating the schema to {wanted.version} ({job_name})"
    )
