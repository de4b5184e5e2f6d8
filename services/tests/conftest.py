"""Fixtures shared by the service tests."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from fastapi import FastAPI
from parley.common.kafka import ensure_topics
from parley.common.redis import Redis, create_redis
from parley.common.topics import Topics
from parley.devstack import ports
from parley.migrations import runner
from parley.testing.slices import delete_topics, unique
from parley.testing.tokens import Signer

from tests.factories import MakePeople, Person, create_users, database


@pytest.fixture(scope="session")
def signer() -> Signer:
    """The key the service apps under test trust (they get it through `StaticJwks`)."""
    return Signer()


@pytest.fixture
def make_people(app: FastAPI, signer: Signer) -> MakePeople:
    """Users in the database of the test's `app` (its folder's fixture), with tokens."""

    async def make(*names: str) -> list[Person]:
        ids = await create_users(database(app).engine, names)
        return [Person(i, n, signer.token(i, n)) for i, n in zip(ids, names, strict=True)]

    return make


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the dev stack's Redis (the one way services make one)."""
    client = create_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def migrated_template(postgres_server: dict[str, str]) -> Iterator[str]:
    """A database brought to the newest schema once per session; tests get copies of it."""
    base = postgres_server["dsn"].rsplit("/", 1)[0]
    name = unique("tmpl_")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        runner.upgrade(f"{base}/{name}")
        yield name
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_dsn(postgres_server: dict[str, str], migrated_template: str) -> Iterator[str]:
    """A fresh database with the whole schema (a copy of the template: much faster than migrating)."""
    base = postgres_server["dsn"].rsplit("/", 1)[0]
    name = unique("t_")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def running_kafka() -> str:
    """The dev stack's Kafka (`parley dev up kafka`); waits a minute for it (the dev stack is
    shared, someone may be restarting it). A stand-in for the main branch's `kafka_bootstrap`
    fixture, which also starts it."""
    address = f"{ports.HOST}:{ports.KAFKA}"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection((ports.HOST, ports.KAFKA), timeout=2).close()
            return address
        except OSError as exc:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Kafka is not listening on {address}: start it with `parley dev up kafka` ({exc})"
                )
            time.sleep(1)


@pytest.fixture(scope="session")
async def session_topics(running_kafka: str) -> AsyncIterator[Topics]:
    """The platform's topics under a prefix of this session's own, deleted afterwards."""
    topics = Topics(unique("t-api-"))
    await ensure_topics(running_kafka, topics.all(), partitions=1)
    yield topics
    await delete_topics(running_kafka, f"{topics.prefix}.")
