"""Changing chats: creating them, renaming, membership and roles, muting.

Every change that others must see takes the chat's next seq (common.chat), is written to the
change log and to the outbox in the same transaction, and is published by the outbox drainer after
the commit. Each function locks the chat's row first and decides from what it reads under that
lock, so two admins acting at once cannot, say, both fill the last free place or demote each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.api.errors import (
    AccountUnavailable,
    ChatNotFound,
    Forbidden,
    MemberNotFound,
    NotAGroup,
    TooManyMembers,
    UnknownUsers,
    UserNotFound,
)
from parley.api.permissions import can_change_roles, can_manage, can_remove
from parley.api.profiles import existing_users
from parley.common.chat.changes import EventBuilder, append_changes, insert_changes
from parley.common.chat.models import DIRECT_PAIR_UNIQUE, chat_members, chats
from parley.common.chat.seq import LockedChat, lock_chat
from parley.common.chat.types import Role
from parley.common.errors import ApiError
from parley.common.events import (
    ChatCreated,
    ChatRenamed,
    MemberAdded,
    MemberData,
    MemberRemoved,
    MemberRoleChanged,
    StoredEventType,
)
from parley.common.outbox import enqueue


def _now() -> datetime:
    return datetime.now(UTC)


async def _role(conn: AsyncConnection, chat_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
    return (
        await conn.execute(
            sa.select(chat_members.c.role).where(
                chat_members.c.chat_id == chat_id, chat_members.c.user_id == user_id
            )
        )
    ).scalar_one_or_none()


async def _lock_as_member(conn: AsyncConnection, chat_id: uuid.UUID, me: uuid.UUID) -> tuple[LockedChat, str]:
    chat = await lock_chat(conn, chat_id)
    role = await _role(conn, chat_id, me) if chat is not None else None
    if chat is None or role is None:
        raise ChatNotFound()
    return chat, role


def _require_group(chat: LockedChat) -> None:
    if chat.kind != "group":
        raise NotAGroup()


async def _require_users(conn: AsyncConnection, me: uuid.UUID, others: Sequence[uuid.UUID]) -> None:
    found = await existing_users(conn, [me, *others])
    if me not in found:
        raise AccountUnavailable()
    missing = set(others) - found
    if missing:
        raise UnknownUsers(missing)


async def _insert_members(
    conn: AsyncConnection, chat_id: uuid.UUID, members: Sequence[tuple[uuid.UUID, str, int]], now: datetime
) -> None:
    """(user, role, read up to) for each new member."""
    await conn.execute(
        sa.insert(chat_members),
        [
            {
                "chat_id": chat_id,
                "user_id": user_id,
                "role": role,
                "joined_at": now,
                "last_read_seq": read_up_to,
                "muted": False,
            }
            for user_id, role, read_up_to in members
        ],
    )


async def _log(conn: AsyncConnection, events: list[StoredEventType]) -> list[StoredEventType]:
    await enqueue(conn, events)
    return events


async def create_group(
    conn: AsyncConnection, me: uuid.UUID, title: str, member_ids: Sequence[uuid.UUID], *, max_members: int
) -> tuple[uuid.UUID, list[StoredEventType]]:
    others = [user_id for user_id in dict.fromkeys(member_ids) if user_id != me]
    if len(others) + 1 > max_members:
        raise TooManyMembers(max_members)
    now = _now()
    chat_id = uuid.uuid4()
    members: list[tuple[uuid.UUID, Role]] = [(me, "owner"), *((user_id, "member") for user_id in others)]
    event = ChatCreated(
        chat_id=chat_id,
        seq=1,
        actor_id=me,
        at=now,
        kind="group",
        title=title,
        members=[MemberData(user_id=user_id, role=role) for user_id, role in members],
    )
    async with conn.begin():
        await _require_users(conn, me, others)
        await conn.execute(
            sa.insert(chats).values(
                id=chat_id,
                kind="group",
                title=title,
                created_by=me,
                created_at=now,
                last_seq=1,
                last_activity_at=now,
                member_count=len(members),
            )
        )
        await _insert_members(conn, chat_id, [(user_id, role, 1) for user_id, role in members], now)
        await insert_changes(conn, [event])
        events = await _log(conn, [event])
    return chat_id, events


async def create_direct(
    conn: AsyncConnection, me: uuid.UUID, other: uuid.UUID
) -> tuple[uuid.UUID, bool, list[StoredEventType]]:
    """The direct chat of the two users, made if it does not exist yet: (id, created, events).
    Concurrent calls for the same pair meet on the pair's unique constraint, so there is one."""
    if other == me:
        raise ApiError(
            "A direct chat is between two different users.", code="invalid_direct_chat", status_code=422
        )
    lo, hi = sorted((me, other))
    now = _now()
    chat_id = uuid.uuid4()
    async with conn.begin():
        found = await existing_users(conn, [me, other])
        if me not in found:
            raise AccountUnavailable()
        if other not in found:
            raise UserNotFound()
        inserted = (
            await conn.execute(
                insert(chats)
                .values(
                    id=chat_id,
                    kind="direct",
                    direct_user_lo=lo,
                    direct_user_hi=hi,
                    created_by=me,
                    created_at=now,
                    last_seq=1,
                    last_activity_at=now,
                    member_count=2,
                )
                .on_conflict_do_nothing(constraint=DIRECT_PAIR_UNIQUE)
                .returning(chats.c.id)
            )
        ).scalar_one_or_none()
        if inserted is None:
            existing = (
                await conn.execute(
                    sa.select(chats.c.id).where(chats.c.direct_user_lo == lo, chats.c.direct_user_hi == hi)
                )
            ).scalar_one()
            return existing, False, []
        event = ChatCreated(
            chat_id=chat_id,
            seq=1,
            actor_id=me,
            at=now,
            kind="direct",
            members=[MemberData(user_id=lo, role="member"), MemberData(user_id=hi, role="member")],
        )
        await _insert_members(conn, chat_id, [(lo, "member", 1), (hi, "member", 1)], now)
        await insert_changes(conn, [event])
        events = await _log(conn, [event])
    return chat_id, True, events


