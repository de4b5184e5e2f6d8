"""An api app per test on its own copy of the migrated database and its own Redis key prefix, with
Kafka topics of the session's own; users are written straight into the user directory and carry
real RS256 tokens from a test signing key, checked by the app's real verifier."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from parley.api.app import create_app
from parley.api.settings import ApiSettings
from parley.common.chat.store import Stored, store_commands
from parley.common.topics import Topics
from parley.testing.tokens import ISSUER, Signer, StaticJwks

from tests.factories import database

BASE_URL = "http://api.test"


@pytest.fixture
def settings(
    migrated_dsn: str, redis_url: str, redis_prefix: str, session_topics: Topics, running_kafka: str
) -> ApiSettings:
    return ApiSettings(
        postgres_dsn=migrated_dsn,
        redis_url=redis_url,
        redis_key_prefix=redis_prefix,
        kafka_bootstrap=running_kafka,
        kafka_topic_prefix=session_topics.prefix,
        auth_issuer=ISSUER,
        api_max_group_members=8,
        api_outbox_poll_seconds=0.5,
        api_db_pool_size=5,
    )


@pytest.fixture
async def app(settings: ApiSettings, signer: Signer) -> AsyncIterator[FastAPI]:
    app = create_app(settings, jwks=StaticJwks(signer))
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as c:
        yield c


async def store(app: FastAPI, *commands: Any) -> list[Any]:
    """Messages and the like, stored the way the consumer stores them."""
    async with database(app).engine.begin() as conn:
        outcomes = await store_commands(conn, list(commands))
    assert all(isinstance(o, Stored) for o in outcomes), outcomes
    return [o.event for o in outcomes]
