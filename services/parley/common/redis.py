"""Redis: one client (its own connection pool) per app, made in its lifespan."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Request
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

Redis = aioredis.Redis


def create_redis(url: str) -> Redis:
    # A client made from a URL retries nothing by default: after Redis restarts, every pooled
    # connection fails its next command once. Trying again on a fresh connection hides that; only
    # connection errors, where the command most likely never ran (a timeout may have run it).
    retry = Retry(
        ExponentialWithJitterBackoff(base=0.02, cap=0.5), retries=2, supported_errors=(RedisConnectionError,)
    )
    return aioredis.from_url(url, decode_responses=True, health_check_interval=30, retry=retry)


def get_redis(request: Request) -> Redis:
    client = request.app.state.redis
    assert isinstance(client, aioredis.Redis)
    return client


RedisDep = Annotated[Redis, Depends(get_redis)]
