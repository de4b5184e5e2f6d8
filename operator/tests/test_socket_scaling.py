"""Socket scaling: the open-connections gauge as the socket pods expose it, and the scaling rule.

The live half (the scaler's timer, its field manager, status.socketScaling, the pod proxy) runs in
live/test_socket_scaling_live.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from parley_operator.handover import with_initial_replicas
from parley_operator.kube import error_body_text
from parley_operator.scaling.connections import CONNECTIONS_METRIC, MetricMissing, open_connections
from parley_operator.scaling.decision import Policy, Reading, Recommendation, ScaleDecision, decide
from parley_operator.scaling.scaler import ready_pods
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

POLICY = Policy(min_replicas=2, max_replicas=10, target_per_pod=100, scale_down_window=300)


def exposition(value: float | None = None, by_label: dict[str, float] | None = None) -> str:
    """A /metrics page as prometheus_client (what the services use) writes it."""
    registry = CollectorRegistry()
    Counter("parley_socket_messages", "messages sent", registry=registry).inc(7)
    if by_label is not None:
        labelled = Gauge(CONNECTIONS_METRIC, "open", ["protocol"], registry=registry)
        for label, amount in by_label.items():
            labelled.labels(label).set(amount)
    elif value is not None:
        Gauge(CONNECTIONS_METRIC, "open WebSocket connections", registry=registry).set(value)
    return generate_latest(registry).decode()


def test_the_gauge_is_read_from_a_metrics_page() -> None:
    assert open_connections(exposition(1234)) == 1234
    assert open_connections(exposition(by_label={"ws": 40, "sse": 2})) == 42


@pytest.mark.parametrize(
    ("page", "error"),
    [
        (exposition(None), MetricMissing),
        (exposition(float("nan")), MetricMissing),
        (exposition(-1), MetricMissing),
        ("<html>not metrics</html>", ValueError),
    ],
    ids=["absent", "nan", "negative", "html"],
)
def test_a_page_without_a_usable_gauge_is_an_error(page: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        open_connections(page)


def readings(*connections: int | None) -> list[Reading]:
    return [
        Reading(f"socket-{i}", c, "" if c is not None else "503 Service Unavailable")
        for i, c in enumerate(connections)
    ]


def test_scales_up_at_once_to_keep_each_pod_under_the_target() -> None:
    decision = decide(2, readings(180, 170), POLICY, (), now=0)
    assert (decision.replicas, decision.connections, decision.reason) == (4, 350, "ScaledUp")
    assert "350 open connections on 2/2 pods" in decision.message


def test_stays_when_the_load_fits() -> None:
    decision = decide(3, readings(100, 90, 95), POLICY, (), now=0)
    assert (decision.replicas, decision.reason) == (3, "WithinTarget")


def test_scales_down_only_after_the_window() -> None:
    busy = decide(6, readings(100, 100, 100, 100, 100, 100), POLICY, (), now=0)
    assert busy.replicas == 6
    quiet = readings(10, 10, 10, 10, 10, 10)
    held = decide(6, quiet, POLICY, busy.history, now=100)
    assert (held.replicas, held.recommended, held.reason) == (6, 2, "ScaleDownDelayed")
    later = decide(6, quiet, POLICY, held.history, now=350)
    # The 6 of t=0 has left the window; the 2 of t=100 is the highest left.
    assert (later.replicas, later.reason) == (2, "ScaledDown")


def test_the_highest_recent_need_limits_a_scale_down() -> None:
    history = (Recommendation(0, 5), Recommendation(200, 3))
    decision = decide(6, readings(10, 10, 10, 10, 10, 10), POLICY, history, now=250)
    assert decision.replicas == 5


def test_a_fresh_operator_waits_a_whole_window_before_scaling_down() -> None:
    decision = decide(5, readings(1, 1, 1, 1, 1), POLICY, (), now=1000)
    assert (decision.replicas, decision.recommended) == (5, 2)


def test_never_beyond_max_and_says_so() -> None:
    decision = decide(10, readings(*[150] * 10), POLICY, (), now=0)
    assert (decision.replicas, decision.reason) == (10, "AtMaxReplicas")
    assert "15 replicas needed, maxReplicas is 10" in decision.message


def test_pods_that_do_not_answer_count_as_empty_up_and_as_full_down() -> None:
    # Up: 300 connections on the answering pods need 3 pods whatever the silent one holds.
    assert decide(2, readings(200, 100, None), POLICY, (), now=0).replicas == 3
    # Down: the silent pods might be full, so four pods stay.
    history = (Recommendation(-1000, 4),)
    down = decide(4, readings(5, 5, None, None), POLICY, history, now=0)
    assert (down.replicas, down.recommended, down.reporting, down.pods) == (4, 3, 2, 4)


@pytest.mark.parametrize(
    ("current", "policy", "expected"),
    [
        (1, POLICY, 2),
        (12, POLICY, 10),
        (3, Policy(4, 8, 100), 4),
        (9, Policy(1, 5, 100), 5),
    ],
)
def test_bounds_hold_even_without_metrics(current: int, policy: Policy, expected: int) -> None:
    blind = decide(current, readings(None, None), policy, (), now=0)
    assert (blind.replicas, blind.reason, blind.connections) == (expected, "MetricsUnavailable", None)
    assert "503 Service Unavailable" in blind.message
    nobody = decide(current, [], policy, (), now=0)
    assert (nobody.replicas, nobody.reason) == (expected, "NoReadyPods")


def test_without_metrics_nothing_moves_inside_the_bounds() -> None:
    history = (Recommendation(-1000, 2),)
    assert decide(5, readings(None, None, None, None, None), POLICY, history, now=0).replicas == 5


def test_history_keeps_only_the_window() -> None:
    first = decide(3, readings(100, 100, 100), POLICY, (Recommendation(-500, 9),), now=0)
    assert [r.at for r in first.history] == [0, 0]  # seeded with the current count, then this one


def _pod(name: str, phase: str = "Running", ready: str = "True", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}}


def test_only_serving_pods_are_read() -> None:
    pods = [
        _pod("b"),
        _pod("a"),
        _pod("starting", ready="False"),
        _pod("pending", phase="Pending", ready="False"),
        _pod("leaving", deleting=True),
    ]
    assert ready_pods(pods) == ["a", "b"]


def test_a_scaled_deployment_starts_at_the_minimum_only_when_created() -> None:
    rendered = {"kind": "Deployment", "spec": {"template": {}}}
    assert with_initial_replicas(rendered, None, 3)["spec"]["replicas"] == 3
    assert "replicas" not in with_initial_replicas(rendered, {"spec": {"replicas": 7}}, 3)["spec"]
    assert "replicas" not in with_initial_replicas(rendered, None, None)["spec"]
    fixed = {"kind": "Deployment", "spec": {"replicas": 2}}
    assert with_initial_replicas(fixed, None, 5)["spec"]["replicas"] == 2


def test_the_apiservers_words_are_kept_from_an_error_body() -> None:
    status = b'{"kind":"Status","message":"address not allowed","code":400}'
    assert error_body_text(status) == "address not allowed"
    assert error_body_text("plain refusal\n") == "plain refusal"
    assert error_body_text(None) == ""


def test_a_decision_is_plain_data() -> None:
    decision = decide(2, readings(10, 10), POLICY, (), now=0)
    assert isinstance(decision, ScaleDecision) and decision.pods == 2 and decision.reporting == 2
