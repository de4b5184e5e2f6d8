"""One level-based reconcile pass of a ChatPlatform: observe, decide, render, apply, prune, report.

Every decision is made by a pure function (rollout.decide, render.render_all, prune.to_prune,
status.summary.summarize); this module only carries data between them and the API.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf
from pydantic import ValidationError

from parley_operator.api.spec import SERVICE_NAMES, ChatPlatformSpec, DeletionPolicy, parse_spec
from parley_operator.api.status import Phase
from parley_operator.backoff import retry_delay
from parley_operator.drift import up_to_date
from parley_operator.handover import HANDOVER_MANAGER, replicas_handover, with_initial_replicas
from parley_operator.keys import generate_signing_key
from parley_operator.kube import (
    DynamicApiError,
    Kube,
    ResourceNotFoundError,
    UnprocessibleEntityError,
    api_error_message,
)
from parley_operator.names import Installation
from parley_operator.provision import deprovision, provision
from parley_operator.prune import OPTIONAL_PRUNABLE_KINDS, PRUNABLE_KINDS, RECREATABLE_KINDS, ref, to_prune
from parley_operator.render import Release, RenderInput, render_all
from parley_operator.render.configmap import public_url
from parley_operator.render.monitoring import MONITORING_API, is_monitoring, monitoring_wanted
from parley_operator.render.secrets import wants_generated_key
from parley_operator.rollout import decide, job_state, observed_release
from parley_operator.scaling.scaler import socket_policy
from parley_operator.status.conditions import ConditionUpdate, now_rfc3339, set_conditions
from parley_operator.status.events import condition_events
from parley_operator.status.summary import (
    MonitoringObservation,
    Observation,
    previous_infrastructure,
    summarize,
)

log = logging.getLogger(__name__)


class InvalidSpec(Exception):
    """The spec does not parse: retrying cannot help until it is edited."""


@dataclass(frozen=True)
class Outcome:
    status: dict[str, Any]
    retry_after: float | None
    """Seconds until the pass should run again because something failed; None when all went well."""
    summary: str


def installation(platform: Mapping[str, Any]) -> Installation:
    return Installation(platform["metadata"]["namespace"], platform["metadata"]["name"])


def _owned(objs: list[dict[str, Any]], uid: str) -> list[dict[str, Any]]:
    return [o for o in objs if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])]


def _by_service(deployments: list[dict[str, Any]], inst: Installation) -> dict[str, dict[str, Any]]:
    names = {inst.service(s): s for s in SERVICE_NAMES}
    return {names[d["metadata"]["name"]]: d for d in deployments if d["metadata"]["name"] in names}


async def _report_invalid(kube: Kube, platform: Mapping[str, Any], error: ValidationError) -> None:
    meta, previous = platform["metadata"], platform.get("status") or {}
    message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
    conditions = set_conditions(
        previous.get("conditions") or [],
        [
            ConditionUpdate("Degraded", True, "InvalidSpec", message),
            ConditionUpdate("Ready", False, "InvalidSpec", "the spec is invalid; see Degraded"),
        ],
        now_rfc3339(),
        meta.get("generation"),
    )
    status = {"observedGeneration": meta.get("generation"), "phase": Phase.DEGRADED.value}
    await kube.patch_status(meta["namespace"], meta["name"], {**status, "conditions": conditions})
    post_events(platform, previous.get("conditions") or [], conditions)


def post_events(
    platform: Mapping[str, Any], before: list[dict[str, Any]], after: list[dict[str, Any]]
) -> None:
    """Kubernetes Events on the ChatPlatform for the condition changes a user must act on. kopf
    posts them in the background; outside a running operator (unit tests) there is nowhere to."""
    for event in condition_events(before, after):
        try:
            kopf.event(platform, type=event.type, reason=event.reason, message=event.message)  # type: ignore[arg-type]
        except LookupError:
            return


async def reconcile(
    kube: Kube, platform: Mapping[str, Any], *, provision_infra: bool, attempt: int = 0
) -> Outcome:
    """Brings the installation towards `platform`'s spec and writes its status.

    provision_infra: also check Kafka, S3 and OpenSearch (create, update, resume, timer); passes
    caused by a child's change skip it and keep the last result.
    """
    meta = platform["metadata"]
    inst, uid, generation = installation(platform), meta["uid"], int(meta.get("generation") or 0)
    previous: Mapping[str, Any] = platform.get("status") or {}
    try:
        spec = parse_spec(platform["spec"])
    except ValidationError as error:
        await _report_invalid(kube, platform, error)
        raise InvalidSpec(str(error)) from error

    async def read_secret(name: str, key: str) -> str:
        return await kube.read_secret(inst.namespace, name, key)

    started = time.monotonic()
    if provision_infra:
        infra = await provision(spec, inst, read_secret)
    else:
        infra = previous_infrastructure(previous)
    provisioned = time.monotonic()

    wanted = Release(spec.version, spec.image_ref)
    children = await _live_children(kube, inst)
    live_deployments = _owned([c for c in children if c["kind"] == "Deployment"], uid)
    job_name = inst.migration_job(spec.version)
    job = next((c for c in children if _key(c) == ("Job", job_name)), None)
    decision = decide(wanted, observed_release(live_deployments, wanted), job_state(job), job_name)

    rendered = render_all(
        RenderInput(
            spec,
            inst,
            decision.services_release,
            decision.migration,
            signing_key_pem=await _new_signing_key(kube, spec, inst),
            notification_token=await _new_notification_token(kube, inst),
        )
    )
    unserved = await _unserved_monitoring_kinds(kube, rendered.apply)
    if unserved:
        rendered.apply = [o for o in rendered.apply if not (is_monitoring(o) and o["kind"] in unserved)]
    kopf.adopt(rendered.all, owner=dict(platform))  # type: ignore[arg-type]
    errors = await _apply(kube, rendered.create_once, rendered.apply, children, _scaled_minimums(spec, inst))
    monitoring = MonitoringObservation(
        wanted=monitoring_wanted(RenderInput.steady(spec, inst)),
        unserved=tuple(sorted(unserved)),
        applied=tuple(f"{o['kind']}/{o['metadata']['name']}" for o in rendered.apply if is_monitoring(o)),
    )
    if not errors:
        # Pruning after a failed apply could remove what the failed object was replacing. (Objects
        # this pass created are rendered, so the list from before the apply serves.)
        await _prune(kube, uid, rendered.all, children)

    after = _owned(await kube.list("apps/v1", "Deployment", inst.namespace, inst.owned_selector), uid)
    observation = Observation(
        generation=generation,
        decision=decision,
        deployments=_by_service(after, inst),
        infrastructure=infra,
        endpoint=public_url(RenderInput.steady(spec, inst)),
        apply_errors=errors,
        expected=spec.deployed_services(),
        monitoring=monitoring,
    )
    status = summarize(previous, observation, now_rfc3339())
    if previous.get("socketScaling") and socket_policy(spec) is None:
        status["socketScaling"] = None  # the scaler stopped: its last report would mislead
    await kube.patch_status(inst.namespace, inst.name, status)
    post_events(platform, previous.get("conditions") or [], status["conditions"])
    failing = bool(errors) or any(p.blocking for p in infra.problems)
    done = time.monotonic()
    return Outcome(
        status=status,
        retry_after=retry_delay(attempt) if failing else None,
        summary=(
            f"{status['phase']}: {decision.message} ({done - started:.1f}s: external servers "
            f"{provisioned - started:.1f}s, cluster {done - provisioned:.1f}s)"
        ),
    )


async def _unserved_monitoring_kinds(kube: Kube, objs: list[dict[str, Any]]) -> set[str]:
    """Kinds of the Prometheus Operator's objects rendered that the cluster does not serve (its
    CRDs are not installed): those are skipped, and the Monitoring condition says so."""
    kinds = sorted({o["kind"] for o in objs if is_monitoring(o)})
    served = await asyncio.gather(*(kube.served(MONITORING_API, kind) for kind in kinds))
    return {kind for kind, ok in zip(kinds, served, strict=True) if not ok}


async def _new_signing_key(kube: Kube, spec: ChatPlatformSpec, inst: Installation) -> str | None:
    """A key only when the generated Secret is wanted and missing: generating one is not free."""
    if not wants_generated_key(RenderInput.steady(spec, inst)):
        return None
    if await kube.get("v1", "Secret", inst.namespace, inst.signing_key_secret) is not None:
        return None
    # RSA key generation takes a CPU for a fraction of a second: not on the event loop every
    # platform's passes share.
    return await asyncio.to_thread(generate_signing_key)


async def _new_notification_token(kube: Kube, inst: Installation) -> str | None:
    """A key for unsubscribe links only when its generated Secret is missing."""
    if await kube.get("v1", "Secret", inst.namespace, inst.notification_token_secret) is not None:
        return None
    return secrets.token_urlsafe(32)


def _scaled_minimums(spec: ChatPlatformSpec, inst: Installation) -> dict[str, int]:
    """minReplicas of each autoscaled Deployment, by name."""
    return {
        inst.service(name): svc.autoscaling.min_replicas
        for name, svc in spec.services.by_name().items()
        if svc.autoscaling is not None
    }


async def _live_children(kube: Kube, inst: Installation) -> list[dict[str, Any]]:
    """Every object of the kinds the operator applies that carries this installation's labels."""
    found = await asyncio.gather(
        *(
            kube.list(api_version, kind, inst.namespace, inst.owned_selector)
            for api_version, kind in PRUNABLE_KINDS
        ),
        *(
            kube.list_if_served(api_version, kind, inst.namespace, inst.owned_selector)
            for api_version, kind in OPTIONAL_PRUNABLE_KINDS
        ),
    )
    return [obj for objs in found for obj in objs]


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    return (obj["kind"], obj["metadata"]["name"])


