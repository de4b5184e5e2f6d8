"""Kubernetes Events on the ChatPlatform for what a user must act on (pure: which ones, from the
conditions before and after a pass; `reconcile` posts them through kopf).

Only transitions are posted, so a problem that lasts gives one Event, not one per pass: Degraded
turning True or changing its reason (a Warning with the reason and message: an unreachable server,
a missing Secret, a refused shrink, a failed migration, an invalid spec), Ready turning False after
it was True (a Warning) and Ready turning True (Normal). A first install still starting posts nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from parley_operator.status.conditions import find

MESSAGE_MAX = 1024
"""The apiserver refuses longer Event messages."""


@dataclass(frozen=True)
class PlatformEvent:
    type: str
    """Normal or Warning."""
    reason: str
    message: str


def _state(conditions: Iterable[Mapping[str, Any]], type_: str) -> tuple[str | None, str, str]:
    found = find(conditions, type_) or {}
    return found.get("status"), found.get("reason", ""), found.get("message", "")


def _short(message: str) -> str:
    return message if len(message) <= MESSAGE_MAX else message[: MESSAGE_MAX - 1] + "…"


def condition_events(
    before: Iterable[Mapping[str, Any]], after: Iterable[Mapping[str, Any]]
) -> list[PlatformEvent]:
    before, after = list(before), list(after)
    events: list[PlatformEvent] = []
    was, was_reason, _ = _state(before, "Degraded")
    now, reason, message = _state(after, "Degraded")
    if now == "True" and (was != "True" or was_reason != reason):
        events.append(PlatformEvent("Warning", reason, _short(message)))
    was, was_reason, _ = _state(before, "Ready")
    now, reason, message = _state(after, "Ready")
    if now == "False" and was == "True":
        events.append(PlatformEvent("Warning", reason or "NotReady", _short(f"not ready: {message}")))
    elif now == "True" and was != "True":
        events.append(PlatformEvent("Normal", "Ready", _short(message)))
    return events
