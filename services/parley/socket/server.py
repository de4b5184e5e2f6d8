"""`parley serve socket`: assembly and lifecycle of the socket service.

    WsServer (connections) -> Session (frames) -> CommandProducer (Kafka, acks=all)
    Redis channels -> Subscriber -> Hub (who is here, in which chats) -> Session.deliver

Sessions get a `SessionContext` (context.py): what they use of this server, built here once.

Also answers `GET /healthz`, `GET /readyz` and `GET /metrics` on the same port, and sweeps connections that
never authenticated, went silent, or whose token expired without being renewed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
import uuid
from collections.abc import Coroutine, Iterable
from typing import Any

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from websockets.datastructures import Headers

from parley.common.auth import JwksSource, start_verifier
from parley.common.db import Database
from parley.common.health import (
    NOT_STARTED,
    CachedReadiness,
    DatabasePing,
    Health,
    KafkaPing,
    Report,
    check,
    redis_ping,
)
from parley.common.kafka import KafkaProducer
from parley.common.kafka_lag import LagMonitor
from parley.common.presence import ConnectionReporter
from parley.common.topics import Topics
from parley.socket.chat_db import ChatDb
from parley.socket.commands import CommandProducer
from parley.socket.context import SessionContext
from parley.socket.hub import Hub
from parley.socket.metrics import SocketMetrics
from parley.socket.observer import ConnectionObserver
from parley.socket.protocol import ErrorCode, error_frame
from parley.socket.ratelimit import TokenBucket
from parley.socket.session import Session
from parley.socket.session_state import CLOSE_TIMEOUT, CLOSE_TOO_SLOW, CLOSE_UNAUTHENTICATED
from parley.socket.settings import SocketSettings
from parley.socket.wsserver import HttpResponse, WsConnection, WsServer

log = logging.getLogger(__name__)

SWEEP_SECONDS = 5.0
# A token that expired is tolerated this long, for the client to send a fresh one.
EXPIRY_GRACE_SECONDS = 60.0


class SocketServer:
    def __init__(
        self,
        settings: SocketSettings | None = None,
        *,
        jwks: JwksSource | None = None,
        observer: ConnectionObserver | None = None,
    ) -> None:
        self.settings = settings or SocketSettings()
        self.jwks = jwks
        # Presence learns of connections from their events and of this process from its heartbeats;
        # a producer of its own, so a burst of commands never waits behind them or the other way.
        # (Neither connects before start().)
        self.presence_producer = KafkaProducer(
            self.settings.kafka_bootstrap, client_id=f"parley-{self.settings.service_name}-presence"
        )
        self.reporter = ConnectionReporter(
            self.presence_producer,
            Topics(self.settings.kafka_topic_prefix),
            heartbeat_seconds=self.settings.socket_presence_heartbeat_seconds,
        )
        self.observer: ConnectionObserver = observer or self.reporter
        self.metrics = SocketMetrics()
        self._tasks: set[asyncio.Task[None]] = set()
        self._too_big = error_frame(ErrorCode.FRAME_TOO_LARGE, "The frame is far too large; closing.")
        self.readiness: CachedReadiness | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        settings = self.settings
        self.http_client = httpx.AsyncClient()
        self.db = Database(settings.postgres_dsn.get_secret_value(), pool_size=settings.socket_db_pool_size)
        self.chat_db = ChatDb(self.db.engine)
        self.verifier = await start_verifier(settings, self.http_client, self.jwks)
        self.hub = Hub(
            self.chat_db,
            settings.redis_url.get_secret_value(),
            settings.redis_key_prefix,
            lambda: TokenBucket(settings.socket_commands_per_second, settings.socket_commands_burst),
        )
        self.hub.delivery_latency = self.metrics.stored_to_delivered
        await self.hub.start()
        # The consumer group's lag, measured from here so that it is still reported (and grows)
        # while the consumer is down: common/kafka_lag.py.
        topics = Topics(settings.kafka_topic_prefix)
        self.lag = LagMonitor(
            settings.kafka_bootstrap,
            {settings.socket_lag_group or f"{settings.kafka_topic_prefix}.consumer": topics.commands},
            self.metrics.registry,
            interval=settings.socket_lag_interval_seconds,
            client_id=f"parley-{settings.service_name}-lag",
        )
        self.spawn(self.lag.run(), "lag-monitor")
        self.producer = CommandProducer(
            settings.kafka_bootstrap,
            Topics(settings.kafka_topic_prefix).commands,
            client_id=f"parley-{settings.service_name}",
            send_timeout=settings.socket_send_timeout_seconds,
        )
        self.producer.start()
        self.reporter.start()
        self.context = SessionContext(
            settings=settings,
            hub=self.hub,
            chat_db=self.chat_db,
            producer=self.producer,
            verify=self.verifier.verify,
            observer=self.observer,
            metrics=self.metrics,
            spawn=self.spawn,
            frame_bucket=lambda: TokenBucket(settings.socket_frames_per_second, settings.socket_frames_burst),
        )
        self.ws = WsServer(
            self,
            max_message_bytes=settings.socket_max_frame_bytes,
            hard_max_bytes=settings.socket_hard_max_frame_bytes,
            max_buffered_bytes=settings.socket_max_buffered_bytes,
            too_big_payload=self._too_big,
            too_slow_payload=error_frame(
                ErrorCode.SLOW_CONSUMER, "Too much unread; reconnect and sync from your last seqs."
            ),
            too_slow_code=CLOSE_TOO_SLOW,
        )
        # This server answers HTTP without awaiting: the readiness checks run every 1 s in a task,
        # and /readyz tells the latest result.
        self.kafka_ping = KafkaPing(
            settings.kafka_bootstrap, client_id=f"parley-{settings.service_name}-health"
        )
        self.db_ping = DatabasePing(settings.postgres_dsn.get_secret_value())
        self.readiness = CachedReadiness(
            Health(
                ready=[
                    check("postgres", self.db_ping),
                    check("redis", redis_ping(self.hub.redis)),
                    check("kafka", self.kafka_ping),
                    check("commands", self._producer_connected),
                ]
            ),
            # Every second: ready again within ~1 s of its servers' return (the checks are cheap).
            interval=1.0,
        )
        self.spawn(self.readiness.run(), "readiness")
        self.port = await self.ws.listen(host, port)
        self.spawn(self._sweep(), "sweeper")
        log.info("socket listening on %s:%d", host, self.port)
        return self.port

    async def stop(self) -> None:
        await self.ws.close()
        for task in list(self._tasks):
            task.cancel()
        # After the connections closed: their events go out, then "instance stopped", so the
        # users of this process go offline now rather than when its heartbeats' time is up.
        await self.reporter.stop()
        await self.presence_producer.stop()
        await self.kafka_ping.close()
        await self.db_ping.close()
        await self.producer.stop()
        await self.hub.stop()
        await self.db.dispose()
        await self.http_client.aclose()

    async def _producer_connected(self) -> None:
        if not self.producer.connected:
            raise RuntimeError("the command producer has no usable Kafka producer (reconnecting)")

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def deliver_to_users(self, user_ids: Iterable[uuid.UUID], payload: bytes) -> int:
        """For presence: a frame to every connection of these users on this process."""
        return self.hub.deliver_to_users(user_ids, payload)

    # --- wsserver.Application ------------------------------------------------------------------

    def http(self, path: str) -> HttpResponse | None:
        if path == "/healthz":
            # Fails only when a loop this process cannot work without has ended (wedged beyond
            # repair: Kubernetes restarts it); a dependency being away is /readyz's business.
            dead = [w.name for w in (self.producer, self.reporter) if w.task is None or w.task.done()]
            ok = self.producer.connected
            return HttpResponse(
                503 if dead else 200,
                json.dumps(
                    {"status": "unavailable" if dead else "ok", "stopped": dead, "kafka": ok}
                ).encode(),
                "application/json",
            )
        if path == "/readyz":
            report: Report = self.readiness.report if self.readiness is not None else NOT_STARTED
            return HttpResponse(report.status_code, json.dumps(report.body()).encode(), "application/json")
        if path == "/metrics":
            self.metrics.connections.set(len(self.ws.connections))
            self.metrics.presence_failures.set(self.reporter.send_failures + self.reporter.heartbeat_failures)
            return HttpResponse(200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST)
        return None

    def opened(self, conn: WsConnection, headers: Headers, token: str | None) -> None:
        session = Session(self.context, conn)
        conn.session = session
        session.start(token)

    def received(self, conn: WsConnection, text: bytes) -> None:
        _session(conn).received(text)

    def oversized(self, conn: WsConnection, size: int) -> None:
        _session(conn).oversized(size)

    def binary(self, conn: WsConnection) -> None:
        _session(conn).binary()

    def closed(self, conn: WsConnection) -> None:
        _session(conn).closed()

    # --- housekeeping ---------------------------------------------------------------------------

    async def _sweep(self) -> None:
        settings = self.settings
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            now, wall = time.monotonic(), time.time()
            for conn in list(self.ws.connections):
                session = conn.session
                if not isinstance(session, Session) or not conn.open:
                    continue
                if session.user is None and now - session.opened_at > settings.socket_auth_timeout_seconds:
                    session.error(ErrorCode.AUTH_TIMEOUT, "No valid auth frame in time.")
                    conn.close(CLOSE_TIMEOUT, "authentication timeout")
                elif now - conn.last_received > settings.socket_idle_timeout_seconds:
                    session.error(ErrorCode.IDLE_TIMEOUT, "Nothing heard for too long; ping more often.")
                    conn.close(CLOSE_TIMEOUT, "idle")
                elif session.user is not None and wall > session.expires_at + EXPIRY_GRACE_SECONDS:
                    session.error(ErrorCode.TOKEN_EXPIRED, "The access token expired and was not renewed.")
                    conn.close(CLOSE_UNAUTHENTICATED, "token expired")


def _session(conn: WsConnection) -> Session:
    session = conn.session
    assert isinstance(session, Session)
    return session


def _raise_file_limit() -> None:
    """Every connection is a file descriptor: take the soft limit up to the hard one."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError) as exc:
        log.warning("could not raise the open-files limit: %r", exc)


async def serve(host: str, port: int, settings: SocketSettings | None = None) -> None:
    server = SocketServer(settings)
    await server.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(host: str, port: int) -> None:
    _raise_file_limit()
    settings = SocketSettings()
    if settings.socket_uvloop:
        try:
            import uvloop

            uvloop.run(serve(host, port, settings))
            return
        except ImportError:
            pass
    asyncio.run(serve(host, port, settings))
