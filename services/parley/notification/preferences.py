"""A user's notification preferences: the model, its defaults, reading and writing it, and the
quiet-hours rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.notification.tables import preferences


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: time = Field(
        description="Local time (in `time_zone`) from which nothing is sent.", examples=["22:00"]
    )
    end: time = Field(description="Local time until which nothing is sent; before `start`: overnight.")

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours start and end at the same time")
        return self


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: bool = Field(default=True, description="Email digests of unread messages.")
    sms: bool = Field(default=False, description="Text messages (to the account's phone number).")
    mentions_only: bool = Field(
        default=False, description="Group chats only when I am mentioned (direct chats always)."
    )
    quiet_hours: QuietHours | None = None
    time_zone: str = Field(default="UTC", max_length=64, description="An IANA time zone, e.g. Europe/Berlin.")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value != "UTC" and value not in _zones():
            raise ValueError("not a known IANA time zone")
        return value


_ZONES: set[str] = set()


def _zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(available_timezones())
    return _ZONES


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def from_row(row: sa.Row[object] | None) -> Preferences:
    if row is None:
        return Preferences()
    quiet = None
    if row.quiet_start is not None and row.quiet_end is not None:
        quiet = QuietHours(start=row.quiet_start, end=row.quiet_end)
    return Preferences(
        email=row.email,
        sms=row.sms,
        mentions_only=row.mentions_only,
        quiet_hours=quiet,
        time_zone=row.time_zone,
    )


async def load(conn: AsyncConnection, user_id: uuid.UUID) -> Preferences:
    row = (await conn.execute(sa.select(preferences).where(preferences.c.user_id == user_id))).one_or_none()
    return from_row(row)


async def store(conn: AsyncConnection, user_id: uuid.UUID, prefs: Preferences) -> None:
    values = {
        "email": prefs.email,
        "sms": prefs.sms,
        "mentions_only": prefs.mentions_only,
        "quiet_start": prefs.quiet_hours.start if prefs.quiet_hours else None,
        "quiet_end": prefs.quiet_hours.end if prefs.quiet_hours else None,
        "time_zone": prefs.time_zone,
        "updated_at": datetime.now(UTC),
    }
    stmt = insert(preferences).values(user_id=user_id, **values)
    await conn.execute(stmt.on_conflict_do_update(index_elements=[preferences.c.user_id], set_=values))


async def turn_off(conn: AsyncConnection, user_id: uuid.UUID, channel: str) -> None:
    """One-click unsubscribe: the channel off, everything else as it was."""
    prefs = await load(conn, user_id)
    await store(conn, user_id, prefs.model_copy(update={channel: False}))


def quiet_until(prefs: Preferences, now: datetime) -> datetime | None:
    """When the user's quiet hours end, if `now` is inside them; None otherwise."""
    quiet = prefs.quiet_hours
    if quiet is None:
        return None
    tz = zone(prefs.time_zone)
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    # Overnight when the end comes before the start (22:00-07:00).
    inside = quiet.start <= t < quiet.end if quiet.start < quiet.end else (t >= quiet.start or t < quiet.end)
    if not inside:
        return None
    end = datetime.combine(local.date(), quiet.end, tzinfo=tz)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), quiet.end, tzinfo=tz)
    return end.astimezone(UTC)
