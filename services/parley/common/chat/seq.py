"""Per-chat sequence numbers.

`chats.last_seq` is the allocator: a writer takes the next n seqs of a chat with
`UPDATE chats SET last_seq = last_seq + n … RETURNING last_seq` inside its own transaction. The
update's row lock makes every other writer of that chat (api or consumer) wait until this
transaction ends, so seqs are handed out in commit order; a rolled-back transaction gives its
seqs back with everything else, so there are no gaps and no duplicates. Writers of other chats are
not blocked. A writer that needs several chats locks them in id order (`lock_chats`), so two such
writers cannot deadlock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.common.chat.models import chats


class ChatNotFound(LookupError):
    def __init__(self, chat_id: uuid.UUID) -> None:
        super().__init__(f"chat {chat_id} does not exist")
        self.chat_id = chat_id


@dataclass(frozen=True)
class LockedChat:
    id: uuid.UUID
    kind: str
    title: str | None
    last_seq: int
    member_count: int


_LOCKED_COLUMNS = (chats.c.id, chats.c.kind, chats.c.title, chats.c.last_seq, chats.c.member_count)


async def lock_chat(conn: AsyncConnection, chat_id: uuid.UUID) -> LockedChat | None:
    """Lock one chat's row for this transaction (before deciding on a change that needs seqs)."""
    row = (
        await conn.execute(sa.select(*_LOCKED_COLUMNS).where(chats.c.id == chat_id).with_for_update())
    ).first()
    return LockedChat(*row) if row is not None else None


async def lock_chats(conn: AsyncConnection, chat_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, LockedChat]:
    """Lock several chats' rows, in id order; chats that do not exist are missing from the result."""
    ids = sorted(set(chat_ids))
    if not ids:
        return {}
    rows = await conn.execute(
        sa.select(*_LOCKED_COLUMNS).where(chats.c.id.in_(ids)).order_by(chats.c.id).with_for_update()
    )
    return {row.id: LockedChat(*row) for row in rows}


async def take_seqs(
    conn: AsyncConnection,
    chat_id: uuid.UUID,
    count: int = 1,
    *,
    activity_at: datetime | None = None,
    member_delta: int = 0,
) -> int:
    """Reserve the next `count` seqs of a chat; returns the first. `activity_at` moves the chat up
    in its members' chat lists; `member_delta` keeps `member_count` in step with membership."""
    if count < 1:
        raise ValueError("count must be at least 1")
    values: dict[str, object] = {"last_seq": chats.c.last_seq + count}
    if activity_at is not None:
        values["last_activity_at"] = sa.func.greatest(chats.c.last_activity_at, activity_at)
    if member_delta:
        values["member_count"] = chats.c.member_count + member_delta
    last = (
        await conn.execute(
            sa.update(chats).where(chats.c.id == chat_id).values(**values).returning(chats.c.last_seq)
        )
    ).scalar_one_or_none()
    if last is None:
        raise ChatNotFound(chat_id)
    return int(last) - count + 1
