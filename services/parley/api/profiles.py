"""Profiles and user lookup: the user directory (auth's table, read-only) joined with profiles."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.api.errors import AccountUnavailable, UserNotFound
from parley.api.schemas import OwnProfile, ProfileUpdate, PublicProfile
from parley.common.users.directory import username_key, users
from parley.common.users.models import NotificationPreferences, UserProfile

profiles: sa.Table = UserProfile.__table__  # type: ignore[attr-defined]

_DISPLAY_NAME = sa.func.coalesce(profiles.c.display_name, users.c.username)
_PUBLIC = (
    users.c.id,
    users.c.username,
    _DISPLAY_NAME.label("display_name"),
    profiles.c.avatar_attachment_id,
)
_JOINED = users.outerjoin(profiles, profiles.c.user_id == users.c.id)


def public_profile(row: Any) -> PublicProfile:
    return PublicProfile(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        avatar_attachment_id=row.avatar_attachment_id,
    )


async def own_profile(conn: AsyncConnection, user_id: uuid.UUID) -> OwnProfile:
    row = (
        await conn.execute(
            sa.select(*_PUBLIC, profiles.c.display_name.label("custom"), profiles.c.notification_preferences)
            .select_from(_JOINED)
            .where(users.c.id == user_id, users.c.disabled.is_(False))
        )
    ).first()
    if row is None:
        raise AccountUnavailable()
    prefs = row.notification_preferences
    return OwnProfile(
        **public_profile(row).model_dump(),
        custom_display_name=row.custom,
        notification_preferences=NotificationPreferences.model_validate(prefs)
        if prefs is not None
        else NotificationPreferences(),
    )


async def update_profile(conn: AsyncConnection, user_id: uuid.UUID, update: ProfileUpdate) -> OwnProfile:
    async with conn.begin():
        current = await own_profile(conn, user_id)
        values: dict[str, Any] = {
            "display_name": current.custom_display_name,
            "avatar_attachment_id": current.avatar_attachment_id,
            "notification_preferences": current.notification_preferences.model_dump(),
        }
        changed = update.model_dump(include=update.model_fields_set)
        if "notification_preferences" in changed and update.notification_preferences is None:
            changed.pop("notification_preferences")  # null there means "leave as is", not "forget"
        values.update(changed)
        values["updated_at"] = datetime.now(UTC)
        statement = insert(profiles).values(user_id=user_id, **values)
        await conn.execute(statement.on_conflict_do_update(index_elements=[profiles.c.user_id], set_=values))
    return await own_profile(conn, user_id)


async def get_public_profile(conn: AsyncConnection, user_id: uuid.UUID) -> PublicProfile:
    row = (
        await conn.execute(
            sa.select(*_PUBLIC).select_from(_JOINED).where(users.c.id == user_id, users.c.disabled.is_(False))
        )
    ).first()
    if row is None:
        raise UserNotFound()
    return public_profile(row)


async def find_by_prefix(conn: AsyncConnection, prefix: str, limit: int) -> list[PublicProfile]:
    """Users whose username starts with `prefix`, ignoring case and width; a range on the
    byte-ordered index of the canonical username (see common.users.directory)."""
    key = username_key(prefix)
    rows = await conn.execute(
        sa.select(*_PUBLIC)
        .select_from(_JOINED)
        .where(
            users.c.username_key.op("~>=~")(key),
            users.c.username_key.op("~<~")(key + "\U0010ffff"),
            users.c.disabled.is_(False),
        )
        # The index's own order (byte-wise), so the first `limit` matches come straight off it.
        .order_by(sa.literal_column("auth_users.username_key USING ~<~"))
        .limit(limit)
    )
    return [public_profile(row) for row in rows]


async def existing_users(conn: AsyncConnection, user_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these users exist and are not disabled."""
    ids = list(set(user_ids))
    if not ids:
        return set()
    rows = await conn.execute(sa.select(users.c.id).where(users.c.id.in_(ids), users.c.disabled.is_(False)))
    return {row.id for row in rows}
