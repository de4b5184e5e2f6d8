"""Storage service: concurrent uploads through presigned URLs, previews per second, POST latency.

    .venv/bin/python bench/storage.py [--uploads 100] [--size-mb 10] [--pictures 100]

A `parley serve storage` process on its own database, bucket and topics of the dev stack's servers
(PostgreSQL, Kafka, the S3 server, clamd). Phase 1: `--uploads` clients at once, each POST
/attachments, PUT of `--size-mb` MB straight to S3 at the presigned URL (multipart above 16 MiB),
POST complete; the storage process's CPU time per upload (from /proc) shows the bytes never cross
it: the files are of a type that gets no preview, and this phase runs without clamd (a scan streams
the file through the process: phase 2 includes it). Phase 2: `--pictures` 1600x1200 JPEGs
uploaded, then the time until every one is scanned and previewed: previews per second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from parley.common.chat.attachments import attachments
from parley.common.kafka import ensure_topics
from parley.common.topics import Topics
from parley.devstack.stack import Stack
from parley.migrations import runner
from parley.testing import s3
from parley.testing.jwks import JwksServer
from parley.testing.slices import fresh_database, unique
from parley.testing.tokens import Signer
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).parent))
from pipeline import Platform, _ticks

MB = 1_000_000
TICK = os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


RETRIES: list[str] = []


@dataclass
class Clients:
    api: httpx.AsyncClient
    """To the storage service; no keep-alive: an idle kept connection closed by the server at the
    moment it is reused is the client's race, not the service's failure."""
    s3: httpx.AsyncClient


async def put(http: httpx.AsyncClient, url: str, content: bytes) -> httpx.Response:
    """A PUT as a browser's upload code makes it: tried again (twice) when the connection breaks."""
    for attempt in range(3):
        try:
            return await http.put(url, content=content)
        except httpx.TransportError as exc:
            if attempt == 2:
                raise
            RETRIES.append(type(exc).__name__)
    raise AssertionError("unreachable")


async def upload(
    http: Clients,
    url: str,
    token: str,
    chat: str,
    data: bytes,
    content_type: str,
    post_ms: list[float],
) -> str:
    auth = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    created = await http.api.post(
        f"{url}/attachments",
        json={"chat_id": chat, "file_name": "f", "size": len(data), "content_type": content_type},
        headers=auth,
    )
    post_ms.append((time.perf_counter() - started) * 1000)
    assert created.status_code == 201, created.text
    plan = created.json()
    body: dict[str, Any] = {}
    if plan["upload"]["kind"] == "single":
        answer = await put(http.s3, plan["upload"]["url"], data)
        assert answer.status_code == 200, answer.text
    else:
        size, parts = plan["upload"]["part_size"], []
        for part in plan["upload"]["parts"]:
            n = part["part_number"]
            answer = await put(http.s3, part["url"], data[(n - 1) * size : n * size])
            assert answer.status_code == 200, answer.text
            parts.append({"part_number": n, "etag": answer.headers["etag"]})
        body = {"parts": parts}
    done = await http.api.post(
        f"{url}/attachments/{plan['attachment']['id']}/complete", json=body, headers=auth
    )
    assert done.status_code == 200, done.text
    return str(plan["attachment"]["id"])


async def wait_settled(engine: AsyncEngine, ids: list[str]) -> dict[str, int]:
    """Until none of `ids` is uploading or scanning, read from the database (polling the service
    would add its own CPU to what is measured)."""
    wanted = [uuid.UUID(i) for i in ids]
    query = (
        sa.select(attachments.c.status, sa.func.count())
        .where(attachments.c.id.in_(wanted))
        .group_by(attachments.c.status)
    )
    while True:
        async with engine.connect() as conn:
            counts = {row[0]: int(row[1]) for row in await conn.execute(query)}
        if not set(counts) & {"uploading", "scanning"}:
            return counts
        await asyncio.sleep(0.2)


def picture(seed: int) -> bytes:
    image = Image.effect_noise((1600, 1200), 40 + seed % 20).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


