"""A storage app per test on its own copy of the migrated database, its own bucket on the dev
stack's S3 server, its own Kafka topics (the job topic) and the dev stack's clamd; users and chats
written straight into the database, with real RS256 tokens from a test signing key."""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from parley.common.chat.attachments import attachments
from parley.common.kafka import ensure_topics
from parley.common.topics import Topics
from parley.storage.settings import StorageSettings
from parley.testing.tokens import ISSUER, Signer, StaticJwks
from parley.testing.waiting import eventually
from PIL import Image

from tests.factories import Person, database

BASE_URL = "http://storage.test"
MiB = 1024 * 1024


@pytest.fixture
async def job_topics(running_kafka: str, kafka_topic_prefix: str) -> Topics:
    topics = Topics(kafka_topic_prefix.rstrip("-"))
    await ensure_topics(running_kafka, [topics.attachment_jobs], partitions=1)
    return topics


@pytest.fixture
def settings(
    migrated_dsn: str,
    running_kafka: str,
    job_topics: Topics,
    s3_server: dict[str, str],
    s3_bucket: str,
    clamav_server: dict[str, str],
) -> StorageSettings:
    return StorageSettings(
        postgres_dsn=migrated_dsn,
        kafka_bootstrap=running_kafka,
        kafka_topic_prefix=job_topics.prefix,
        auth_issuer=ISSUER,
        s3_endpoint=s3_server["endpoint"],
        s3_access_key=s3_server["access_key"],
        s3_secret_key=s3_server["secret_key"],
        s3_region=s3_server["region"],
        s3_bucket=s3_bucket,
        storage_clamd_address=clamav_server["address"],
        storage_max_file_bytes=8 * MiB,
        storage_quota_bytes=12 * MiB,
        storage_multipart_threshold_bytes=5 * MiB,
        storage_part_bytes=5 * MiB,
        storage_max_image_pixels=4_000_000,
        storage_db_pool_size=4,
        storage_sweep_seconds=3600,  # the tests sweep when they want to
    )


@pytest.fixture
async def app(settings: StorageSettings, signer: Signer) -> AsyncIterator[FastAPI]:
    app = create_app_for(settings, signer)
    async with LifespanManager(app, startup_timeout=30):
        yield app


def create_app_for(settings: StorageSettings, signer: Signer) -> FastAPI:
    from parley.storage.app import create_app

    return create_app(settings, jwks=StaticJwks(signer))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as c:
        yield c


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    """Talks to S3 the way a browser does: plain HTTP to the presigned URLs."""
    async with httpx.AsyncClient(timeout=30) as c:
        yield c


async def make_chat(app: FastAPI, *members: Person) -> uuid.UUID:
    chat_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with database(app).engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO chats (id, kind, title, created_by, created_at, last_seq, last_activity_at,"
                " member_count) VALUES (:id, 'group', 'files', :by, :now, 0, :now, :n)"
            ),
            {"id": chat_id, "by": members[0].id, "now": now, "n": len(members)},
        )
        await conn.execute(
            sa.text(
                "INSERT INTO chat_members (chat_id, user_id, role, joined_at, last_read_seq, muted)"
                " VALUES (:chat, :user, :role, :now, 0, false)"
            ),
            [
                {"chat": chat_id, "user": m.id, "role": "owner" if i == 0 else "member", "now": now}
                for i, m in enumerate(members)
            ],
        )
    return chat_id


async def row(app: FastAPI, attachment_id: uuid.UUID | str) -> Any:
    async with database(app).engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(attachments).where(attachments.c.id == uuid.UUID(str(attachment_id)))
            )
        ).first()


async def upload(
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    who: Person,
    chat_id: uuid.UUID,
    data: bytes,
    content_type: str,
    name: str = "file.bin",
    *,
    complete: bool = True,
) -> tuple[httpx.Response, dict[str, Any]]:
    """POST /attachments, the PUT(s) to S3, then complete: the complete's response and the plan."""
    created = await client.post(
        "/attachments",
        json={"chat_id": str(chat_id), "file_name": name, "size": len(data), "content_type": content_type},
        headers=who.auth,
    )
    assert created.status_code == 201, created.text
    plan = created.json()
    attachment_id = plan["attachment"]["id"]
    body: dict[str, Any] = {}
    if plan["upload"]["kind"] == "single":
        put = await browser.put(plan["upload"]["url"], content=data, headers={"Content-Type": content_type})
        assert put.status_code == 200, put.text
    else:
        size = plan["upload"]["part_size"]
        parts = []
        for part in plan["upload"]["parts"]:
            n = part["part_number"]
            put = await browser.put(part["url"], content=data[(n - 1) * size : n * size])
            assert put.status_code == 200, put.text
            parts.append({"part_number": n, "etag": put.headers["etag"]})
        body = {"parts": parts}
    if not complete:
        return created, plan
    done = await client.post(f"/attachments/{attachment_id}/complete", json=body, headers=who.auth)
    return done, plan


async def settled(client: httpx.AsyncClient, who: Person, attachment_id: str) -> dict[str, Any]:
    """The attachment once out of `scanning` (the job loop's work)."""

    async def info() -> dict[str, Any]:
        response = await client.get(f"/attachments/{attachment_id}/info", headers=who.auth)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    value, _ = await eventually(
        info, lambda v: v["status"] not in ("uploading", "scanning"), within=60, every=0.1
    )
    return value


def png(width: int = 64, height: int = 48, *, exif_gps: bool = False) -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 30))
    out = io.BytesIO()
    if exif_gps:
        exif = Image.Exif()
        exif[0x010F] = "SecretCam"  # Make
        exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPSInfo
        image.save(out, format="PNG", exif=exif)
    else:
        image.save(out, format="PNG")
    return out.getvalue()


def jpeg_with_gps(width: int = 80, height: int = 60) -> bytes:
    image = Image.new("RGB", (width, height), (30, 200, 30))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    exif[0x0112] = 6  # orientation: rotate 90
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` 1-bit pixels, with one tiny compressed row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
