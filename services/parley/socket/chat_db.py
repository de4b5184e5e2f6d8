"""The socket's PostgreSQL access: what it reads (a user's chats, one membership, and a chat's
change log after a seq, for catching a connection up) and the one thing it writes (a read
position). Events come back as the JSON text they were stored as,
to be forwarded without being parsed."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from parley.common.chat.models import chat_changes, chat_members, chats
from parley.common.chat.readstate import mark_read


@dataclass(frozen=True)
class ChatPosition:
    chat_id: uuid.UUID
    last_seq: int
    last_read_seq: int


class ChatDb:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def chats_of(self, user_id: uuid.UUID) -> list[ChatPosition]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(chat_members.c.chat_id, chats.c.last_seq, chat_members.c.last_read_seq)
                .select_from(chat_members.join(chats, chats.c.id == chat_members.c.chat_id))
                .where(chat_members.c.user_id == user_id)
                .order_by(chat_members.c.chat_id)
            )
            return [ChatPosition(row.chat_id, int(row.last_seq), int(row.last_read_seq)) for row in rows]

    async def is_member(self, chat_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        async with self.engine.connect() as conn:
            found = await conn.execute(
                sa.select(sa.literal(1)).where(
                    chat_members.c.chat_id == chat_id, chat_members.c.user_id == user_id
                )
            )
            return found.first() is not None

    async def last_seqs(self, chat_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        ids = list(chat_ids)
        if not ids:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(chats.c.id, chats.c.last_seq).where(chats.c.id.in_(ids)))
            return {row.id: int(row.last_seq) for row in rows}

    async def changes_after(self, chat_id: uuid.UUID, after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        """(seq, stored event as JSON) oldest first. Exact: a chat's seqs are taken under its row
        lock and become visible in order, so a read never sees seq n+1 without n."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(chat_changes.c.seq, sa.cast(chat_changes.c.event, sa.Text).label("event"))
                .where(chat_changes.c.chat_id == chat_id, chat_changes.c.seq > after_seq)
                .order_by(chat_changes.c.seq)
                .limit(limit)
            )
            return [(int(row.seq), row.event.encode()) for row in rows]

    async def mark_read(self, chat_id: uuid.UUID, user_id: uuid.UUID, seq: int) -> tuple[int, bool] | None:
        """Moves the user's read position (never backwards); None if they are not a member."""
        async with self.engine.begin() as conn:
            return await mark_read(conn, chat_id, user_id, seq)
