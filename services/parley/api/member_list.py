"""Reading a chat's members, with their roles and read positions (the read receipts)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.api.access import membership
from parley.api.cursor import parse_user_cursor, user_cursor
from parley.api.errors import MemberNotFound
from parley.api.profiles import profiles
from parley.api.schemas import MemberList, MemberOut
from parley.common.chat.models import chat_members
from parley.common.users.directory import users

_COLUMNS = (
    chat_members.c.user_id,
    users.c.username,
    sa.func.coalesce(profiles.c.display_name, users.c.username).label("display_name"),
    profiles.c.avatar_attachment_id,
    chat_members.c.role,
    chat_members.c.joined_at,
    chat_members.c.last_read_seq,
)
_FROM = chat_members.join(users, users.c.id == chat_members.c.user_id).outerjoin(
    profiles, profiles.c.user_id == chat_members.c.user_id
)


def _member(row: Any) -> MemberOut:
    return MemberOut(
        user_id=row.user_id,
        username=row.username,
        display_name=row.display_name,
        avatar_attachment_id=row.avatar_attachment_id,
        role=row.role,
        joined_at=row.joined_at,
        last_read_seq=row.last_read_seq,
    )


async def list_members(
    conn: AsyncConnection, me: uuid.UUID, chat_id: uuid.UUID, *, limit: int, cursor: str | None
) -> MemberList:
    await membership(conn, chat_id, me)
    statement = sa.select(*_COLUMNS).select_from(_FROM).where(chat_members.c.chat_id == chat_id)
    if cursor is not None:
        statement = statement.where(chat_members.c.user_id > parse_user_cursor(cursor))
    rows = (await conn.execute(statement.order_by(chat_members.c.user_id).limit(limit + 1))).all()
    members = [_member(row) for row in rows[:limit]]
    next_cursor = user_cursor(members[-1].user_id) if len(rows) > limit else None
    return MemberList(members=members, next_cursor=next_cursor)


async def get_members(
    conn: AsyncConnection, chat_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> list[MemberOut]:
    if not user_ids:
        return []
    rows = await conn.execute(
        sa.select(*_COLUMNS)
        .select_from(_FROM)
        .where(chat_members.c.chat_id == chat_id, chat_members.c.user_id.in_(user_ids))
        .order_by(chat_members.c.user_id)
    )
    return [_member(row) for row in rows]


async def get_member(conn: AsyncConnection, chat_id: uuid.UUID, user_id: uuid.UUID) -> MemberOut:
    found = await get_members(conn, chat_id, [user_id])
    if not found:
        raise MemberNotFound()
    return found[0]
