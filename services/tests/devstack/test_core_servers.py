"""Smoke tests: each core server does real work through the client the services use."""

from __future__ import annotations

import psycopg
import redis.asyncio as aioredis


def test_postgres_round_trip(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("CREATE TABLE t (id serial PRIMARY KEY, body text NOT NULL)")
        conn.execute("INSERT INTO t (body) VALUES (%s), (%s)", ("hello", "wörld"))
        rows = conn.execute("SELECT body FROM t ORDER BY id").fetchall()
    assert rows == [("hello",), ("wörld",)]


def test_postgres_databases_are_isolated(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


async def test_redis_round_trip(redis_url: str, redis_prefix: str) -> None:
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        await client.set(f"{redis_prefix}k", "v", ex=30)
        assert await client.get(f"{redis_prefix}k") == "v"
        pubsub = client.pubsub()
        await pubsub.subscribe(f"{redis_prefix}chan")
        await pubsub.get_message(timeout=1)  # subscribe confirmation
        assert await client.publish(f"{redis_prefix}chan", "ping") == 1
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
        assert msg is not None and msg["data"] == "ping"
        await pubsub.aclose()
    finally:
        await client.aclose()
