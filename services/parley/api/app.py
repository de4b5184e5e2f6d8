"""`parley serve api`: the app factory. Nothing connects before the lifespan starts."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from parley.api.routes import chats, members, users
from parley.api.settings import ApiSettings
from parley.common.auth import JwksSource, start_verifier
from parley.common.chat.publish import EventPublisher
from parley.common.db import Database
from parley.common.health import DatabasePing, Health, KafkaPing, check, redis_ping, task_running
from parley.common.kafka import KafkaProducer
from parley.common.outbox import OutboxDrainer
from parley.common.redis import create_redis
from parley.common.service import new_app, running
from parley.common.topics import Topics

log = logging.getLogger(__name__)


def create_app(settings: ApiSettings | None = None, *, jwks: JwksSource | None = None) -> FastAPI:
    """`jwks`: where the token verifier gets the auth service's keys; by default over HTTP from
    `auth_jwks_url` (tests hand in a key set of their own)."""
    settings = settings or ApiSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        http = httpx.AsyncClient()
        db = Database(settings.postgres_dsn.get_secret_value(), pool_size=settings.api_db_pool_size)
        redis = create_redis(settings.redis_url.get_secret_value())
        producer = KafkaProducer(settings.kafka_bootstrap, client_id=f"parley-{settings.service_name}")
        publisher = EventPublisher(
            redis, settings.redis_key_prefix, producer, Topics(settings.kafka_topic_prefix)
        )
        outbox = OutboxDrainer(
            db.engine,
            publisher.publish,
            poll_seconds=settings.api_outbox_poll_seconds,
            max_backoff=settings.api_outbox_max_backoff_seconds,
        )
        verifier = await start_verifier(settings, http, jwks)
        kafka_ping = KafkaPing(settings.kafka_bootstrap, client_id=f"parley-{settings.service_name}-health")
        # Requests need only the database: what they publish waits in the outbox while Redis or
        # Kafka is away, so those two are reported by /readyz but do not take the pod out.
        db_ping = DatabasePing(settings.postgres_dsn.get_secret_value())
        app.state.health = Health(
            ready=[
                check("postgres", db_ping),
                check("redis", redis_ping(redis), required=False),
                check("kafka", kafka_ping, required=False),
            ],
            alive=[check("outbox", task_running(lambda: outbox.task, "the outbox drainer"))],
        )
        app.state.db = db
        app.state.redis = redis
        app.state.publisher = publisher
        app.state.outbox = outbox
        app.state.token_verifier = verifier
        # Kafka may be away now; the drainer (re)connects when it has something to publish.
        async with running(
            outbox,
            then_close=(
                kafka_ping.close,
                db_ping.close,
                producer.stop,
                redis.aclose,
                db.dispose,
                http.aclose,
            ),
        ):
            yield

    app = new_app(
        settings,
        title="Parley api",
        description="Profiles, chats, members and roles, message history, sync and read state.",
        lifespan=lifespan,
    )
    app.include_router(users.router)
    app.include_router(chats.router)
    app.include_router(members.router)
    return app
