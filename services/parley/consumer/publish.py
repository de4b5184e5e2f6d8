"""What a batch stored, for the one publisher (`common/chat/publish.EventPublisher`): its stored
events, each once, and its rejections."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context

from parley.common.chat.publish import EventPublisher
from parley.common.chat.store import Outcome, Rejected, Stored
from parley.common.events import StoredEventType


def unique_events(outcomes: Sequence[Outcome]) -> list[StoredEventType]:
    """The stored events of a batch in order, each once (a repeat in the batch shares its event)."""
    return [stored.event for stored in _unique(outcomes)]


def _unique(outcomes: Sequence[Outcome]) -> list[Stored]:
    seen: set[tuple[object, int]] = set()
    unique: list[Stored] = []
    for outcome in outcomes:
        if isinstance(outcome, Stored):
            key = (outcome.event.chat_id, outcome.event.seq)
            if key not in seen:
                seen.add(key)
                unique.append(outcome)
    return unique


async def publish_outcomes(
    publisher: EventPublisher, outcomes: Sequence[Outcome], traces: Sequence[Context | None] | None = None
) -> int:
    """Publishes a committed batch; returns how many stored events went out. `traces`: the trace
    context of each outcome (aligned with `outcomes`), None when nothing of the batch is traced."""
    unique = _unique(outcomes)
    events = [stored.event for stored in unique]
    event_traces: list[Context | None] | None = None
    if traces is not None:
        by_event: dict[tuple[object, int], Context | None] = {}
        for outcome, ctx in zip(outcomes, traces, strict=True):
            if isinstance(outcome, Stored) and ctx is not None:
                by_event.setdefault((outcome.event.chat_id, outcome.event.seq), ctx)
        event_traces = [by_event.get((event.chat_id, event.seq)) for event in events]
    await publisher.publish(
        events,
        [o.event() for o in outcomes if isinstance(o, Rejected)],
        event_traces,
        # Encoded once, by the store, for the change log: the same bytes go out.
        encoded=[stored.data for stored in unique],
    )
    return len(events)
