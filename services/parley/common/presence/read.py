"""Reading users' current presence from Redis (the REST endpoint, and a socket's first look)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict

from parley.common.events import PresenceStatus
from parley.common.presence.keys import PresenceKeys
from parley.common.redis import Redis


class UserPresence(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: uuid.UUID
    status: PresenceStatus
    last_seen: AwareDatetime | None


def epoch_to_datetime(value: str | float | None) -> datetime | None:
    if value is None or value == "":
        return None
    seconds = float(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def _status(value: str | None) -> PresenceStatus:
    if value == "online":
        return "online"
    if value == "away":
        return "away"
    return "offline"


async def read_presence(
    redis: Redis, keys: PresenceKeys, user_ids: Sequence[uuid.UUID]
) -> list[UserPresence]:
    """In the order asked; a user presence never saw (or forgot) is offline with no last_seen."""
    async with redis.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.hmget(keys.user(user_id), ["status", "last_seen"])
        rows: list[list[str | None]] = await pipe.execute()
    result = []
    for user_id, (status, last_seen) in zip(user_ids, rows, strict=True):
        result.append(
            UserPresence(
                user_id=user_id,
                status=_status(status),
                last_seen=epoch_to_datetime(last_seen),
            )
        )
    return result
