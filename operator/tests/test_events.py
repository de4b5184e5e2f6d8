"""Which Kubernetes Events a pass posts on the ChatPlatform, and the platform's name on log lines."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import pytest
from parley_operator.cli import configure_logging
from parley_operator.status.events import MESSAGE_MAX, PlatformEvent, condition_events


def _conds(ready: str | None, degraded: str | None, reason: str = "KafkaUnavailable") -> list[dict[str, Any]]:
    found = []
    if ready is not None:
        found.append(
            {
                "type": "Ready",
                "status": ready,
                "reason": "Ready" if ready == "True" else reason,
                "message": "the platform serves clients" if ready == "True" else "Kafka unreachable",
            }
        )
    if degraded is not None:
        found.append(
            {
                "type": "Degraded",
                "status": degraded,
                "reason": reason if degraded == "True" else "AsExpected",
                "message": "Kafka unreachable: connection refused" if degraded == "True" else "",
            }
        )
    return found


def test_a_first_install_still_starting_posts_nothing() -> None:
    assert condition_events([], _conds("False", "False", reason="WaitingForMigration")) == []


def test_becoming_ready_is_a_normal_event() -> None:
    assert condition_events(_conds("False", "False"), _conds("True", "False")) == [
        PlatformEvent("Normal", "Ready", "the platform serves clients")
    ]


def test_trouble_is_a_warning_once_per_transition() -> None:
    before, after = _conds("True", "False"), _conds("False", "True")
    assert condition_events(before, after) == [
        PlatformEvent("Warning", "KafkaUnavailable", "Kafka unreachable: connection refused"),
        PlatformEvent("Warning", "KafkaUnavailable", "not ready: Kafka unreachable"),
    ]
    assert condition_events(after, after) == []  # the same trouble, next pass: nothing new
    other = _conds("False", "True", reason="SecretNotFound")
    assert [e.reason for e in condition_events(after, other)] == ["SecretNotFound"]


def test_long_messages_are_cut_to_what_the_apiserver_takes() -> None:
    after = _conds("False", "True")
    after[1]["message"] = "x" * 5000
    (degraded,) = [e for e in condition_events([], after) if e.message.startswith("x")]
    assert len(degraded.message) == MESSAGE_MAX


def test_lines_about_a_platform_name_it(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging(verbose=False)
        body = kopf.Body(
            {
                "apiVersion": "parley.dev/v1alpha1",
                "kind": "ChatPlatform",
                "metadata": {"namespace": "chat", "name": "acme", "uid": "u"},
            }
        )
        kopf.LocalObjectLogger(body=body, settings=kopf.OperatorSettings()).error(
            "Handler 'reconcile-on-create' failed temporarily: Provisioning"
        )
    finally:
        root.handlers[:], root.level = handlers, level
    assert "[chat/acme] Handler 'reconcile-on-create' failed temporarily" in capsys.readouterr().err