async def rename(
    conn: AsyncConnection, me: uuid.UUID, chat_id: uuid.UUID, title: str
) -> list[StoredEventType]:
    async with conn.begin():
        chat, role = await _lock_as_member(conn, chat_id, me)
        _require_group(chat)
        if not can_manage(role):
            raise Forbidden("Only the owner and admins can rename a group.")
        if chat.title == title:
            return []
        now = _now()
        events = await append_changes(
            conn,
            chat_id,
            [lambda seq: ChatRenamed(chat_id=chat_id, seq=seq, actor_id=me, at=now, title=title)],
        )
        await conn.execute(sa.update(chats).where(chats.c.id == chat_id).values(title=title))
        return await _log(conn, events)


async def add_members(
    conn: AsyncConnection,
    me: uuid.UUID,
    chat_id: uuid.UUID,
    user_ids: Sequence[uuid.UUID],
    *,
    max_members: int,
) -> tuple[list[uuid.UUID], list[StoredEventType]]:
    """Adds those not yet members; returns who was added and the events."""
    async with conn.begin():
        chat, role = await _lock_as_member(conn, chat_id, me)
        _require_group(chat)
        if not can_manage(role):
            raise Forbidden("Only the owner and admins can add members.")
        wanted = list(dict.fromkeys(user_ids))
        present = set(
            (
                await conn.execute(
                    sa.select(chat_members.c.user_id).where(
                        chat_members.c.chat_id == chat_id, chat_members.c.user_id.in_(wanted)
                    )
                )
            ).scalars()
        )
        new = [user_id for user_id in wanted if user_id not in present]
        if not new:
            return [], []
        await _require_users(conn, me, new)
        if chat.member_count + len(new) > max_members:
            raise TooManyMembers(max_members)
        now = _now()
        builders: list[EventBuilder] = [_added(chat_id, me, user_id, now) for user_id in new]
        events = await append_changes(conn, chat_id, builders, activity_at=now, member_delta=len(new))
        # A new member has nothing unread from before they joined.
        await _insert_members(
            conn,
            chat_id,
            [(event.user_id, "member", event.seq) for event in events if isinstance(event, MemberAdded)],
            now,
        )
        return new, await _log(conn, events)


def _added(chat_id: uuid.UUID, me: uuid.UUID, user_id: uuid.UUID, now: datetime) -> EventBuilder:
    return lambda seq: MemberAdded(
        chat_id=chat_id, seq=seq, actor_id=me, at=now, user_id=user_id, role="member"
    )


