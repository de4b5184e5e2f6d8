"""`parley serve storage`: the app factory. Nothing connects before the lifespan starts."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from parley.common.auth import JwksSource, start_verifier
from parley.common.db import Database
from parley.common.health import DatabasePing, Health, KafkaPing, check, task_running
from parley.common.kafka import KafkaProducer
from parley.common.service import new_app, running
from parley.common.topics import Topics
from parley.storage import routes
from parley.storage.clamd import Clamd
from parley.storage.jobs import JobWorker, Processor
from parley.storage.metrics import StorageMetrics
from parley.storage.s3 import Store
from parley.storage.service import Storage
from parley.storage.settings import StorageSettings
from parley.storage.sweeper import Sweeper

log = logging.getLogger(__name__)


def create_app(settings: StorageSettings | None = None, *, jwks: JwksSource | None = None) -> FastAPI:
    settings = settings or StorageSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        http = httpx.AsyncClient()
        db = Database(settings.postgres_dsn.get_secret_value(), pool_size=settings.storage_db_pool_size)
        store = Store(settings)
        topics = Topics(settings.kafka_topic_prefix)
        producer = KafkaProducer(settings.kafka_bootstrap, client_id=f"parley-{settings.service_name}")
        storage = Storage(
            settings, db.engine, store, producer, topics, StorageMetrics(app.state.metrics.registry)
        )
        clamd = (
            Clamd(settings.storage_clamd_address, timeout=settings.storage_clamd_timeout_seconds)
            if settings.storage_clamd_address
            else None
        )
        if clamd is None:
            log.warning("no clamd configured: attachments become readable unscanned (marked scanned=false)")
        processor = Processor(storage, clamd)
        jobs = JobWorker(
            bootstrap=settings.kafka_bootstrap,
            topic=topics.attachment_jobs,
            group_id=f"{topics.prefix}.storage",
            process=processor.process,
            concurrency=settings.storage_job_concurrency,
            max_backoff=settings.storage_max_backoff_seconds,
        )
        sweeper = Sweeper(storage)
        verifier = await start_verifier(settings, http, jwks)
        if settings.s3_create_bucket:
            await store.ensure_bucket(settings.s3_cors_origins)
        elif settings.s3_set_cors and settings.s3_cors_origins:
            try:
                await store.set_cors(settings.s3_cors_origins)
            except Exception as exc:
                log.warning("could not set the bucket's CORS rule: %s", exc)
        db_ping = DatabasePing(settings.postgres_dsn.get_secret_value())
        kafka_ping = KafkaPing(settings.kafka_bootstrap, client_id=f"parley-{settings.service_name}-health")

        async def s3_ping() -> None:
            if not await store.client.bucket_exists(store.bucket):
                raise RuntimeError(f"no bucket {store.bucket}")

        ready = [check("postgres", db_ping), check("s3", s3_ping), check("kafka", kafka_ping, required=False)]
        if clamd is not None:
            # Uploads still complete without it; they wait in `scanning`.
            ready.append(check("clamd", clamd.ping, required=False))
        app.state.health = Health(
            ready=ready,
            alive=[
                check("jobs", task_running(lambda: jobs.task, "the job loop")),
                check("sweeper", task_running(lambda: sweeper.task, "the sweeper")),
            ],
        )
        app.state.db = db
        app.state.storage = storage
        app.state.processor = processor
        app.state.jobs = jobs
        app.state.sweeper = sweeper
        app.state.token_verifier = verifier
        async with running(
            jobs,
            sweeper,
            then_close=(kafka_ping.close, db_ping.close, producer.stop, store.close, db.dispose, http.aclose),
        ):
            yield

    app = new_app(
        settings,
        title="Parley storage",
        description="Attachments on S3, uploaded and downloaded through presigned URLs, readable only by "
        "the chat's members.",
        lifespan=lifespan,
    )
    app.include_router(routes.router)
    return app
