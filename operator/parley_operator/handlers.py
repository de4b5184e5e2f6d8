"""Kopf handlers: thin adapters from kopf's causes to `reconcile`, `finalize` and the socket scaler.

Level-based: create, update, resume and a timer all run the same full pass; a change of any owned
child (drift, a pod becoming ready) queues a pass that skips the external servers. Passes of one
platform never overlap (Coalescer), the socket scaler's included.

`register` puts the handlers into a registry with the timings the command line chose.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from parley_operator import metrics
from parley_operator.api import GROUP, KIND, PLURAL, VERSION
from parley_operator.coalesce import Coalescer
from parley_operator.kube import Kube, load_config
from parley_operator.names import MANAGER
from parley_operator.prune import PRUNABLE_KINDS
from parley_operator.reconcile import InvalidSpec, Outcome, finalize, reconcile
from parley_operator.scaling.decision import Recommendation
from parley_operator.scaling.scaler import scale_sockets, wants_socket_scaling

FINALIZER = f"{GROUP}/finalizer"
MANAGED = {"app.kubernetes.io/managed-by": MANAGER}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    resync_seconds: float = 300.0
    """How often every platform gets a full pass (external servers included) without a change."""
    resync_delay_seconds: float = 60.0
    """Before a platform's first periodic pass (create/resume passes run at once)."""
    scale_seconds: float = 15.0
    """How often the socket scaler looks at open connections (the HPA's default sync period)."""


class State:
    """Process-wide collaborators, made at startup (kopf's memo is per object, not per process)."""

    kube: Kube | None = None
    coalescer = Coalescer()
    scale_history: dict[tuple[str, str], tuple[Recommendation, ...]] = {}  # noqa: RUF012


def _kube() -> Kube:
    if State.kube is None:
        raise kopf.PermanentError("the operator's API client is not configured (startup did not run)")
    return State.kube