async def remove_member(
    conn: AsyncConnection, me: uuid.UUID, chat_id: uuid.UUID, user_id: uuid.UUID
) -> list[StoredEventType]:
    if user_id == me:
        return await leave(conn, me, chat_id)
    async with conn.begin():
        chat, role = await _lock_as_member(conn, chat_id, me)
        _require_group(chat)
        target_role = await _role(conn, chat_id, user_id)
        if target_role is None:
            raise MemberNotFound()
        if not can_remove(role, target_role):
            raise Forbidden(f"A group's {role} cannot remove its {target_role}.")
        now = _now()
        events = await append_changes(
            conn,
            chat_id,
            [
                lambda seq: MemberRemoved(
                    chat_id=chat_id, seq=seq, actor_id=me, at=now, user_id=user_id, reason="removed"
                )
            ],
            member_delta=-1,
        )
        await _delete_member(conn, chat_id, user_id)
        return await _log(conn, events)


async def _delete_member(conn: AsyncConnection, chat_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await conn.execute(
        sa.delete(chat_members).where(chat_members.c.chat_id == chat_id, chat_members.c.user_id == user_id)
    )


async def leave(conn: AsyncConnection, me: uuid.UUID, chat_id: uuid.UUID) -> list[StoredEventType]:
    """Leave a group; an owner who leaves hands the group to the longest-standing admin, or else
    the longest-standing member."""
    async with conn.begin():
        chat, role = await _lock_as_member(conn, chat_id, me)
        _require_group(chat)
        now = _now()
        builders: list[EventBuilder] = []
        successor: tuple[uuid.UUID, str] | None = None
        if role == "owner":
            row = (
                await conn.execute(
                    sa.select(chat_members.c.user_id, chat_members.c.role)
                    .where(chat_members.c.chat_id == chat_id, chat_members.c.user_id != me)
                    .order_by(
                        (chat_members.c.role != "admin").asc(),
                        chat_members.c.joined_at,
                        chat_members.c.user_id,
                    )
                    .limit(1)
                )
            ).first()
            if row is not None:
                successor = (row.user_id, row.role)
                builders.append(_role_changed(chat_id, me, row.user_id, "owner", row.role, now))
        builders.append(
            lambda seq: MemberRemoved(
                chat_id=chat_id, seq=seq, actor_id=me, at=now, user_id=me, reason="left"
            )
        )
        events = await append_changes(conn, chat_id, builders, member_delta=-1)
        if successor is not None:
            await _set_role(conn, chat_id, successor[0], "owner")
        await _delete_member(conn, chat_id, me)
        return await _log(conn, events)


def _role_changed(
    chat_id: uuid.UUID, me: uuid.UUID, user_id: uuid.UUID, role: Role, previous: str, now: datetime
) -> EventBuilder:
    return lambda seq: MemberRoleChanged(
        chat_id=chat_id,
        seq=seq,
        actor_id=me,
        at=now,
        user_id=user_id,
        role=role,
        previous_role=cast(Role, previous),  # read back from the table, whose check allows only roles
    )


async def _set_role(conn: AsyncConnection, chat_id: uuid.UUID, user_id: uuid.UUID, role: str) -> None:
    await conn.execute(
        sa.update(chat_members)
        .where(chat_members.c.chat_id == chat_id, chat_members.c.user_id == user_id)
        .values(role=role)
    )


async def change_role(
    conn: AsyncConnection, me: uuid.UUID, chat_id: uuid.UUID, user_id: uuid.UUID, role: Role
) -> list[StoredEventType]:
    async with conn.begin():
        chat, my_role = await _lock_as_member(conn, chat_id, me)
        _require_group(chat)
        if not can_change_roles(my_role):
            raise Forbidden("Only the owner changes roles.")
        target_role = await _role(conn, chat_id, user_id)
        if target_role is None:
            raise MemberNotFound()
        if user_id == me:
            raise ApiError(
                "The owner hands the group over by making someone else owner.",
                code="invalid_role_change",
                status_code=409,
            )
        if target_role == role:
            return []
        now = _now()
        builders = [_role_changed(chat_id, me, user_id, role, target_role, now)]
        if role == "owner":
            builders.append(_role_changed(chat_id, me, me, "admin", "owner", now))
        events = await append_changes(conn, chat_id, builders)
        await _set_role(conn, chat_id, user_id, role)
        if role == "owner":
            await _set_role(conn, chat_id, me, "admin")
        return await _log(conn, events)


async def mute(
    conn: AsyncConnection, me: uuid.UUID, chat_id: uuid.UUID, muted: bool, until: datetime | None
) -> None:
    """A personal setting: no seq, nobody else hears of it."""
    async with conn.begin():
        updated = (
            await conn.execute(
                sa.update(chat_members)
                .where(chat_members.c.chat_id == chat_id, chat_members.c.user_id == me)
                .values(muted=muted, muted_until=until if muted else None)
                .returning(chat_members.c.user_id)
            )
        ).first()
    if updated is None:
        raise ChatNotFound()