async def _apply(
    kube: Kube,
    create_once: list[dict[str, Any]],
    apply: list[dict[str, Any]],
    children: list[dict[str, Any]],
    scaled_minimums: Mapping[str, int],
) -> list[str]:
    errors: list[str] = []
    live = {_key(c): c for c in children}
    for obj in create_once:
        try:
            await kube.create_if_absent(obj)
        except (DynamicApiError, ResourceNotFoundError) as error:
            errors.append(_apply_error(obj, error))
    for obj in apply:
        current = live.get(_key(obj))
        try:
            handover = None
            if obj["kind"] == "Deployment":
                name = obj["metadata"]["name"]
                handover = replicas_handover(current, obj)
                if handover is not None:
                    await kube.apply(handover, manager=HANDOVER_MANAGER)
                obj = dict(with_initial_replicas(obj, current, scaled_minimums.get(name)))
            # After a handover the operator's own apply must run: it gives up the replicas field.
            if handover is None and up_to_date(obj, current):
                continue
            await _apply_or_recreate(kube, obj)
        except (DynamicApiError, ResourceNotFoundError) as error:
            errors.append(_apply_error(obj, error))
    return errors


def _apply_error(obj: Mapping[str, Any], error: Exception) -> str:
    """One object that could not be applied, for the Degraded condition (ApplyFailed): the
    apiserver's words, or that it does not serve the kind (a CRD not installed)."""
    where = f"{obj['kind']}/{obj['metadata']['name']}"
    if isinstance(error, ResourceNotFoundError):
        return (
            f"{where}: the cluster does not serve {obj['apiVersion']} {obj['kind']} (is its CRD installed?)"
        )
    return f"{where}: {api_error_message(error)}"


