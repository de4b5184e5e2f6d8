"""Appending to a chat's change log from a writer that changes one chat at a time (the api)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.common.chat.models import chat_changes
from parley.common.chat.seq import take_seqs
from parley.common.events import StoredEventType

# Builds the event once its seq is known.
EventBuilder = Callable[[int], StoredEventType]


def change_row(event: StoredEventType) -> dict[str, Any]:
    return {
        "chat_id": event.chat_id,
        "seq": event.seq,
        "type": event.type,
        "command_id": event.command_id,
        "event": event.model_dump(mode="json"),
    }


async def insert_changes(conn: AsyncConnection, events: Sequence[StoredEventType]) -> None:
    if events:
        await conn.execute(sa.insert(chat_changes), [change_row(event) for event in events])


async def append_changes(
    conn: AsyncConnection,
    chat_id: uuid.UUID,
    builders: Sequence[EventBuilder],
    *,
    activity_at: datetime | None = None,
    member_delta: int = 0,
) -> list[StoredEventType]:
    """Take the next seqs of the chat, build the events with them and log them, all in the
    caller's transaction (which should hold the chat's lock already if it decided anything from
    the chat's state)."""
    if not builders:
        return []
    first = await take_seqs(conn, chat_id, len(builders), activity_at=activity_at, member_delta=member_delta)
    events = [build(first + offset) for offset, build in enumerate(builders)]
    await insert_changes(conn, events)
    return events
