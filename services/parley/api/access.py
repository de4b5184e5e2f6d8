"""The one membership check of every read: not a member and no such chat look the same (404)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.api.errors import ChatNotFound
from parley.common.chat.models import chat_members, chats


@dataclass(frozen=True)
class Membership:
    chat_id: uuid.UUID
    kind: str
    role: str
    last_seq: int
    last_read_seq: int


async def membership(conn: AsyncConnection, chat_id: uuid.UUID, me: uuid.UUID) -> Membership:
    row = (
        await conn.execute(
            sa.select(chats.c.kind, chat_members.c.role, chats.c.last_seq, chat_members.c.last_read_seq)
            .select_from(chat_members.join(chats, chats.c.id == chat_members.c.chat_id))
            .where(chat_members.c.chat_id == chat_id, chat_members.c.user_id == me)
        )
    ).first()
    if row is None:
        raise ChatNotFound()
    return Membership(chat_id, row.kind, row.role, row.last_seq, row.last_read_seq)
