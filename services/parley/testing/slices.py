"""Slices of the dev stack's servers for fixtures wider than one test (module-scoped servers,
benchmarks): a fresh database, a Redis key prefix's and a Kafka topic prefix's cleanup."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def fresh_database(postgres_endpoints: dict[str, str]) -> Iterator[str]:
    """DSN of a fresh, empty database on the dev stack's PostgreSQL, dropped on exit."""
    base = postgres_endpoints["dsn"].rsplit("/", 1)[0]
    name = unique("t_")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def delete_prefix(redis_url: str, prefix: str) -> None:
    """Delete every key under `prefix`."""
    client = aioredis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete every topic whose name starts with `prefix`: without this the shared dev Kafka
    collects every run's topics, and a broker with thousands of partitions starts, answers metadata
    and benchmarks slower."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [topic for topic in await admin.list_topics() if topic.startswith(prefix)]
        if topics:
            await admin.delete_topics(topics)
    finally:
        await admin.close()
