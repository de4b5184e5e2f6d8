"""The kopf wiring: which causes reach reconcile, how kopf keeps its bookkeeping, how a child finds
its platform. (The passes themselves run against a real apiserver in the live tests.)"""

from __future__ import annotations

import inspect
import subprocess
import sys

import kopf
import pytest
from kopf._core.intents.handlers import TimerHandler  # kopf exports no public handler types
from parley_operator import handlers
from parley_operator.cli import parse_args
from parley_operator.prune import PRUNABLE_KINDS

PLATFORMS = kopf.Resource(
    "parley.dev",
    "v1alpha1",
    "chatplatforms",
    kind="ChatPlatform",
    namespaced=True,
    verbs=frozenset({"list", "watch", "patch"}),
)


def _registry() -> kopf.OperatorRegistry:
    assert handlers.reconcile_handler is not None
    return kopf.get_default_registry()


def test_create_update_resume_and_delete_are_handled_for_chatplatforms() -> None:
    changing = {str(h.id): h for h in _registry()._changing.get_all_handlers()}
    assert {"reconcile-on-create", "reconcile-on-update", "reconcile-on-resume", "finalize"} <= set(changing)
    for handler in changing.values():
        assert handler.selector is not None and handler.selector.check(PLATFORMS)
    # The delete handler holds a finalizer: Delete policy cleanup cannot be skipped by a fast delete.
    assert changing["finalize"].requires_finalizer


def test_a_timer_reconciles_every_platform_periodically() -> None:
    (timer,) = [h for h in _registry()._spawning.get_all_handlers() if h.id == "reconcile-periodically"]
    assert isinstance(timer, TimerHandler) and timer.interval == handlers.TIMER_SECONDS


@pytest.mark.parametrize(("api_version", "kind"), [*PRUNABLE_KINDS, ("v1", "Secret")])
def test_changes_of_every_owned_kind_are_watched(api_version: str, kind: str) -> None:
    group, _, version = api_version.rpartition("/")
    plural = kind.lower() + ("es" if kind.endswith("ss") else "s")
    resource = kopf.Resource(
        group, version, plural, kind=kind, namespaced=True, verbs=frozenset({"list", "watch"})
    )
    watching = [
        h for h in _registry()._watching.get_all_handlers() if h.selector and h.selector.check(resource)
    ]
    assert len(watching) == 1
    assert watching[0].labels == {"app.kubernetes.io/managed-by": "parley-operator"}


def test_child_events_are_handled_on_the_event_loop() -> None:
    """kopf runs plain functions in threads, where queuing an asyncio task fails."""
    for handler in _registry()._watching.get_all_handlers():
        assert inspect.iscoroutinefunction(handler.fn), handler.id


def test_kopf_keeps_its_bookkeeping_in_our_annotations() -> None:
    settings = kopf.OperatorSettings()
    handlers.configure(settings)
    assert settings.persistence.finalizer == "parley.dev/finalizer"
    assert isinstance(settings.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert settings.persistence.progress_storage.prefix == "parley.dev"
    assert isinstance(settings.persistence.diffbase_storage, kopf.AnnotationsDiffBaseStorage)


def test_a_child_names_its_platform_through_the_controller_reference() -> None:
    child = {
        "metadata": {
            "namespace": "chat",
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "controller": False},
                {
                    "apiVersion": "parley.dev/v1alpha1",
                    "kind": "ChatPlatform",
                    "name": "acme",
                    "controller": True,
                },
            ],
        }
    }
    assert handlers.owner_of(child) == ("chat", "acme")
    assert handlers.owner_of({"metadata": {"namespace": "chat"}}) is None
    foreign = {
        "metadata": {"ownerReferences": [{"apiVersion": "x/v1", "kind": "ChatPlatform", "controller": True}]}
    }
    assert handlers.owner_of(foreign) is None


def test_cli_arguments() -> None:
    args = parse_args(["-n", "chat", "-n", "team-b", "--standalone"])
    assert args.namespace == ["chat", "team-b"] and args.standalone
    assert parse_args([]).namespace is None


def test_module_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "parley_operator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--namespace" in result.stdout
