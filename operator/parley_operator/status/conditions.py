"""Conditions as the Kubernetes API conventions define them (type, status, reason, message,
lastTransitionTime, observedGeneration), kept as plain dicts the way they sit in the status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class ConditionUpdate:
    type: str
    status: bool | None
    """True, False, or None for Unknown."""
    reason: str
    message: str = ""


def status_word(status: bool | None) -> str:
    return "Unknown" if status is None else ("True" if status else "False")


def now_rfc3339(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_conditions(
    current: Iterable[Mapping[str, Any]],
    updates: Iterable[ConditionUpdate],
    now: str,
    generation: int | None,
) -> list[dict[str, Any]]:
    """The conditions after `updates`: lastTransitionTime moves only when a condition's status
    changes (or it appears); reason, message and observedGeneration always follow the update.
    Conditions not updated are kept as they are, in their order; new ones are appended."""
    result = [dict(c) for c in current]
    index = {c.get("type"): i for i, c in enumerate(result)}
    for update in updates:
        word = status_word(update.status)
        new: dict[str, Any] = {
            "type": update.type,
            "status": word,
            "reason": update.reason,
            "message": update.message,
            "lastTransitionTime": now,
        }
        if generation is not None:
            new["observedGeneration"] = generation
        if update.type in index:
            old = result[index[update.type]]
            if old.get("status") == word and old.get("lastTransitionTime"):
                new["lastTransitionTime"] = old["lastTransitionTime"]
            result[index[update.type]] = new
        else:
            index[update.type] = len(result)
            result.append(new)
    return result


def find(conditions: Iterable[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)
