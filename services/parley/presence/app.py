"""`parley serve presence`: the app factory. Nothing connects before the lifespan starts; Kafka
and Redis may be away at start and come and go, the service waits and retries."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from parley.common.auth import JwksSource, start_verifier
from parley.common.health import Health, KafkaPing, check, redis_ping, task_running
from parley.common.kafka import KafkaProducer
from parley.common.presence import PresenceKeys
from parley.common.redis import create_redis
from parley.common.service import new_app, running
from parley.common.topics import Topics
from parley.presence import routes
from parley.presence.connections import ConnectionsConsumer
from parley.presence.engine import PresenceEngine
from parley.presence.outbox import KafkaOutbox
from parley.presence.settings import PresenceSettings
from parley.presence.store import PresenceStore, Timing
from parley.presence.sweeper import Sweeper

log = logging.getLogger(__name__)


def timing(settings: PresenceSettings) -> Timing:
    return Timing(
        ttl=settings.presence_ttl_seconds,
        forget=settings.presence_forget_seconds,
        last_seen_retention=settings.presence_last_seen_retention_seconds,
        stopped_tombstone=settings.presence_stopped_tombstone_seconds,
        outbox_max=settings.presence_outbox_max,
    )


def create_app(settings: PresenceSettings | None = None, *, jwks: JwksSource | None = None) -> FastAPI:
    """`jwks`: where the token verifier gets the auth service's keys; by default over HTTP from
    `auth_jwks_url` (tests hand in a key set of their own)."""
    settings = settings or PresenceSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        http = httpx.AsyncClient()
        redis = create_redis(settings.redis_url.get_secret_value())
        topics = Topics(settings.kafka_topic_prefix)
        keys = PresenceKeys(settings.redis_key_prefix)
        producer = KafkaProducer(settings.kafka_bootstrap, client_id=f"parley-{settings.service_name}")
        store = PresenceStore(redis, keys, timing(settings))
        outbox = KafkaOutbox(
            redis, keys, producer, topics.presence, max_backoff=settings.presence_max_backoff_seconds
        )
        engine = PresenceEngine(store, outbox)
        consumer = ConnectionsConsumer(
            bootstrap=settings.kafka_bootstrap,
            topic=topics.connections,
            group_id=f"{topics.prefix}.presence",
            apply=engine.handle,
            batch_size=settings.presence_consumer_batch,
            max_backoff=settings.presence_max_backoff_seconds,
        )
        sweeper = Sweeper(
            engine.tick,
            interval=settings.presence_sweep_seconds,
            max_backoff=settings.presence_max_backoff_seconds,
        )
        verifier = await start_verifier(settings, http, jwks)
        kafka_ping = KafkaPing(settings.kafka_bootstrap, client_id=f"parley-{settings.service_name}-health")
        # Queries are answered from Redis; without Kafka they go stale (no connection events come
        # in), which /readyz reports without taking the pod out.
        app.state.health = Health(
            ready=[check("redis", redis_ping(redis)), check("kafka", kafka_ping, required=False)],
            alive=[
                check("consumer", task_running(lambda: consumer.task, "the connections consumer")),
                check("sweeper", task_running(lambda: sweeper.task, "the sweeper")),
                check("outbox", task_running(lambda: outbox.task, "the presence outbox")),
            ],
        )
        app.state.redis = redis
        app.state.presence_keys = keys
        app.state.store = store
        app.state.engine = engine
        app.state.consumer = consumer
        app.state.sweeper = sweeper
        app.state.outbox = outbox
        app.state.token_verifier = verifier
        async with running(
            outbox, consumer, sweeper, then_close=(kafka_ping.close, producer.stop, redis.aclose, http.aclose)
        ):
            yield

    app = new_app(
        settings,
        title="Parley presence",
        description="Online, away and offline, and last-seen, from the sockets' connection events.",
        lifespan=lifespan,
    )
    app.include_router(routes.router)
    return app
