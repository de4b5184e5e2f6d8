"""The kopf wiring: which causes reach reconcile, how kopf keeps its bookkeeping, how a child finds
its platform. (The passes themselves run against a real apiserver in the live tests.)"""

from __future__ import annotations

import inspect
import subprocess
import sys
from typing import Any

import kopf
import pytest
from chatplatform_specs import REQUIRED, with_change
from kopf._core.intents.handlers import TimerHandler  # kopf exports no public handler types
from parley_operator import handlers
from parley_operator.cli import parse_args, timing
from parley_operator.prune import PRUNABLE_KINDS

PLATFORMS = kopf.Resource(
    "parley.dev",
    "v1alpha1",
    "chatplatforms",
    kind="ChatPlatform",
    namespaced=True,
    verbs=frozenset({"list", "watch", "patch"}),
)


def _registry(timing: handlers.Timing | None = None) -> kopf.OperatorRegistry:
    return handlers.register(kopf.OperatorRegistry(), timing or handlers.Timing())


def test_create_update_resume_and_delete_are_handled_for_chatplatforms() -> None:
    changing = {str(h.id): h for h in _registry()._changing.get_all_handlers()}
    assert {"reconcile-on-create", "reconcile-on-update", "reconcile-on-resume", "finalize"} <= set(changing)
    for handler in changing.values():
        assert handler.selector is not None and handler.selector.check(PLATFORMS)
    # The delete handler holds a finalizer: Delete policy cleanup cannot be skipped by a fast delete.
    assert changing["finalize"].requires_finalizer


def _timer(registry: kopf.OperatorRegistry, id_: str) -> TimerHandler:
    (timer,) = [h for h in registry._spawning.get_all_handlers() if h.id == id_]
    assert isinstance(timer, TimerHandler)
    return timer


def test_a_timer_reconciles_every_platform_periodically() -> None:
    timer = _timer(_registry(), "reconcile-periodically")
    assert (timer.interval, timer.initial_delay) == (300.0, 60.0)
    assert timer.when is None


def test_the_command_line_sets_the_timers() -> None:
    registry = _registry(timing(parse_args(["--resync-seconds", "5", "--scale-seconds", "2"])))
    resync = _timer(registry, "reconcile-periodically")
    assert (resync.interval, resync.initial_delay) == (5.0, 5.0)
    assert _timer(registry, "scale-sockets").interval == 2.0
    with pytest.raises(SystemExit):
        parse_args(["--resync-seconds", "0"])


def test_the_socket_scaler_runs_only_for_platforms_that_ask_for_it() -> None:
    scaler = _timer(_registry(), "scale-sockets")
    when: Any = scaler.when  # kopf calls it with the spec among other keywords
    autoscaled = with_change(
        REQUIRED,
        "services.socket.autoscaling",
        {"minReplicas": 2, "maxReplicas": 6, "targetConnectionsPerPod": 1000},
    )
    on_cpu = with_change(REQUIRED, "services.socket.autoscaling", {"minReplicas": 2, "maxReplicas": 6})
    assert when(spec=autoscaled)
    assert not when(spec=on_cpu)
    assert not when(spec=REQUIRED)
    assert not when(spec={"version": "not valid"})


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
    # Found live: a deletion during a timer's pass waited for kopf's next 60s look.
    assert settings.background.cancellation_polling <= 1.0


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


def test_the_operator_logs_in_the_way_its_client_does() -> None:
    """A registry of our own gets no login handler from kopf: without one kopf has no credentials."""
    activities = {str(h.id): h.fn for h in _registry()._activities.get_all_handlers()}
    assert activities["login_via_client"] is kopf.login_via_client
