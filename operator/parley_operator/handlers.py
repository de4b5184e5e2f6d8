"""Kopf handlers: thin adapters from kopf's causes to `reconcile` and `finalize`.

Level-based: create, update, resume and a timer all run the same full pass; a change of any owned
child (drift, a pod becoming ready) queues a pass that skips the external servers. Passes of one
platform never overlap (Coalescer).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from parley_operator.api import GROUP, KIND, PLURAL, VERSION
from parley_operator.coalesce import Coalescer
from parley_operator.kube import Kube, load_config
from parley_operator.names import MANAGER
from parley_operator.prune import PRUNABLE_KINDS
from parley_operator.reconcile import InvalidSpec, Outcome, finalize, reconcile

TIMER_SECONDS = 300.0
FINALIZER = f"{GROUP}/finalizer"
MANAGED = {"app.kubernetes.io/managed-by": MANAGER}

log = logging.getLogger(__name__)


class State:
    """Process-wide collaborators, made at startup (kopf's memo is per object, not per process)."""

    kube: Kube | None = None
    coalescer = Coalescer()


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


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    configure(settings)
    load_config()
    State.kube = Kube()


def _key(namespace: str, name: str) -> tuple[str, str]:
    return (namespace, name)


def _raise_for_retry(outcome: Outcome) -> None:
    if outcome.retry_after is not None:
        raise kopf.TemporaryError(outcome.summary, delay=outcome.retry_after)


async def _full_pass(body: Mapping[str, Any], retry: int) -> str:
    platform = copy.deepcopy(dict(body))
    key = _key(platform["metadata"]["namespace"], platform["metadata"]["name"])
    try:
        outcome = await State.coalescer.run(
            key, lambda: reconcile(_kube(), platform, provision_infra=True, attempt=retry)
        )
    except InvalidSpec as error:
        raise kopf.PermanentError(f"invalid spec: {error}") from error
    _raise_for_retry(outcome)
    return outcome.summary


@kopf.on.create(GROUP, VERSION, PLURAL, id="reconcile-on-create")
@kopf.on.update(GROUP, VERSION, PLURAL, id="reconcile-on-update")
@kopf.on.resume(GROUP, VERSION, PLURAL, id="reconcile-on-resume")
async def reconcile_handler(body: kopf.Body, retry: int, **_: Any) -> None:
    log.info("reconciled: %s", await _full_pass(body, retry))


@kopf.timer(GROUP, VERSION, PLURAL, id="reconcile-periodically", interval=TIMER_SECONDS, initial_delay=60)
async def reconcile_timer(body: kopf.Body, **kwargs: Any) -> None:
    await _full_pass(body, int(kwargs.get("retry", 0)))


@kopf.on.delete(GROUP, VERSION, PLURAL, id="finalize")
async def delete_handler(body: kopf.Body, retry: int, **_: Any) -> None:
    platform = copy.deepcopy(dict(body))
    key = _key(platform["metadata"]["namespace"], platform["metadata"]["name"])
    outcome = await State.coalescer.run(key, lambda: finalize(_kube(), platform, attempt=retry))
    _raise_for_retry(outcome)
    State.coalescer.forget(key)
    log.info("finalized: %s", outcome.summary)


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


for _api_version, _kind in PRUNABLE_KINDS:
    _group, _, _version = _api_version.rpartition("/")
    kopf.on.event(_group or "", _version, _kind, labels=MANAGED, id=f"child-{_kind.lower()}")(on_child_event)
kopf.on.event("", "v1", "Secret", labels=MANAGED, id="child-secret")(on_child_event)
