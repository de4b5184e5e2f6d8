"""Reading chats: the caller's chat list and one chat, with preview, unread count and peer.

The list is the caller's memberships joined with their chats, newest activity first. The page is
chosen first (index-only on chat_members, then chats by primary key); preview, unread count and
the direct chat's peer are looked up for that page's rows only.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.api.cursor import activity_cursor, parse_activity_cursor
from parley.api.errors import ChatNotFound
from parley.api.schemas import PREVIEW_CHARS, UNREAD_CAP, ChatList, ChatSummary, MessagePreview, PublicProfile

_SUMMARY_SQL = """
WITH page AS (
    SELECT c.id, c.kind, c.title, c.member_count, c.last_seq, c.last_message_seq,
           c.last_activity_at, c.direct_user_lo, c.direct_user_hi,
           m.role, m.last_read_seq, m.muted, m.muted_until
    FROM chat_members m
    JOIN chats c ON c.id = m.chat_id
    WHERE m.user_id = :me {where}
    ORDER BY c.last_activity_at DESC, c.id DESC
    LIMIT :limit
)
SELECT page.*,
       lm.sender_id AS lm_sender_id, left(lm.body, {preview}) AS lm_body,
       jsonb_array_length(lm.attachments) AS lm_attachments, lm.created_at AS lm_created_at,
       lm.deleted_at IS NOT NULL AS lm_deleted,
       CASE WHEN page.last_read_seq >= page.last_seq THEN 0 ELSE (
           SELECT count(*) FROM (
               SELECT 1 FROM messages u
               WHERE u.chat_id = page.id AND u.seq > page.last_read_seq
                 AND u.sender_id <> :me AND u.deleted_at IS NULL
               LIMIT {cap}
           ) unread
       ) END AS unread_count,
       pu.id AS peer_id, pu.username AS peer_username,
       coalesce(pp.display_name, pu.username) AS peer_display_name,
       pp.avatar_attachment_id AS peer_avatar
FROM page
LEFT JOIN messages lm ON lm.chat_id = page.id AND lm.seq = page.last_message_seq
LEFT JOIN auth_users pu ON page.kind = 'direct' AND pu.id = CASE
    WHEN page.direct_user_lo = :me THEN page.direct_user_hi ELSE page.direct_user_lo END
LEFT JOIN user_profiles pp ON pp.user_id = pu.id
ORDER BY page.last_activity_at DESC, page.id DESC
"""


def _query(where: str) -> sa.TextClause:
    return sa.text(_SUMMARY_SQL.format(where=where, preview=PREVIEW_CHARS, cap=UNREAD_CAP))


_FIRST_PAGE = _query("")
_NEXT_PAGE = _query("AND (c.last_activity_at, c.id) < (:after_at, :after_id)")
_ONE_CHAT = _query("AND c.id = :chat_id")


def _summary(row: Any) -> ChatSummary:
    last_message = None
    if row.lm_sender_id is not None:
        last_message = MessagePreview(
            seq=row.last_message_seq,
            sender_id=row.lm_sender_id,
            body=row.lm_body,
            attachment_count=row.lm_attachments,
            created_at=row.lm_created_at,
            deleted=row.lm_deleted,
        )
    peer = None
    if row.peer_id is not None:
        peer = PublicProfile(
            id=row.peer_id,
            username=row.peer_username,
            display_name=row.peer_display_name,
            avatar_attachment_id=row.peer_avatar,
        )
    return ChatSummary(
        id=row.id,
        kind=row.kind,
        title=row.title,
        peer=peer,
        member_count=row.member_count,
        role=row.role,
        last_seq=row.last_seq,
        last_activity_at=row.last_activity_at,
        last_message=last_message,
        last_read_seq=row.last_read_seq,
        unread_count=row.unread_count,
        muted=row.muted,
        muted_until=row.muted_until,
    )


async def list_chats(conn: AsyncConnection, me: uuid.UUID, *, limit: int, cursor: str | None) -> ChatList:
    params: dict[str, object] = {"me": me, "limit": limit + 1}
    statement = _FIRST_PAGE
    if cursor is not None:
        after_at, after_id = parse_activity_cursor(cursor)
        params.update(after_at=after_at, after_id=after_id)
        statement = _NEXT_PAGE
    rows = (await conn.execute(statement, params)).all()
    chats = [_summary(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = chats[-1]
        next_cursor = activity_cursor(last.last_activity_at, last.id)
    return ChatList(chats=chats, next_cursor=next_cursor)


async def get_chat(conn: AsyncConnection, me: uuid.UUID, chat_id: uuid.UUID) -> ChatSummary:
    row = (await conn.execute(_ONE_CHAT, {"me": me, "limit": 1, "chat_id": chat_id})).first()
    if row is None:
        raise ChatNotFound()
    return _summary(row)


_UNREAD = sa.text(
    "SELECT count(*) FROM (SELECT 1 FROM messages WHERE chat_id = :chat_id AND seq > :after"
    " AND sender_id <> :me AND deleted_at IS NULL LIMIT :cap) unread"
)


async def unread_count(conn: AsyncConnection, me: uuid.UUID, chat_id: uuid.UUID, after_seq: int) -> int:
    params = {"chat_id": chat_id, "after": after_seq, "me": me, "cap": UNREAD_CAP}
    return int((await conn.execute(_UNREAD, params)).scalar_one())
