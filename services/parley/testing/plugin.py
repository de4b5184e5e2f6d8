"""Fixtures over the dev stack's real servers.

Session fixtures start (or reuse) one component each, once; function fixtures hand every test its
own slice of it — a fresh database, a Redis key prefix, and so on — so tests never see each other's
data and can run against a stack a developer is also using.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
import redis.asyncio as aioredis

from parley.devstack.stack import Stack


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def dev_stack() -> Stack:
    return Stack()


def _component_up(stack: Stack, name: str) -> dict[str, str]:
    return stack.up([name])[name]


@pytest.fixture(scope="session")
def postgres_server(dev_stack: Stack) -> dict[str, str]:
    return _component_up(dev_stack, "postgres")


@pytest.fixture(scope="session")
def redis_server(dev_stack: Stack) -> dict[str, str]:
    return _component_up(dev_stack, "redis")


@pytest.fixture
def pg_dsn(postgres_server: dict[str, str]) -> Iterator[str]:
    """DSN of a fresh, empty database that is dropped after the test."""
    base = postgres_server["dsn"]
    admin = base.rsplit("/", 1)[0] + "/postgres"
    name = unique("t_")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url(redis_server: dict[str, str]) -> str:
    return redis_server["url"]


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of the test's own; its keys are deleted after the test."""
    prefix = unique("t:") + ":"
    yield prefix
    client = aioredis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
