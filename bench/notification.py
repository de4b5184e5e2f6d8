"""Benchmark of the notification service: one message to a busy group chat of N offline members
(default 10,000), each of whom gets one digest. Prints digests sent per second and the time from
the message to its digest mail (p50/p95/max), and checks the count in the Maildir.

    .venv/bin/python bench/notification.py --recipients 10000 --senders 8

Uses a database, Redis key prefix and topic prefix of its own on the dev stack (PostgreSQL, Redis,
Kafka), and its own SMTP server (the dev stack's mail sink program on a free port, Maildir in a
temporary folder), so the shared mail sink is not flooded. The app runs in this process.
The duplicate and loss counts under faults come from services/tests/notification/test_faults.py.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from parley.common.db import async_url
from parley.common.events import MessageCreated, MessageData, encode
from parley.common.kafka import KafkaProducer, ensure_topics
from parley.common.topics import Topics, chat_key
from parley.devstack import ports
from parley.devstack.mailsink import read_messages
from parley.migrations import runner
from parley.notification.app import create_app
from parley.notification.settings import NotificationSettings
from parley.testing.waiting import free_port
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine

BASE = f"postgresql://parley:parley@{ports.HOST}:{ports.POSTGRES}"


def seed(dsn: str, recipients: int) -> tuple[uuid.UUID, uuid.UUID]:
    chat_id, sender = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO auth_users (id, username, username_key, email, email_key, password_hash, disabled,"
            " created_at, password_changed_at) VALUES (%s, 'sender', 'sender', 'sender@parley.test',"
            " 'sender@parley.test', 'x', false, now(), now())",
            (sender,),
        )
        conn.execute(
            "INSERT INTO auth_users (id, username, username_key, email, email_key, password_hash, disabled,"
            " created_at, password_changed_at) SELECT gen_random_uuid(), 'u' || i, 'u' || i,"
            " 'u' || i || '@parley.test', 'u' || i || '@parley.test', 'x', false, now(), now()"
            " FROM generate_series(1, %s) AS i",
            (recipients,),
        )
        conn.execute(
            "INSERT INTO chats (id, kind, title, created_by, created_at, last_seq, last_activity_at,"
            " member_count) VALUES (%s, 'group', 'busy', %s, now(), 1, now(), %s)",
            (chat_id, sender, recipients + 1),
        )
        conn.execute(
            "INSERT INTO chat_members (chat_id, user_id, role, joined_at, last_read_seq, muted)"
            " SELECT %s, id, CASE WHEN id = %s THEN 'owner' ELSE 'member' END, now(), 1, false"
            " FROM auth_users",
            (chat_id, sender),
        )
    return chat_id, sender


async def run(recipients: int, senders: int) -> None:
    name = f"bench_notification_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{BASE}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = f"{BASE}/{name}"
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-mail-"))
    maildir = tmp / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True)
    smtp_port = free_port()
    smtp = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is timed
        [
            sys.executable,
            "-m",
            "parley.devstack.mailsink",
            "--port",
            str(smtp_port),
            "--maildir",
            str(maildir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    topics = Topics(f"bench-{uuid.uuid4().hex[:8]}")
    bootstrap = f"{ports.HOST}:{ports.KAFKA}"
    try:
        runner.upgrade(dsn)
        t = time.perf_counter()
        chat_id, sender = seed(dsn, recipients)
        print(f"seeded {recipients} recipients in {time.perf_counter() - t:.1f} s")
        await ensure_topics(bootstrap, [topics.events, topics.notifications_dlq], partitions=3)
        settings = NotificationSettings(
            postgres_dsn=SecretStr(dsn),
            kafka_bootstrap=bootstrap,
            kafka_topic_prefix=topics.prefix,
            redis_key_prefix=f"bench:{uuid.uuid4().hex[:8]}:",
            notification_delay_seconds=1,
            notification_urgent_delay_seconds=1,
            notification_tick_seconds=0.2,
            notification_batch=500,
            notification_senders=senders,
            smtp_port=smtp_port,
        )
        app = create_app(settings, jwks=None)
        producer = KafkaProducer(bootstrap, client_id="bench-notification")
        engine = create_async_engine(async_url(dsn))
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
            now = datetime.now(UTC)
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text(
                        "INSERT INTO messages (chat_id, seq, sender_id, client_id, body, attachments,"
                        " created_at) VALUES (:c, 2, :s, 'bench', 'lunch?', '[]'::jsonb, :t)"
                    ),
                    {"c": chat_id, "s": sender, "t": now},
                )
                await conn.execute(sa.text("UPDATE chats SET last_seq = 2 WHERE id = :c"), {"c": chat_id})
            event = MessageCreated(
                chat_id=chat_id,
                seq=2,
                actor_id=sender,
                at=now,
                message=MessageData(
                    seq=2, sender_id=sender, client_id="bench", body="lunch?", created_at=now
                ),
            )
            await producer.send_many([(topics.events, chat_key(chat_id), encode(event))])
            sent = 0
            deadline = time.monotonic() + 1800
            while sent < recipients and time.monotonic() < deadline:
                await asyncio.sleep(1)
                async with engine.connect() as conn:
                    sent = (
                        await conn.execute(
                            sa.text("SELECT count(*) FROM notification_deliveries WHERE status = 'sent'")
                        )
                    ).scalar_one()
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        sa.text(
                            "SELECT sent_at, created_at FROM notification_deliveries WHERE status = 'sent'"
                        )
                    )
                ).all()
        await producer.stop()
        await engine.dispose()
        latencies = sorted((row.sent_at - now).total_seconds() for row in rows)
        first_planned = min(row.created_at for row in rows)
        last_sent = max(row.sent_at for row in rows)
        span = (last_sent - first_planned).total_seconds()
        counts = collections.Counter(str(message["Delivered-To"]) for _, message in read_messages(maildir))
        planned_span = (max(row.created_at for row in rows) - first_planned).total_seconds()
        print(f"recipients {recipients}, senders {senders}: {len(rows)} digests sent")
        print(f"planning: {len(rows)} digests recorded within {planned_span:.1f} s of the first")
        print(f"digests/s (first planned -> last sent): {len(rows) / span:.0f}  ({span:.1f} s)")
        print(
            "message -> digest mail (s, includes the 1 s delay): "
            f"p50 {statistics.median(latencies):.1f}  p95 {latencies[int(len(latencies) * 0.95) - 1]:.1f}"
            f"  max {latencies[-1]:.1f}"
        )
        print(
            f"Maildir: {sum(counts.values())} mails, {sum(1 for n in counts.values() if n > 1)} duplicated, "
            f"{recipients - len(counts)} recipients without mail"
        )
    finally:
        smtp.terminate()
        smtp.wait(30)
        with psycopg.connect(f"{BASE}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(run(args.recipients, args.senders))


if __name__ == "__main__":
    main()
