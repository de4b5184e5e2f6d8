"""`GET /presence?user_ids=…`: the current presence of some users."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from redis.exceptions import RedisError

from parley.common.auth import CurrentUser
from parley.common.errors import ApiError, responses
from parley.common.presence import PresenceKeys, UserPresence, read_presence
from parley.common.redis import RedisDep
from parley.presence.settings import PresenceSettings

log = logging.getLogger(__name__)
router = APIRouter(tags=["presence"])


class PresenceList(BaseModel):
    users: list[UserPresence]


def _invalid(message: str, kind: str) -> ApiError:
    return ApiError(
        "The request is not valid.",
        code="validation_error",
        status_code=422,
        details=[{"loc": ["query", "user_ids"], "msg": message, "type": kind}],
    )


def parse_user_ids(values: list[str], limit: int) -> list[uuid.UUID]:
    """Comma-separated and/or repeated; duplicates count once, the first one's place is kept."""
    ids: dict[uuid.UUID, None] = {}
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                ids[uuid.UUID(part)] = None
            except ValueError:
                raise _invalid(f"{part[:40]!r} is not a user id", "uuid_parsing") from None
            if len(ids) > limit:
                raise _invalid(f"at most {limit} user ids per request", "too_many")
    if not ids:
        raise _invalid("at least one user id is required", "missing")
    return list(ids)


@router.get("/presence", response_model=PresenceList, responses=responses(401, 503))
async def get_presence(
    request: Request,
    user: CurrentUser,
    redis: RedisDep,
    user_ids: Annotated[
        list[str],
        Query(description="User ids, comma-separated (the parameter may also repeat).", max_length=1000),
    ],
) -> PresenceList:
    """Online, away or offline, and when each user was last seen (null: never, or too long ago).
    Any signed-in user may ask about any user id; an unknown id is simply offline."""
    settings: PresenceSettings = request.app.state.settings
    keys: PresenceKeys = request.app.state.presence_keys
    ids = parse_user_ids(user_ids, settings.presence_query_max_ids)
    try:
        return PresenceList(users=await read_presence(redis, keys, ids))
    except RedisError as exc:
        log.warning("presence: cannot read from Redis: %r", exc)
        raise ApiError(
            "Presence cannot be read right now.", code="presence_unavailable", status_code=503
        ) from exc