def configure(settings: kopf.OperatorSettings) -> None:
    """Where kopf keeps its own bookkeeping: in annotations of our group, not in the status (whose
    schema is ours), and under our finalizer name."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP, key="last-spec")
    settings.posting.level = logging.WARNING
    settings.execution.max_workers = 4
    # A platform deleted while one of its timers runs a pass keeps its finalizer until the timer
    # has exited; kopf looks again only after this long (60s by default, which held deletions).
    settings.background.cancellation_polling = 1.0


def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    configure(settings)
    load_config()
    State.kube = Kube()


def _key(namespace: str, name: str) -> tuple[str, str]:
    return (namespace, name)


def _raise_for_retry(outcome: Outcome) -> None:
    # kopf logs the retry on the platform's object logger: the line starts with [namespace/name]
    # (cli.configure_logging).
    if outcome.retry_after is not None:
        raise kopf.TemporaryError(outcome.summary, delay=outcome.retry_after)


async def _full_pass(body: Mapping[str, Any], retry: int) -> str:
    platform = copy.deepcopy(dict(body))
    key = _key(platform["metadata"]["namespace"], platform["metadata"]["name"])
    started = time.perf_counter()
    result = "error"
    try:
        outcome = await State.coalescer.run(
            key, lambda: reconcile(_kube(), platform, provision_infra=True, attempt=retry)
        )
        result = "ok" if outcome.retry_after is None else "retry"
    except InvalidSpec as error:
        raise kopf.PermanentError(f"invalid spec: {error}") from error
    finally:
        metrics.RECONCILES.labels(result).inc()
        metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
    _raise_for_retry(outcome)
    return outcome.summary


async def reconcile_handler(body: kopf.Body, retry: int, **_: Any) -> None:
    summary = await _full_pass(body, retry)
    log.info("reconciled %s/%s: %s", body["metadata"]["namespace"], body["metadata"]["name"], summary)


async def reconcile_timer(body: kopf.Body, **kwargs: Any) -> None:
    await _full_pass(body, int(kwargs.get("retry", 0)))


async def delete_handler(body: kopf.Body, retry: int, **_: Any) -> None:
    platform = copy.deepcopy(dict(body))
    key = _key(platform["metadata"]["namespace"], platform["metadata"]["name"])
    outcome = await State.coalescer.run(key, lambda: finalize(_kube(), platform, attempt=retry))
    _raise_for_retry(outcome)
    State.coalescer.forget(key)
    State.scale_history.pop(key, None)
    log.info("finalized %s/%s: %s", *key, outcome.summary)


def owner_of(child: Mapping[str, Any]) -> tuple[str, str] | None:
    """The ChatPlatform controlling a child, from its controller owner reference."""
    meta = child.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == KIND and ref.get("apiVersion", "").startswith(GROUP):
            return _key(meta.get("namespace", ""), ref["name"])
    return None


async def _children_pass(namespace: str, name: str) -> None:
    kube = _kube()
    platform = await kube.get_platform(namespace, name)
    if platform is None or platform["metadata"].get("deletionTimestamp"):
        return
    # An invalid spec is reported in the status by reconcile; the full pass tells kopf.
    with contextlib.suppress(InvalidSpec):
        await reconcile(kube, platform, provision_infra=False)


async def on_child_event(body: kopf.Body, **_: Any) -> None:
    # Async on purpose: kopf runs plain functions in worker threads, where no event loop runs to
    # queue the pass on.
    owner = owner_of(body)
    if owner is not None:
        State.coalescer.trigger(owner, lambda: _children_pass(*owner))


async def socket_scaling_timer(body: kopf.Body, **_: Any) -> None:
    platform = copy.deepcopy(dict(body))
    key = _key(platform["metadata"]["namespace"], platform["metadata"]["name"])

    async def run() -> None:
        # The newest object: the scaler's own last report and lastScaleTime live in its status.
        fresh = await _kube().get_platform(*key)
        if fresh is None or fresh["metadata"].get("deletionTimestamp"):
            return
        result = await scale_sockets(_kube(), fresh, State.scale_history.get(key, ()), time.monotonic())
        if result is not None:
            State.scale_history[key] = result.decision.history

    await State.coalescer.run(key, run)


def _scales_sockets(spec: kopf.Spec, **_: Any) -> bool:
    return wants_socket_scaling(spec)


def register(registry: kopf.OperatorRegistry, timing: Timing) -> kopf.OperatorRegistry:
    """Every handler of the operator, in `registry`."""
    kopf.on.startup(registry=registry)(startup)
    # kopf adds this fallback only to its default registry: the same credentials as `Kube`
    # (in-cluster service account, else KUBECONFIG).
    kopf.on.login(registry=registry)(kopf.login_via_client)
    for cause, on in (("create", kopf.on.create), ("update", kopf.on.update), ("resume", kopf.on.resume)):
        on(GROUP, VERSION, PLURAL, id=f"reconcile-on-{cause}", registry=registry)(reconcile_handler)
    kopf.timer(
        GROUP,
        VERSION,
        PLURAL,
        id="reconcile-periodically",
        interval=timing.resync_seconds,
        initial_delay=timing.resync_delay_seconds,
        registry=registry,
    )(reconcile_timer)
    kopf.timer(
        GROUP,
        VERSION,
        PLURAL,
        id="scale-sockets",
        interval=timing.scale_seconds,
        when=_scales_sockets,
        registry=registry,
    )(socket_scaling_timer)
    kopf.on.delete(GROUP, VERSION, PLURAL, id="finalize", registry=registry)(delete_handler)
    for api_version, kind in PRUNABLE_KINDS:
        group, _, version = api_version.rpartition("/")
        kopf.on.event(
            group or "", version, kind, labels=MANAGED, id=f"child-{kind.lower()}", registry=registry
        )(on_child_event)
    kopf.on.event("", "v1", "Secret", labels=MANAGED, id="child-secret", registry=registry)(on_child_event)
    return registry
