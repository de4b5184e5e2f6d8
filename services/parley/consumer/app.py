"""`parley serve consumer`: the worker runs in the app's lifespan; HTTP serves health and metrics."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from parley.common.chat.publish import EventPublisher
from parley.common.db import Database
from parley.common.health import DatabasePing, Health, KafkaPing, check, redis_ping, task_running
from parley.common.kafka import KafkaProducer, ensure_topics
from parley.common.redis import create_redis
from parley.common.service import new_app
from parley.common.topics import Topics
from parley.consumer.settings import ConsumerSettings
from parley.consumer.worker import CommandWorker

log = logging.getLogger(__name__)


def create_app(settings: ConsumerSettings | None = None) -> FastAPI:
    settings = settings or ConsumerSettings()
    topics = Topics(settings.kafka_topic_prefix)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.consumer_ensure_topics:
            created = await ensure_topics(
                settings.kafka_bootstrap, topics.all(), partitions=settings.consumer_topic_partitions
            )
            if created:
                log.info("created topics %s", ", ".join(created))
        # No pre-ping: the worker retries a failed batch (docs/recovery.md), and the ping would be
        # three of the batch's seven round trips.
        db = Database(
            settings.postgres_dsn.get_secret_value(), pool_size=settings.consumer_db_pool_size, pre_ping=False
        )
        redis = create_redis(settings.redis_url.get_secret_value())
        producer = KafkaProducer(settings.kafka_bootstrap, client_id=f"parley-{settings.service_name}")
        publisher = EventPublisher(redis, settings.redis_key_prefix, producer, topics)
        worker = CommandWorker(settings, db.engine, publisher, topics.commands, app.state.metrics.registry)
        app.state.worker = worker
        worker.start()
        kafka_ping = KafkaPing(settings.kafka_bootstrap, client_id=f"parley-{settings.service_name}-health")
        db_ping = DatabasePing(settings.postgres_dsn.get_secret_value())
        app.state.health = Health(
            ready=[
                check("postgres", db_ping),
                check("redis", redis_ping(redis)),
                check("kafka", kafka_ping),
            ],
            alive=[check("worker", task_running(lambda: worker.task, "the command worker"))],
        )
        try:
            yield
        finally:
            await worker.stop()
            await kafka_ping.close()
            await db_ping.close()
            await producer.stop()
            await redis.aclose()
            await db.dispose()

    app = new_app(
        settings,
        title="Parley consumer",
        description="Stores chat commands in order with per-chat seqs and publishes what it stored.",
        lifespan=lifespan,
    )

    @app.get("/status", include_in_schema=False)
    async def status() -> dict[str, Any]:
        status: dict[str, Any] = app.state.worker.status.report()
        return status

    return app
