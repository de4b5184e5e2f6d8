"""`parley serve notification`: the app factory. Nothing connects before the lifespan starts."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from fastapi import FastAPI

from parley.common.auth import JwksSource, start_verifier
from parley.common.backoff import Backoff
from parley.common.db import Database
from parley.common.health import DatabasePing, Health, KafkaPing, check, redis_ping, task_running
from parley.common.kafka import KafkaProducer
from parley.common.presence import PresenceKeys
from parley.common.redis import create_redis
from parley.common.service import new_app, running
from parley.common.topics import Topics
from parley.common.worker import Worker
from parley.notification import routes
from parley.notification.channels import Channel, SmtpChannel
from parley.notification.ingest import Delays, EventsConsumer
from parley.notification.planner import PlanConfig, Planner
from parley.notification.sender import NotificationMetrics, Sender
from parley.notification.settings import NotificationSettings
from parley.notification.sms import SmppChannel

log = logging.getLogger(__name__)


class PlanLoop(Worker):
    name = "planner"

    def __init__(
        self, planner: Planner, metrics: NotificationMetrics, senders: list[Sender], every: float
    ) -> None:
        super().__init__()
        self.planner = planner
        self.metrics = metrics
        self.senders = senders
        self.every = every
        self.backoff = Backoff("planning notifications")

    async def step(self) -> None:
        while not self.stopping:
            result = await self.planner.step()
            if result.deliveries:
                self.metrics.planned.inc(result.deliveries)
                for sender in self.senders:
                    sender.wake()
            if result.users < self.planner.config.batch:
                return  # caught up

    async def run(self) -> None:
        await self.repeat(self.step, self.backoff, every=self.every)


def _sender_alive(sender: Sender) -> Callable[[], Awaitable[object]]:
    return task_running(lambda: sender.task, f"the {sender.name}")


def channel_factories(settings: NotificationSettings) -> dict[str, Callable[[], Channel]]:
    def smtp() -> Channel:
        return SmtpChannel(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            tls=settings.smtp_tls,
            timeout=settings.smtp_timeout_seconds,
        )

    factories: dict[str, Callable[[], Channel]] = {}
    if settings.notification_email_enabled:
        factories["email"] = smtp
    if settings.sms_provider == "smpp":

        def smpp() -> Channel:
            return SmppChannel(
                host=settings.smpp_host,
                port=settings.smpp_port,
                system_id=settings.smpp_system_id,
                password=settings.smpp_password.get_secret_value(),
                source=settings.smpp_source_address,
                timeout=settings.smpp_timeout_seconds,
            )

        factories["sms"] = smpp
    return factories


def create_app(settings: NotificationSettings | None = None, *, jwks: JwksSource | None = None) -> FastAPI:
    settings = settings or NotificationSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        http = httpx.AsyncClient()
        db = Database(settings.postgres_dsn.get_secret_value(), pool_size=settings.notification_senders + 4)
        redis = create_redis(settings.redis_url.get_secret_value())
        topics = Topics(settings.kafka_topic_prefix)
        producer = KafkaProducer(settings.kafka_bootstrap, client_id=f"parley-{settings.service_name}")
        metrics = NotificationMetrics(app.state.metrics.registry if hasattr(app.state, "metrics") else None)
        secret = settings.notification_token_secret.get_secret_value().encode()
        consumer = EventsConsumer(
            db=db,
            bootstrap=settings.kafka_bootstrap,
            topic=topics.events,
            group_id=f"{topics.prefix}.notification",
            delays=Delays(settings.notification_delay_seconds, settings.notification_urgent_delay_seconds),
            batch_size=settings.notification_consumer_batch,
            max_backoff=settings.notification_max_backoff_seconds,
        )
        factories = channel_factories(settings)
        senders = [
            Sender(
                db=db,
                channels=factories,
                metrics=metrics,
                public_url=settings.notification_public_url,
                token_secret=secret,
                max_attempts=settings.notification_max_attempts,
                retry_max=settings.notification_retry_max_seconds,
                idle=settings.notification_tick_seconds,
                producer=producer,
                dlq_topic=topics.notifications_dlq,
                max_backoff=settings.notification_max_backoff_seconds,
                index=i,
            )
            for i in range(settings.notification_senders)
        ]
        planner = Planner(
            db,
            redis,
            PresenceKeys(settings.redis_key_prefix),
            PlanConfig(
                delay=settings.notification_delay_seconds,
                urgent_delay=settings.notification_urgent_delay_seconds,
                interval=settings.notification_digest_interval_seconds,
                batch=settings.notification_batch,
                public_url=settings.notification_public_url,
                token_secret=secret,
                sms_enabled="sms" in factories,
                email_enabled="email" in factories,
            ),
        )
        plan_loop = PlanLoop(planner, metrics, senders, settings.notification_tick_seconds)
        verifier = await start_verifier(settings, http, jwks)
        kafka_ping = KafkaPing(settings.kafka_bootstrap, client_id=f"parley-{settings.service_name}-health")

        db_ping = DatabasePing(settings.postgres_dsn.get_secret_value())
        app.state.health = Health(
            ready=[
                check("postgres", db_ping),
                check("redis", redis_ping(redis)),
                check("kafka", kafka_ping, required=False),
            ],
            alive=[
                check("consumer", task_running(lambda: consumer.task, "the events consumer")),
                check("planner", task_running(lambda: plan_loop.task, "the planner")),
                *(check(sender.name, _sender_alive(sender)) for sender in senders),
            ],
        )
        app.state.db = db
        app.state.redis = redis
        app.state.consumer = consumer
        app.state.planner = plan_loop
        app.state.senders = senders
        app.state.notification_metrics = metrics
        app.state.token_verifier = verifier
        async with running(
            consumer,
            plan_loop,
            *senders,
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
        title="Parley notification",
        description="Email and SMS digests for members who are away: preferences, unsubscribe.",
        lifespan=lifespan,
    )
    app.include_router(routes.router)
    return app
