"""Redis: one client (its own connection pool) per app, made in its lifespan."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Request

Redis = aioredis.Redis


def create_redis(url: str) -> Redis:
    return aioredis.from_url(url, decode_responses=True, health_check_interval=30)


def get_redis(request: Request) -> Redis:
    client = request.app.state.redis
    assert isinstance(client, aioredis.Redis)
    return client


RedisDep = Annotated[Redis, Depends(get_redis)]
