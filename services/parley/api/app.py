"""`parley serve api`: the app factory. Nothing connects before the lifespan starts."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from parley.api.routes import chats, members, users
from parley.api.settings import ApiSettings
from parley.common.auth import HttpJwksSource, JwksSource, KeysUnavailable, TokenVerifier
from parley.common.chat.publish import EventPublisher
from parley.common.db import Database
from parley.common.kafka import KafkaProducer
from parley.common.outbox import OutboxDrainer
from parley.common.redis import create_redis
from parley.common.service import new_app
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
        verifier = TokenVerifier(
            jwks or HttpJwksSource(settings.auth_jwks_url, http),
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            leeway_seconds=settings.auth_leeway_seconds,
            cache_seconds=settings.auth_jwks_cache_seconds,
        )
        try:
            await verifier.refresh()
        except KeysUnavailable as exc:
            # The auth service may start after us; the verifier fetches again on the first request.
            log.warning("no signing keys yet: %s", exc)
        app.state.db = db
        app.state.redis = redis
        app.state.publisher = publisher
        app.state.outbox = outbox
        app.state.token_verifier = verifier
        # Kafka may be away now; the drainer (re)connects when it has something to publish.
        outbox.start()
        try:
            yield
        finally:
            await outbox.stop()
            await producer.stop()
            await redis.aclose()
            await db.dispose()
            await http.aclose()

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