async def bench(args: argparse.Namespace, dsn: str, endpoints: dict[str, dict[str, str]], logs: Path) -> None:
    signer = Signer("bench-key")
    bucket = unique("bench-")
    client = s3.minio_client(endpoints["s3"])
    await client.make_bucket(bucket)
    with JwksServer(signer) as jwks:
        platform = Platform(dsn, endpoints, logs, jwks.url)
        platform.signer = signer
        topics = Topics(platform.prefix)
        await ensure_topics(platform.bootstrap, [topics.attachment_jobs], partitions=3)
        env = {
            "PARLEY_S3_ENDPOINT": endpoints["s3"]["endpoint"],
            "PARLEY_S3_ACCESS_KEY": endpoints["s3"]["access_key"],
            "PARLEY_S3_SECRET_KEY": endpoints["s3"]["secret_key"],
            "PARLEY_S3_BUCKET": bucket,
            "PARLEY_STORAGE_MAX_FILE_BYTES": str(200 * MB),
            "PARLEY_STORAGE_QUOTA_BYTES": str(100 * 1000 * MB),
            "PARLEY_STORAGE_UPLOADS_PER_MINUTE": "100000",
        }
        try:
            # One uploader per upload: one user's uploads are admitted one at a time (their quota).
            people = await platform.users(max(args.uploads, args.pictures))
            chat = await platform.chat([user for user, _ in people])
            tokens = [token for _, token in people]
            print(f"cores: {os.cpu_count()}; load average before: {os.getloadavg()} (the machine is shared)")
            limits = httpx.Limits(max_connections=args.uploads * 2)
            async with (
                httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_keepalive_connections=0)) as api,
                httpx.AsyncClient(timeout=600, limits=limits) as s3_http,
            ):
                http = Clients(api, s3_http)
                # Phase 1: no clamd, files that get no preview: the request path alone.
                storage = platform.start("storage", **env, PARLEY_STORAGE_CLAMD_ADDRESS="")
                data = b"PK\x03\x04" + os.urandom(args.size_mb * MB - 4)
                post_ms: list[float] = []
                for i in range(args.sequential):
                    started = time.perf_counter()
                    created = await api.post(
                        f"{storage.url}/attachments",
                        json={"chat_id": chat, "file_name": "f", "size": 10, "content_type": "text/plain"},
                        headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
                    )
                    assert created.status_code == 201, created.text
                    post_ms.append((time.perf_counter() - started) * 1000)
                p50, p99 = pct(post_ms, 0.5), pct(post_ms, 0.99)
                print(f"\n{args.sequential} POST /attachments one at a time: p50 {p50} ms, p99 {p99} ms")
                post_ms = []
                before = _ticks(storage.pid)
                started = time.perf_counter()
                ids = await asyncio.gather(
                    *(
                        upload(http, storage.url, tokens[i], chat, data, "application/zip", post_ms)
                        for i in range(args.uploads)
                    )
                )
                uploaded = time.perf_counter() - started
                states = await wait_settled(platform.engine, list(ids))
                cpu = (_ticks(storage.pid) - before) / TICK
                total_mb = args.uploads * args.size_mb
                print(f"\n{args.uploads} concurrent uploads of {args.size_mb} MB through presigned URLs:")
                rate = total_mb / uploaded
                print(f"  all uploaded and completed in {uploaded:.1f} s ({rate:.0f} MB/s into S3)")
                print(f"  outcome: {states}; PUTs retried after a broken connection: {len(RETRIES)}")
                each = cpu / args.uploads * 1000
                print(f"  storage process CPU: {cpu:.2f} s in all, {each:.1f} ms per upload")
                p50, p99 = pct(post_ms, 0.5), pct(post_ms, 0.99)
                print(
                    f"  POST /attachments under that load: p50 {p50} ms, p99 {p99} ms,"
                    f" max {max(post_ms):.1f} ms"
                )
                storage.stop()

                # Phase 2: previews (scanned by clamd first).
                storage = platform.start(
                    "storage", **env, PARLEY_STORAGE_CLAMD_ADDRESS=endpoints["clamav"]["address"]
                )
                pictures = [picture(i) for i in range(min(args.pictures, 20))]
                size = statistics.mean(len(p) for p in pictures)
                post_ms = []
                ids = await asyncio.gather(
                    *(
                        upload(
                            http,
                            storage.url,
                            tokens[i],
                            chat,
                            pictures[i % len(pictures)],
                            "image/jpeg",
                            post_ms,
                        )
                        for i in range(args.pictures)
                    )
                )
                started = time.perf_counter()
                before = _ticks(storage.pid)
                states = await wait_settled(platform.engine, list(ids))
                took = time.perf_counter() - started
                cpu = (_ticks(storage.pid) - before) / TICK
                kb, per_s, each = size / 1000, args.pictures / took, cpu / args.pictures * 1000
                print(f"\n{args.pictures} pictures (1600x1200 JPEG, {kb:.0f} kB) scanned and previewed:")
                print(f"  outcome: {states}; {per_s:.1f} previews/s ({took:.1f} s after the last complete)")
                print(f"  storage process CPU meanwhile: {cpu:.1f} s ({each:.0f} ms per picture)")
                print(f"  POST /attachments: p50 {pct(post_ms, 0.5)} ms, p99 {pct(post_ms, 0.99)} ms")
                storage.stop()
            print(f"\nload average after: {os.getloadavg()}")
        finally:
            await platform.close()
            await s3.remove_bucket(client, bucket)
            await client.close_session()  # type: ignore[no-untyped-call]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uploads", type=int, default=100, help="concurrent uploads (default 100)")
    parser.add_argument("--size-mb", type=int, default=10, help="MB per upload (default 10)")
    parser.add_argument("--pictures", type=int, default=100, help="pictures for the preview phase")
    parser.add_argument("--sequential", type=int, default=200, help="POSTs one at a time, for latency")
    args = parser.parse_args()
    endpoints = Stack().up(["postgres", "redis", "kafka", "s3", "clamav"])
    with fresh_database(endpoints["postgres"]) as dsn:
        runner.upgrade(dsn)
        with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
            asyncio.run(bench(args, dsn, endpoints, Path(tmp)))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
