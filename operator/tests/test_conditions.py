"""Conditions per the API conventions: the transition time moves only when the status does."""

from __future__ import annotations

from datetime import UTC, datetime

from parley_operator.status.conditions import ConditionUpdate, find, now_rfc3339, set_conditions

T1, T2 = "2026-01-01T10:00:00Z", "2026-01-01T10:05:00Z"


def test_new_condition_gets_the_current_time_and_generation() -> None:
    (cond,) = set_conditions([], [ConditionUpdate("Ready", False, "Pending", "starting")], T1, 3)
    assert cond == {
        "type": "Ready",
        "status": "False",
        "reason": "Pending",
        "message": "starting",
        "lastTransitionTime": T1,
        "observedGeneration": 3,
    }


def test_same_status_keeps_the_transition_time_but_takes_reason_and_message() -> None:
    first = set_conditions([], [ConditionUpdate("Ready", False, "Pending", "a")], T1, 1)
    second = set_conditions(first, [ConditionUpdate("Ready", False, "ReplicasNotReady", "b")], T2, 2)
    assert second[0]["lastTransitionTime"] == T1
    assert (second[0]["reason"], second[0]["message"], second[0]["observedGeneration"]) == (
        "ReplicasNotReady",
        "b",
        2,
    )


def test_status_change_moves_the_transition_time() -> None:
    first = set_conditions([], [ConditionUpdate("Ready", False, "Pending")], T1, 1)
    second = set_conditions(first, [ConditionUpdate("Ready", True, "Ready")], T2, 1)
    assert second[0]["status"] == "True" and second[0]["lastTransitionTime"] == T2
    unknown = set_conditions(second, [ConditionUpdate("Ready", None, "Lost")], T2, 1)
    assert unknown[0]["status"] == "Unknown"


def test_other_conditions_are_kept_in_order_and_the_input_is_not_changed() -> None:
    current = set_conditions(
        [], [ConditionUpdate("Ready", True, "Ready"), ConditionUpdate("Degraded", False, "AsExpected")], T1, 1
    )
    snapshot = [dict(c) for c in current]
    after = set_conditions(current, [ConditionUpdate("Degraded", True, "MigrationFailed")], T2, 2)
    assert [c["type"] for c in after] == ["Ready", "Degraded"]
    assert after[0] == snapshot[0]
    assert current == snapshot
    degraded = find(after, "Degraded")
    assert degraded is not None and degraded["lastTransitionTime"] == T2


def test_timestamps_are_rfc3339_utc() -> None:
    assert now_rfc3339(datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC)) == "2026-03-04T05:06:07Z"
