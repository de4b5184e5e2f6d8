"""schemathesis against the storage service's OpenAPI schema, over real HTTP (uvicorn) on the real
servers (PostgreSQL, Kafka, the S3 server): whatever a client sends, never a 5xx, and the answer
keeps to the schema. Half of the generated chat and attachment ids are swapped for real ones (the
caller's chat, an attachment of theirs) so the handlers are reached, not only the 404s."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
import uvicorn
from aiokafka.admin import AIOKafkaAdminClient
from hypothesis import HealthCheck, given, settings
from parley.common.db import Database
from parley.common.kafka import ensure_topics
from parley.common.topics import Topics
from parley.storage.app import create_app
from parley.storage.settings import StorageSettings
from parley.testing import s3
from parley.testing.slices import unique
from parley.testing.tokens import ISSUER, Signer, StaticJwks
from parley.testing.waiting import free_port
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import create_users

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
EXAMPLES = int(os.environ.get("PARLEY_FUZZ_EXAMPLES", "8"))


@dataclass(frozen=True)
class Live:
    url: str
    headers: dict[str, str]
    chat_id: str
    attachment_id: str


async def _seed(dsn: str) -> tuple[uuid.UUID, uuid.UUID]:
    db = Database(dsn, pool_size=2)
    try:
        (me,) = await create_users(db.engine, ["me"])
        async with db.engine.begin() as conn:
            chat = uuid.uuid4()
            await conn.exec_driver_sql(
                "INSERT INTO chats (id, kind, title, created_by, created_at, last_seq, last_activity_at,"
                " member_count) VALUES ($1, 'group', 'fuzz', $2, now(), 0, now(), 1)",
                (chat, me),
            )
            await conn.exec_driver_sql(
                "INSERT INTO chat_members (chat_id, user_id, role, joined_at, last_read_seq, muted)"
                " VALUES ($1, $2, 'owner', now(), 0, false)",
                (chat, me),
            )
        return me, chat
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def live(
    postgres_server: dict[str, str],
    migrated_template: str,
    running_kafka: str,
    s3_server: dict[str, str],
) -> Iterator[Live]:
    base = postgres_server["dsn"].rsplit("/", 1)[0]
    name = unique("t_")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    dsn = f"{base}/{name}"
    topics = Topics(unique("t-fuzz-"))
    asyncio.run(ensure_topics(running_kafka, [topics.attachment_jobs], partitions=1))
    bucket = unique("t-")
    signer = Signer()
    config = StorageSettings(
        postgres_dsn=dsn,
        kafka_bootstrap=running_kafka,
        kafka_topic_prefix=topics.prefix,
        auth_issuer=ISSUER,
        s3_endpoint=s3_server["endpoint"],
        s3_access_key=s3_server["access_key"],
        s3_secret_key=s3_server["secret_key"],
        s3_bucket=bucket,
        s3_create_bucket=True,
        storage_uploads_per_minute=100_000,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, jwks=StaticJwks(signer)), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, name="schemathesis-storage", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the storage service did not start"
            time.sleep(0.05)
        me, chat = asyncio.run(_seed(dsn))
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {signer.token(me, 'me', ttl=3600)}"}
        created = httpx.post(
            f"{url}/attachments",
            json={"chat_id": str(chat), "file_name": "a.txt", "size": 5, "content_type": "text/plain"},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        httpx.put(created.json()["upload"]["url"], content=b"hello")
        yield Live(url, headers, str(chat), created.json()["attachment"]["id"])
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        async def cleanup() -> None:
            client = s3.minio_client(s3_server)
            async with client:
                await s3.remove_bucket(client, bucket)
            admin = AIOKafkaAdminClient(bootstrap_servers=running_kafka)
            await admin.start()
            try:
                await admin.delete_topics([topics.attachment_jobs])
            finally:
                await admin.close()

        asyncio.run(cleanup())


SCHEMA = schemathesis.openapi.from_dict(create_app(StorageSettings()).openapi())
SCHEMA.config.generation.update(with_security_parameters=False)
OPERATIONS = {op.ok().label: op.ok() for op in SCHEMA.get_all_operations()}


def _point_at_real_things(case: Any, live: Live) -> None:
    params = case.path_parameters or {}
    value = params.get("attachment_id")
    if isinstance(value, str) and value[:1] in "02468ace":
        params["attachment_id"] = live.attachment_id
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("chat_id"), str) and body["chat_id"][:1] in "02468ace":
        body["chat_id"] = live.chat_id


RUNS = [
    pytest.param(label, mode, id=f"{mode.value}-{label}")
    for label in sorted(OPERATIONS)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
]


@pytest.mark.parametrize(("label", "mode"), RUNS)
def test_storage_never_fails_and_keeps_to_its_schema(label: str, mode: GenerationMode, live: Live) -> None:
    @given(case=OPERATIONS[label].as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: Any) -> None:
        _point_at_real_things(case, live)
        case.headers = {**(case.headers or {}), **live.headers}
        case.call_and_validate(base_url=live.url, checks=CHECKS, allow_redirects=False)

    check()
