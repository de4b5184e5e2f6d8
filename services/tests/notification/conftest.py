"""Notification tests on the dev stack's PostgreSQL, Redis, Kafka and SMTP server: a database,
key prefix and topics of each test's own, and short delays."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from parley.common.chat.models import chat_members, chats, messages
from parley.common.db import async_url
from parley.common.events import MessageCreated, MessageData, encode
from parley.common.kafka import KafkaProducer, ensure_topics
from parley.common.presence import PresenceKeys
from parley.common.redis import Redis
from parley.common.topics import Topics, chat_key
from parley.notification.app import create_app
from parley.notification.settings import NotificationSettings
from parley.testing.tokens import AUDIENCE, ISSUER, Signer, StaticJwks
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.factories import create_chat, create_users

SECRET = "test-unsubscribe-secret"


@pytest.fixture
async def engine(migrated_dsn: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_url(migrated_dsn))
    yield engine
    await engine.dispose()


@pytest.fixture
async def topics(kafka_bootstrap: str, kafka_topic_prefix: str) -> Topics:
    topics = Topics(kafka_topic_prefix.rstrip("-"))
    await ensure_topics(kafka_bootstrap, [topics.events, topics.notifications_dlq], partitions=2)
    return topics


@pytest.fixture
def settings(
    migrated_dsn: str,
    redis_url: str,
    redis_prefix: str,
    kafka_bootstrap: str,
    topics: Topics,
    smtp_server: dict[str, str],
) -> NotificationSettings:
    return NotificationSettings(
        postgres_dsn=SecretStr(migrated_dsn),
        redis_url=SecretStr(redis_url),
        redis_key_prefix=redis_prefix,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic_prefix=topics.prefix,
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        notification_delay_seconds=1.0,
        notification_urgent_delay_seconds=0.5,
        notification_digest_interval_seconds=3600,
        notification_tick_seconds=0.2,
        notification_token_secret=SecretStr(SECRET),
        notification_public_url="http://parley.test",
        notification_senders=2,
        smtp_host=smtp_server["host"],
        smtp_port=int(smtp_server["port"]),
    )


@contextlib.asynccontextmanager
async def running(
    settings: NotificationSettings, signer: Signer
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings, jwks=StaticJwks(signer))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notification") as client,
    ):
        yield app, client


@pytest.fixture
async def service(
    settings: NotificationSettings, signer: Signer
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running(settings, signer) as pair:
        yield pair


@pytest.fixture
def client(service: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return service[1]


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[KafkaProducer]:
    producer = KafkaProducer(kafka_bootstrap, client_id="notification-tests")
    yield producer
    await producer.stop()


@dataclass
class World:
    """Users with email addresses of the test's own, chats, and a way to post messages."""

    engine: AsyncEngine
    producer: KafkaProducer
    topics: Topics

    async def users(self, addresses: dict[str, str]) -> dict[str, uuid.UUID]:
        ids = await create_users(self.engine, list(addresses))
        async with self.engine.begin() as conn:
            for user_id, address in zip(ids, addresses.values(), strict=True):
                await conn.execute(
                    sa.text("UPDATE auth_users SET email = :e, email_key = :e WHERE id = :id"),
                    {"e": address, "id": user_id},
                )
        return dict(zip(addresses, ids, strict=True))

    async def chat(self, owner: uuid.UUID, members: Sequence[uuid.UUID], kind: str = "group") -> uuid.UUID:
        return await create_chat(self.engine, owner, members, kind=kind)

    async def post(
        self, chat_id: uuid.UUID, sender: uuid.UUID, bodies: Sequence[str], read_by: Sequence[uuid.UUID] = ()
    ) -> list[int]:
        """Store messages as the consumer does (seqs, rows) and publish their stored events;
        `read_by` have read them before the events go out (a read after them could come too late
        for an urgent message on a slow machine)."""
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            last = (
                await conn.execute(
                    sa.update(chats)
                    .where(chats.c.id == chat_id)
                    .values(
                        last_seq=chats.c.last_seq + len(bodies),
                        last_message_seq=chats.c.last_seq + len(bodies),
                    )
                    .returning(chats.c.last_seq)
                )
            ).scalar_one()
            seqs = list(range(last - len(bodies) + 1, last + 1))
            await conn.execute(
                sa.insert(messages),
                [
                    {
                        "chat_id": chat_id,
                        "seq": seq,
                        "sender_id": sender,
                        "client_id": uuid.uuid4().hex,
                        "body": body,
                        "attachments": [],
                        "created_at": now,
                    }
                    for seq, body in zip(seqs, bodies, strict=True)
                ],
            )
            # The sender has read what they wrote.
            await conn.execute(
                sa.update(chat_members)
                .where(chat_members.c.chat_id == chat_id, chat_members.c.user_id.in_([sender, *read_by]))
                .values(last_read_seq=last)
            )
        events = [
            MessageCreated(
                chat_id=chat_id,
                seq=seq,
                actor_id=sender,
                at=now,
                message=MessageData(
                    seq=seq, sender_id=sender, client_id=uuid.uuid4().hex, body=body, created_at=now
                ),
            )
            for seq, body in zip(seqs, bodies, strict=True)
        ]
        await self.producer.send_many([(self.topics.events, chat_key(chat_id), encode(e)) for e in events])
        return seqs

    async def mute(self, chat_id: uuid.UUID, user_id: uuid.UUID) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(chat_members)
                .where(chat_members.c.chat_id == chat_id, chat_members.c.user_id == user_id)
                .values(muted=True)
            )

    async def scalar(self, sql: str, **params: object) -> object:
        async with self.engine.connect() as conn:
            return (await conn.execute(sa.text(sql), params)).scalar()


@pytest.fixture
def world(engine: AsyncEngine, producer: KafkaProducer, topics: Topics) -> World:
    return World(engine, producer, topics)


async def set_online(redis: Redis, prefix: str, user_id: uuid.UUID) -> None:
    """What presence writes for a connected user (the hash `read_presence` reads)."""
    await redis.hset(PresenceKeys(prefix).user(user_id), mapping={"status": "online", "version": 1})
