"""Liveness and readiness, the probes the operator renders (`/healthz`, `/readyz`).

`/healthz` (liveness): the process answers, its event loop is not stuck, and the tasks it cannot do
without are still running; a failure makes Kubernetes restart the container, so it never looks at
other servers. `/readyz` (readiness): every server this service needs answers within a short
timeout; a failure only takes the pod out of its Service's endpoints until the server is back.

Each service names its checks once, in its lifespan (or at start for the socket's own server):
`Health(ready=[check("postgres", database_ping(db)), ...], alive=[...])`. A check is an async
callable that returns when the dependency is fine and raises otherwise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from parley.common.db import async_url
from parley.common.redis import Redis

CHECK_TIMEOUT_SECONDS = 1.5
"""Each check's bound: under the probes' timeoutSeconds (2), so a slow server reads as not ready
rather than as a probe that timed out without saying why."""


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], Awaitable[object]]
    required: bool = True
    """False: a failure is reported but does not fail the probe (a server the service rides out
    being away, e.g. Kafka behind the api's outbox)."""


def check(name: str, run: Callable[[], Awaitable[object]], *, required: bool = True) -> Check:
    return Check(name, run, required)


@dataclass(frozen=True)
class Report:
    failures: dict[str, str]
    checked: tuple[str, ...]
    optional: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return all(name in self.optional for name in self.failures)

    @property
    def status_code(self) -> int:
        return 200 if self.ok else 503

    def body(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "unavailable",
            "checks": {name: self.failures.get(name, "ok") for name in self.checked},
        }


async def _run_one(item: Check, limit: float) -> str | None:
    try:
        async with asyncio.timeout(limit):
            await item.run()
    except TimeoutError:
        return f"no answer within {limit:g}s"
    except Exception as exc:  # any failure of a dependency is a reason, not a crash of the probe
        return f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
    return None


async def run_checks(checks: Sequence[Check], limit: float = CHECK_TIMEOUT_SECONDS) -> Report:
    """All checks at once, each bounded by `limit` seconds."""
    results = await asyncio.gather(*(_run_one(item, limit) for item in checks))
    failures = {item.name: reason for item, reason in zip(checks, results, strict=True) if reason is not None}
    optional = frozenset(item.name for item in checks if not item.required)
    return Report(failures, tuple(item.name for item in checks), optional)


@dataclass
class Health:
    ready: list[Check] = field(default_factory=list)
    """Dependencies: readiness fails while one of them does not answer."""
    alive: list[Check] = field(default_factory=list)
    """The process itself (its essential tasks): liveness fails when one of them fails."""
    timeout: float = CHECK_TIMEOUT_SECONDS

    async def readiness(self) -> Report:
        return await run_checks(self.ready, self.timeout)

    async def liveness(self) -> Report:
        return await run_checks(self.alive, self.timeout)


NOT_STARTED = Report({"startup": "the service has not finished starting"}, ("startup",))


# --- the checks of the shared servers ------------------------------------------------------------


class DatabasePing:
    """`SELECT 1` over one connection of its own: a busy request pool (every connection checked out)
    must not make a loaded pod look unready, which would move its load onto the others."""

    def __init__(self, dsn: str) -> None:
        self.engine = create_async_engine(async_url(dsn), pool_size=1, max_overflow=0, pool_pre_ping=True)

    async def __call__(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def redis_ping(redis: Redis) -> Callable[[], Awaitable[object]]:
    async def ping() -> None:
        await redis.ping()

    return ping


def task_running(task: Callable[[], asyncio.Task[Any] | None], what: str) -> Callable[[], Awaitable[object]]:
    """Alive while the task (looked up at each check) has not ended; its exception is the reason."""

    async def alive() -> None:
        current = task()
        if current is None or not current.done():
            return
        error = None if current.cancelled() else current.exception()
        raise RuntimeError(f"{what} stopped" + (f": {error!r}" if error is not None else ""))

    return alive


class KafkaPing:
    """Asks a broker for the cluster's brokers over one client of its own (no producer or consumer
    is disturbed); a broker that is down or never answers fails the check. Brokers only, no
    topics: the metadata of every topic is what a broker shared by many installations (or a dev
    broker with every test run's topics) answers most slowly, and the check runs every few seconds
    in every process."""

    def __init__(self, bootstrap: str, *, client_id: str) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self._client: AIOKafkaClient | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> None:
        async with self._lock:
            if self._client is None:
                client = AIOKafkaClient(
                    bootstrap_servers=self.bootstrap,
                    client_id=self.client_id,
                    request_timeout_ms=int(CHECK_TIMEOUT_SECONDS * 1000),
                )
                try:
                    await client.bootstrap()
                except BaseException:
                    await client.close()
                    raise
                self._client = client
                return
            node = self._client.get_random_node()
            if node is None:
                raise KafkaError("no broker known")
            response = await self._client.send(node, MetadataRequest([]))  # [] asks for no topic
            if not response.brokers:
                raise KafkaError("the broker knows no broker")

    async def close(self) -> None:
        async with self._lock:
            client, self._client = self._client, None
        if client is not None:
            await client.close()


class CachedReadiness:
    """For a server that answers HTTP synchronously (the socket's): the checks run every `interval`
    seconds in a task, and the probe is told the latest result (at most `interval` old)."""

    def __init__(self, health: Health, *, interval: float = 2.0) -> None:
        self.health = health
        self.interval = interval
        self.report = NOT_STARTED
        self.checked_at = 0.0

    async def run(self) -> None:
        while True:
            self.report = await self.health.readiness()
            self.checked_at = time.monotonic()
            await asyncio.sleep(self.interval)
