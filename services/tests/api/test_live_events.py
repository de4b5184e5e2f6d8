"""Membership changes reach the live path like messages do: the chat's Redis channel, the channels of
the users concerned and the events topic; and a Kafka outage never fails a request."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from parley.api.app import create_app
from parley.api.settings import ApiSettings
from parley.common.chat.channels import chat_channel, user_channel
from parley.common.topics import Topics
from parley.testing.tokens import Signer, StaticJwks
from parley.testing.waiting import eventually

from tests.api.conftest import BASE_URL
from tests.factories import MakePeople, database
from tests.kafka_reader import chat_events


async def test_membership_events_go_to_redis_and_kafka(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_people: MakePeople,
    settings: ApiSettings,
    redis_url: str,
    running_kafka: str,
    session_topics: Topics,
) -> None:
    ada, bob, cy = await make_people("ada", "bob", "cy")
    prefix = settings.redis_key_prefix
    redis = aioredis.from_url(redis_url)
    pubsub = redis.pubsub()
    # Before the chat exists, only the users' own channels can be listened to.
    await pubsub.subscribe(user_channel(prefix, bob.id), user_channel(prefix, cy.id))
    try:
        created = await client.post(
            "/chats/groups", json={"title": "Live", "member_ids": [str(bob.id)]}, headers=ada.auth
        )
        chat_id = uuid.UUID(created.json()["id"])
        first = await _messages(pubsub, 1)
        await pubsub.subscribe(chat_channel(prefix, chat_id))
        await client.post(f"/chats/{chat_id}/members", json={"user_ids": [str(cy.id)]}, headers=ada.auth)
        await client.patch(f"/chats/{chat_id}", json={"title": "Live!"}, headers=ada.auth)
        rest = await _messages(pubsub, 3)
    finally:
        await pubsub.aclose()
        await redis.aclose()

    assert [(channel, event["type"], event["seq"]) for channel, event in first] == [
        (user_channel(prefix, bob.id), "chat.created", 1)
    ]
    assert sorted((channel, event["type"], event["seq"]) for channel, event in rest) == sorted(
        [
            (chat_channel(prefix, chat_id), "member.added", 2),
            (user_channel(prefix, cy.id), "member.added", 2),
            (chat_channel(prefix, chat_id), "chat.renamed", 3),
        ]
    )
    published = await chat_events(running_kafka, session_topics.events, chat_id, 3)
    assert [(e.type, e.seq) for e in published] == [
        ("chat.created", 1),
        ("member.added", 2),
        ("chat.renamed", 3),
    ]
    # What went out is what sync serves.
    sync = (await client.get(f"/chats/{chat_id}/messages", params={"after_seq": 0}, headers=ada.auth)).json()
    assert [e.model_dump(mode="json") for e in published] == sync["changes"]
    # The drainer deletes the rows after it published them: a moment after Kafka has them.
    await eventually(lambda: _outbox(app), lambda n: n == 0, within=10, what="the outbox drained")


async def _messages(pubsub: aioredis.client.PubSub, count: int) -> list[tuple[str, dict[str, Any]]]:
    got: list[tuple[str, dict[str, Any]]] = []
    async with asyncio.timeout(15):
        while len(got) < count:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:
                got.append((message["channel"].decode(), json.loads(message["data"])))
    return got


async def _outbox(app: FastAPI) -> int:
    async with database(app).engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT count(*) FROM event_outbox"))).scalar_one())


async def test_requests_succeed_while_kafka_is_away_and_the_events_follow_later(
    settings: ApiSettings,
    signer: Signer,
    running_kafka: str,
    session_topics: Topics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="parley.common.outbox")
    away = create_app(
        settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1", "api_outbox_max_backoff_seconds": 0.2}),
        jwks=StaticJwks(signer),
    )
    async with LifespanManager(away):
        people = await _people(away, signer)
        ada, bob = people
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=away), base_url=BASE_URL) as client:
            created = await client.post(
                "/chats/groups", json={"title": "Offline", "member_ids": [bob[0]]}, headers=ada[1]
            )
            assert created.status_code == 201
            chat_id = uuid.UUID(created.json()["id"])
            renamed = await client.patch(f"/chats/{chat_id}", json={"title": "Still offline"}, headers=ada[1])
            assert renamed.status_code == 200

            async def retried() -> bool:
                return away.state.outbox.failures >= 2

            await eventually(retried)
        assert await _outbox(away) == 2
    assert "publishing failed" in caplog.text

    # Kafka reachable again (here: the next start of the service): the events go out, in order.
    back = create_app(settings, jwks=StaticJwks(signer))
    async with LifespanManager(back):

        async def drained() -> bool:
            return await _outbox(back) == 0

        await eventually(drained)
    published = await chat_events(running_kafka, session_topics.events, chat_id, 2)
    assert [(e.type, e.seq) for e in published] == [("chat.created", 1), ("chat.renamed", 2)]


async def _people(app: FastAPI, signer: Signer) -> list[tuple[str, dict[str, str]]]:
    from tests.factories import create_users

    ids = await create_users(database(app).engine, ["ada", "bob"])
    return [(str(i), {"Authorization": f"Bearer {signer.token(i)}"}) for i in ids]
