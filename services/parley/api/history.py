"""History pages and sync.

History (`before_seq`, or neither cursor): messages in their current state, walking back from the
newest, straight off the (chat_id, seq) primary key. Sync (`after_seq`): the change log from that
seq on, oldest first, plus the current state of the messages created in that window.

Why sync is exact: a chat's seqs are taken under its row lock and the lock is held until commit,
so a chat's changes become visible in seq order; a reader never sees seq n+1 without seq n. A page
that ends at seq s therefore holds every change up to s, and the next page starts right after.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.api.access import membership
from parley.api.schemas import MessageOut, MessagePage, Order, ReactionCount
from parley.common.chat.models import chat_changes
from parley.common.chat.types import MAX_SEQ
from parley.common.errors import ApiError
from parley.common.events import parse_stored_event

_MESSAGES_SQL = """
SELECT m.seq, m.sender_id, m.client_id, m.body, m.attachments, m.reply_to_seq,
       m.created_at, m.edited_at, m.deleted_at IS NOT NULL AS deleted,
       coalesce((
           SELECT jsonb_agg(jsonb_build_array(r.emoji, r.n, r.mine) ORDER BY r.first_at, r.emoji)
           FROM (
               SELECT emoji, count(*) AS n, bool_or(user_id = :me) AS mine, min(created_at) AS first_at
               FROM message_reactions
               WHERE chat_id = m.chat_id AND message_seq = m.seq
               GROUP BY emoji
           ) r
       ), '[]'::jsonb) AS reactions
FROM messages m
WHERE m.chat_id = :chat_id AND {window}
ORDER BY m.seq {direction}
LIMIT :limit
"""

_BEFORE = sa.text(_MESSAGES_SQL.format(window="m.seq < :before", direction="DESC"))
_BETWEEN = sa.text(_MESSAGES_SQL.format(window="m.seq > :after AND m.seq <= :upto", direction="ASC"))


class InvalidPage(ApiError):
    status_code = 422
    code = "invalid_page"


def _message(row: Any) -> MessageOut:
    return MessageOut(
        seq=row.seq,
        sender_id=row.sender_id,
        client_id=row.client_id,
        body=row.body,
        attachments=row.attachments,
        reply_to_seq=row.reply_to_seq,
        created_at=row.created_at,
        edited_at=row.edited_at,
        deleted=row.deleted,
        reactions=[ReactionCount(emoji=emoji, count=count, me=mine) for emoji, count, mine in row.reactions],
    )


async def message_page(
    conn: AsyncConnection,
    me: uuid.UUID,
    chat_id: uuid.UUID,
    *,
    before_seq: int | None,
    after_seq: int | None,
    limit: int,
    order: Order | None,
) -> MessagePage:
    if before_seq is not None and after_seq is not None:
        raise InvalidPage("Pass before_seq (history) or after_seq (sync), not both.")
    if after_seq is not None and order == "newest_first":
        raise InvalidPage("Sync (after_seq) pages are oldest first: changes apply in order.")
    member = await membership(conn, chat_id, me)
    if after_seq is not None:
        return await _sync(conn, me, chat_id, after_seq, limit, member.last_seq)
    return await _history(conn, me, chat_id, before_seq, limit, order or "newest_first", member.last_seq)


async def _history(
    conn: AsyncConnection,
    me: uuid.UUID,
    chat_id: uuid.UUID,
    before_seq: int | None,
    limit: int,
    order: Order,
    last_seq: int,
) -> MessagePage:
    before = MAX_SEQ if before_seq is None else before_seq
    rows = (
        await conn.execute(_BEFORE, {"me": me, "chat_id": chat_id, "before": before, "limit": limit + 1})
    ).all()
    page = [_message(row) for row in rows[:limit]]
    has_more = len(rows) > limit
    next_before = page[-1].seq if has_more else None
    if order == "oldest_first":
        page.reverse()
    return MessagePage(
        messages=page,
        changes=None,
        last_seq=max([last_seq, *(m.seq for m in page)]),
        next_before_seq=next_before,
        next_after_seq=None,
        has_more=has_more,
    )


async def _sync(
    conn: AsyncConnection, me: uuid.UUID, chat_id: uuid.UUID, after_seq: int, limit: int, last_seq: int
) -> MessagePage:
    rows = (
        await conn.execute(
            sa.select(chat_changes.c.seq, chat_changes.c.event)
            .where(chat_changes.c.chat_id == chat_id, chat_changes.c.seq > after_seq)
            .order_by(chat_changes.c.seq)
            .limit(limit + 1)
        )
    ).all()
    changes = [parse_stored_event(row.event) for row in rows[:limit]]
    has_more = len(rows) > limit
    messages: list[MessageOut] = []
    upto = changes[-1].seq if changes else after_seq
    if changes:
        message_rows = await conn.execute(
            _BETWEEN, {"me": me, "chat_id": chat_id, "after": after_seq, "upto": upto, "limit": limit}
        )
        messages = [_message(row) for row in message_rows]
    return MessagePage(
        messages=messages,
        changes=changes,
        last_seq=max(last_seq, upto),
        next_before_seq=None,
        next_after_seq=upto,
        has_more=has_more,
    )