async def _apply_or_recreate(kube: Kube, obj: dict[str, Any]) -> None:
    """Apply; when a foreign edit makes the merged object invalid (an item another manager added to
    a keyed list, which server-side apply keeps), recreate objects whose recreation loses nothing."""
    try:
        await kube.apply(obj)
    except UnprocessibleEntityError:
        if obj["kind"] not in RECREATABLE_KINDS:
            raise
        log.warning(
            "recreating %s/%s: a foreign edit conflicts with its spec", obj["kind"], obj["metadata"]["name"]
        )
        await kube.delete(ref(obj))
        await kube.apply(obj)


async def _prune(kube: Kube, uid: str, desired: list[dict[str, Any]], live: list[dict[str, Any]]) -> None:
    for doomed in to_prune(desired, live, uid):
        log.info("pruning %s/%s in %s", doomed.kind, doomed.name, doomed.namespace)
        await kube.delete(doomed)


async def finalize(kube: Kube, platform: Mapping[str, Any], *, attempt: int = 0) -> Outcome:
    """On deletion: Delete removes topics, bucket and index; Retain keeps them. The children go with
    the ChatPlatform through their owner references."""
    inst = installation(platform)
    previous: Mapping[str, Any] = platform.get("status") or {}
    try:
        spec = parse_spec(platform["spec"])
    except ValidationError:
        # An unparseable spec cannot say what to delete; keep everything rather than guess.
        return Outcome(dict(previous), None, "invalid spec: external resources retained")
    if spec.deletion_policy is DeletionPolicy.RETAIN:
        return Outcome(dict(previous), None, "deletionPolicy Retain: external resources kept")

    async def read_secret(name: str, key: str) -> str:
        return await kube.read_secret(inst.namespace, name, key)

    problems = await deprovision(spec, inst, read_secret)
    if not problems:
        return Outcome(dict(previous), None, "external resources removed")
    message = "; ".join(p.message for p in problems)
    conditions = set_conditions(
        previous.get("conditions") or [],
        [
            ConditionUpdate(
                "Degraded", True, problems[0].reason, f"cannot remove external resources: {message}"
            )
        ],
        now_rfc3339(),
        platform["metadata"].get("generation"),
    )
    status = {"phase": Phase.DELETING.value, "conditions": conditions}
    await kube.patch_status(inst.namespace, inst.name, status)
    post_events(platform, previous.get("conditions") or [], conditions)
    return Outcome(status, retry_delay(attempt), message)
