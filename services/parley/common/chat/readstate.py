"""Read state: one number per member, `last_read_seq` (everything up to it is read)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.common.chat.models import chat_members, chats


async def mark_read(
    conn: AsyncConnection, chat_id: uuid.UUID, user_id: uuid.UUID, seq: int
) -> tuple[int, bool] | None:
    """Move the member's read position up to `seq` (capped at the chat's last seq); it never moves
    backwards, also when two devices report at once. Returns (position, whether it moved), or None
    when the user is not a member."""
    target = sa.func.least(seq, chats.c.last_seq)
    moved = (
        await conn.execute(
            sa.update(chat_members)
            .where(
                chat_members.c.chat_id == chat_id,
                chat_members.c.user_id == user_id,
                chats.c.id == chat_members.c.chat_id,
                chat_members.c.last_read_seq < target,
            )
            .values(last_read_seq=target)
            .returning(chat_members.c.last_read_seq)
        )
    ).scalar_one_or_none()
    if moved is not None:
        return int(moved), True
    current = (
        await conn.execute(
            sa.select(chat_members.c.last_read_seq).where(
                chat_members.c.chat_id == chat_id, chat_members.c.user_id == user_id
            )
        )
    ).scalar_one_or_none()
    return None if current is None else (int(current), False)
