"""Stored events into pending notifications: a consumer group on the events topic.

For each new message, every member of its chat but the sender gets (or keeps) a pending row for
that chat, due after the delay: sooner for a direct chat or a mention. The write is idempotent
(first seq the least, last seq the greatest, due time the earliest, a mention stays one), so a
replayed batch changes nothing; offsets are committed only after the rows are. At least once in,
exactly the same rows out.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert

from parley.common.chat.models import chat_members, chats
from parley.common.db import Database
from parley.common.events import MessageCreated, parse_stored_event
from parley.common.group_consumer import GroupConsumer, Record
from parley.common.users.directory import username_key, users
from parley.notification.tables import pending

log = logging.getLogger(__name__)

MENTION = re.compile(r"@([\w.\-]{1,64})")


def mentioned_keys(body: str) -> set[str]:
    """The canonical usernames a message body mentions (`@name`)."""
    return {username_key(name.rstrip(".-")) for name in MENTION.findall(body)}


@dataclass(frozen=True)
class Delays:
    ordinary: float
    urgent: float


def pending_rows(
    messages: Sequence[MessageCreated],
    kinds: dict[uuid.UUID, str],
    members: dict[uuid.UUID, list[tuple[uuid.UUID, str, int]]],
    delays: Delays,
) -> list[dict[str, object]]:
    """One row per (member, chat), merged over the batch the way the database merges them."""
    rows: dict[tuple[uuid.UUID, uuid.UUID], dict[str, object]] = {}
    for event in messages:
        kind = kinds.get(event.chat_id)
        if kind is None:
            continue  # the chat is gone
        mentions = mentioned_keys(event.message.body)
        for user_id, key, last_read in members.get(event.chat_id, []):
            if user_id == event.message.sender_id or last_read >= event.seq:
                continue
            mentioned = key in mentions
            urgent = kind == "direct" or mentioned
            due = event.at + timedelta(seconds=delays.urgent if urgent else delays.ordinary)
            row = rows.get((user_id, event.chat_id))
            if row is None:
                rows[(user_id, event.chat_id)] = {
                    "user_id": user_id,
                    "chat_id": event.chat_id,
                    "first_seq": event.seq,
                    "last_seq": event.seq,
                    "urgent": urgent,
                    "mentioned": mentioned,
                    "first_at": event.at,
                    "due_at": due,
                }
                continue
            row["first_seq"] = min(int(str(row["first_seq"])), event.seq)
            row["last_seq"] = max(int(str(row["last_seq"])), event.seq)
            row["urgent"] = bool(row["urgent"]) or urgent
            row["mentioned"] = bool(row["mentioned"]) or mentioned
            first_at, due_at = row["first_at"], row["due_at"]
            assert isinstance(first_at, datetime) and isinstance(due_at, datetime)
            row["first_at"] = min(first_at, event.at)
            row["due_at"] = min(due_at, due)
    return list(rows.values())


async def record(db: Database, messages: Sequence[MessageCreated], delays: Delays) -> int:
    """Write the pending rows of some new messages; returns how many (member, chat) rows."""
    if not messages:
        return 0
    chat_ids = list({event.chat_id for event in messages})
    async with db.engine.begin() as conn:
        kinds = {
            row.id: row.kind
            for row in await conn.execute(sa.select(chats.c.id, chats.c.kind).where(chats.c.id.in_(chat_ids)))
        }
        members: dict[uuid.UUID, list[tuple[uuid.UUID, str, int]]] = {}
        result = await conn.execute(
            sa.select(
                chat_members.c.chat_id,
                chat_members.c.user_id,
                users.c.username_key,
                chat_members.c.last_read_seq,
            )
            .join(users, users.c.id == chat_members.c.user_id)
            .where(chat_members.c.chat_id.in_(chat_ids), users.c.disabled.is_(False))
        )
        for chat_id, user_id, key, last_read in result:
            members.setdefault(chat_id, []).append((user_id, key, int(last_read)))
        rows = pending_rows(messages, kinds, members, delays)
        if not rows:
            return 0
        stmt = insert(pending)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[pending.c.user_id, pending.c.chat_id],
            set_={
                "first_seq": sa.func.least(pending.c.first_seq, excluded.first_seq),
                "last_seq": sa.func.greatest(pending.c.last_seq, excluded.last_seq),
                "urgent": pending.c.urgent | excluded.urgent,
                "mentioned": pending.c.mentioned | excluded.mentioned,
                "first_at": sa.func.least(pending.c.first_at, excluded.first_at),
                "due_at": sa.func.least(pending.c.due_at, excluded.due_at),
            },
        )
        for start in range(0, len(rows), 5000):
            await conn.execute(stmt, rows[start : start + 5000])
        return len(rows)


class EventsConsumer(GroupConsumer):
    """The events topic, as a consumer group: replicas share its partitions. Recording a batch
    again is harmless (the pending rows are merged)."""

    name = "events-consumer"

    def __init__(
        self,
        *,
        db: Database,
        bootstrap: str,
        topic: str,
        group_id: str,
        delays: Delays,
        batch_size: int = 500,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__(
            bootstrap=bootstrap,
            topic=topic,
            group_id=group_id,
            batch_size=batch_size,
            max_backoff=max_backoff,
        )
        self.db = db
        self.delays = delays
        self.recorded = 0  # (member, chat) rows written since start

    async def handle(self, records: Sequence[Record]) -> None:
        messages = [event for event in (self._parse(r.value) for r in records) if event is not None]
        self.recorded += await record(self.db, messages, self.delays)

    @staticmethod
    def _parse(value: bytes | None) -> MessageCreated | None:
        if value is None:
            return None
        try:
            event = parse_stored_event(value)
        except ValidationError as exc:
            log.error("skipping a stored event that cannot be read: %s", exc.errors(include_input=False)[:3])
            return None
        return event if isinstance(event, MessageCreated) else None
