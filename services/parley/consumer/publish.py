"""What a batch stored, for the one publisher (`common/chat/publish.EventPublisher`): its stored
events, each once, and its rejections."""

from __future__ import annotations

from collections.abc import Sequence

from parley.common.chat.publish import EventPublisher
from parley.common.chat.store import Outcome, Rejected, Stored
from parley.common.events import StoredEventType


def unique_events(outcomes: Sequence[Outcome]) -> list[StoredEventType]:
    """The stored events of a batch in order, each once (a repeat in the batch shares its event)."""
    seen: set[tuple[object, int]] = set()
    events: list[StoredEventType] = []
    for outcome in outcomes:
        if isinstance(outcome, Stored):
            key = (outcome.event.chat_id, outcome.event.seq)
            if key not in seen:
                seen.add(key)
                events.append(outcome.event)
    return events


async def publish_outcomes(publisher: EventPublisher, outcomes: Sequence[Outcome]) -> int:
    """Publishes a committed batch; returns how many stored events went out."""
    events = unique_events(outcomes)
    await publisher.publish(events, [o.event() for o in outcomes if isinstance(o, Rejected)])
    return len(events)
