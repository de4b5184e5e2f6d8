"""The message path as real processes: socket and consumer started with `python -m parley serve`,
against the dev stack's PostgreSQL (a migrated database of the test's own), Redis (a key prefix of
its own) and Kafka (topics of its own), verifying real RS256 tokens whose JWKS a loopback HTTP
server serves. Users and chats are written with the api's own functions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from parley.api.membership import create_group
from parley.common.db import async_url
from parley.common.kafka import ensure_topics
from parley.common.topics import Topics
from parley.testing.jwks import JwksServer
from parley.testing.processes import ServiceProcess
from parley.testing.tokens import ISSUER, Signer
from parley.testing.wsclient import ChatClient
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.factories import create_users

COMMAND_PARTITIONS = 4


@pytest.fixture(scope="session")
def msg_signer() -> Signer:
    return Signer("messaging-test-key")


@pytest.fixture(scope="session")
def jwks_url(msg_signer: Signer) -> Iterator[str]:
    with JwksServer(msg_signer) as server:
        yield server.url


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    name: str
    token: str


@dataclass
class Platform:
    env: dict[str, str]
    log_dir: Path
    engine: AsyncEngine
    signer: Signer
    topics: Topics
    processes: list[ServiceProcess] = field(default_factory=list)
    clients: list[ChatClient] = field(default_factory=list)

    def start(self, service: str, **env: str) -> ServiceProcess:
        proc = ServiceProcess(service, {**self.env, **env}, self.log_dir)
        self.processes.append(proc)
        return proc.start()

    def start_all(
        self, *services: str, env: Mapping[str, Mapping[str, str]] | None = None, wait: float = 60
    ) -> list[ServiceProcess]:
        """Several at once (starting is mostly imports: they overlap well); `env`: more variables
        by service name; `wait`: seconds each may take to be healthy."""
        extra = env or {}
        procs = [
            ServiceProcess(service, {**self.env, **extra.get(service, {})}, self.log_dir)
            for service in services
        ]
        self.processes.extend(procs)
        for proc in procs:
            proc.spawn()
        for proc in procs:
            proc.wait_healthy(wait)
        return procs

    def socket(self, **env: str) -> ServiceProcess:
        return self.start("socket", **env)

    def consumer(self, **env: str) -> ServiceProcess:
        return self.start("consumer", **env)

    async def people(self, *names: str) -> list[Person]:
        ids = await create_users(self.engine, names)
        return [Person(i, n, self.signer.token(i, n)) for i, n in zip(ids, names, strict=True)]

    async def group(self, owner: Person, *members: Person, title: str = "group") -> str:
        async with self.engine.connect() as conn:
            chat_id, _ = await create_group(
                conn, owner.id, title, [m.id for m in members], max_members=10_000
            )
        return str(chat_id)

    async def client(
        self, proc: ServiceProcess, person: Person, *, name: str = "", **kwargs: object
    ) -> ChatClient:
        client = await ChatClient.connect(proc.ws_url, person.token, name=name or person.name, **kwargs)  # type: ignore[arg-type]
        self.clients.append(client)
        return client

    async def stored(self, chat_id: str) -> list[tuple[int, str, uuid.UUID]]:
        """(seq, client_id, sender) of the chat's stored messages, in seq order."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT seq, client_id, sender_id FROM messages WHERE chat_id = :c ORDER BY seq"),
                {"c": uuid.UUID(chat_id)},
            )
            return [(r.seq, r.client_id, r.sender_id) for r in rows]

    async def change_seqs(self, chat_id: str) -> list[int]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT seq FROM chat_changes WHERE chat_id = :c ORDER BY seq"),
                {"c": uuid.UUID(chat_id)},
            )
            return [r.seq for r in rows]


@pytest.fixture
async def platform(
    migrated_dsn: str,
    redis_url: str,
    redis_prefix: str,
    kafka_bootstrap: str,
    kafka_topic_prefix: str,
    jwks_url: str,
    msg_signer: Signer,
    tmp_path: Path,
) -> AsyncIterator[Platform]:
    topics = Topics(kafka_topic_prefix)
    await ensure_topics(kafka_bootstrap, [topics.commands], partitions=COMMAND_PARTITIONS)
    await ensure_topics(kafka_bootstrap, [t for t in topics.all() if t != topics.commands], partitions=1)
    env = {
        "PARLEY_POSTGRES_DSN": migrated_dsn,
        "PARLEY_REDIS_URL": redis_url,
        "PARLEY_REDIS_KEY_PREFIX": redis_prefix,
        "PARLEY_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "PARLEY_KAFKA_TOPIC_PREFIX": topics.prefix,
        "PARLEY_AUTH_ISSUER": ISSUER,
        "PARLEY_AUTH_JWKS_URL": jwks_url,
        "PARLEY_CONSUMER_INSTANCE_ID": "test-consumer-0",
        "PARLEY_SOCKET_SEND_TIMEOUT_SECONDS": "3",
        "PARLEY_SOCKET_AUTH_TIMEOUT_SECONDS": "6",
    }
    engine = create_async_engine(async_url(migrated_dsn), pool_size=4)
    platform = Platform(env, tmp_path, engine, msg_signer, topics)
    try:
        yield platform
    finally:
        for client in platform.clients:
            await client.close()
        for proc in platform.processes:
            proc.kill()
        await engine.dispose()
