"""Exactly once through a crash and an SMTP outage, with processes the test owns: its own SMTP
server (the dev stack's mail sink program on a free port, with a Maildir of the test's own) and its
own `parley serve notification`; the shared dev stack's smtp and svc-* are never touched."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from parley.devstack.mailsink import read_messages
from parley.devstack.process import port_open
from parley.notification.settings import NotificationSettings
from parley.testing.mail import MAIL_DOMAIN
from parley.testing.slices import unique
from parley.testing.tokens import Signer
from parley.testing.waiting import eventually, free_port

from tests.notification.conftest import World, running

RECIPIENTS = 40


class Owned:
    """The test's processes, killed at the end whatever happened."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def owned(tmp_path: Path) -> Iterator[Owned]:
    procs = Owned(tmp_path)
    yield procs
    procs.close()


def count_mail(maildir: Path, recipients: list[str]) -> collections.Counter[str]:
    wanted = set(recipients)
    counts: collections.Counter[str] = collections.Counter()
    for _, message in read_messages(maildir):
        for value in message.get_all("Delivered-To", []):
            if str(value) in wanted:
                counts[str(value)] += 1
    return counts


async def test_sigkill_mid_digest_and_smtp_outage_deliver_every_mail_exactly_once(
    owned: Owned, tmp_path: Path, world: World, settings: NotificationSettings
) -> None:
    maildir = tmp_path / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True)
    smtp_port, http_port = free_port(), free_port()

    def smtp() -> subprocess.Popen[bytes]:
        # Slow on purpose (50 ms a message), so the stop lands in the middle of the digests.
        argv = [sys.executable, "-m", "parley.devstack.mailsink", "--port", str(smtp_port)]
        return owned.start("smtp", [*argv, "--maildir", str(maildir), "--accept-delay", "0.05"])

    env = {
        "PARLEY_POSTGRES_DSN": settings.postgres_dsn.get_secret_value(),
        "PARLEY_REDIS_URL": settings.redis_url.get_secret_value(),
        "PARLEY_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "PARLEY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PARLEY_KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "PARLEY_NOTIFICATION_DELAY_SECONDS": "0.3",
        "PARLEY_NOTIFICATION_URGENT_DELAY_SECONDS": "0.3",
        "PARLEY_NOTIFICATION_TICK_SECONDS": "0.2",
        "PARLEY_NOTIFICATION_SENDERS": "2",
        "PARLEY_NOTIFICATION_RETRY_MAX_SECONDS": "1",
        "PARLEY_NOTIFICATION_MAX_BACKOFF_SECONDS": "1",
        "PARLEY_SMTP_PORT": str(smtp_port),
    }
    serve = [
        sys.executable,
        "-m",
        "parley",
        "serve",
        "notification",
        "--host",
        "127.0.0.1",
        "--port",
        str(http_port),
    ]

    mail = {f"u{i}": f"{unique('f-')}@{MAIL_DOMAIN}" for i in range(RECIPIENTS)}
    ids = await world.users({"boss": f"{unique('f-')}@{MAIL_DOMAIN}", **mail})
    group = await world.chat(ids["boss"], [ids[name] for name in mail])
    await world.post(group, ids["boss"], ["all hands at noon", "<i>bring</i> snacks"])

    server = smtp()
    service = owned.start("notification-1", serve, env)
    # Some digests delivered, not all: mid-digest.
    await eventually(
        lambda: asyncio.to_thread(lambda: sum(count_mail(maildir, list(mail.values())).values())),
        lambda n: n >= 5,
        within=60,
        what="the first digests",
    )
    server.send_signal(signal.SIGTERM)  # the SMTP server stops (it drains what it is storing)
    assert server.wait(20) == 0

    async def failed_attempts() -> object:
        return await world.scalar(
            "SELECT count(*) FROM notification_deliveries WHERE status = 'pending' AND attempts > 0"
        )

    await eventually(
        failed_attempts, lambda n: isinstance(n, int) and n > 0, within=30, what="a failed attempt"
    )
    delivered_before = sum(count_mail(maildir, list(mail.values())).values())
    assert delivered_before < RECIPIENTS, "the outage came after the last digest: nothing was tested"
    service.send_signal(signal.SIGKILL)  # mid-digest, while the SMTP server is away
    service.wait(10)

    smtp()
    owned.start("notification-2", serve, env)

    async def sent() -> object:
        return await world.scalar("SELECT count(*) FROM notification_deliveries WHERE status = 'sent'")

    await eventually(sent, lambda n: n == RECIPIENTS, within=90, what="every digest sent")
    counts = count_mail(maildir, list(mail.values()))
    duplicates = {address: n for address, n in counts.items() if n > 1}
    lost = [address for address in mail.values() if counts[address] == 0]
    assert (duplicates, lost) == ({}, []), f"{len(duplicates)} duplicated, {len(lost)} lost"
    assert sum(counts.values()) == RECIPIENTS
    assert await world.scalar("SELECT count(*) FROM notification_deliveries") == RECIPIENTS


async def test_a_permanent_refusal_marks_the_address_undeliverable_and_stops_mail_to_it(
    owned: Owned, tmp_path: Path, world: World, settings: NotificationSettings, signer: Signer
) -> None:
    """Our own mail sink refuses `.invalid` recipients with a 550, as a real server refuses an
    address it does not serve."""
    maildir = tmp_path / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True)
    port = free_port()
    owned.start(
        "smtp",
        [sys.executable, "-m", "parley.devstack.mailsink", "--port", str(port), "--maildir", str(maildir)],
    )
    await eventually(lambda: asyncio.to_thread(port_open, port), within=30, what="the mail sink")
    gone = f"{unique('g-')}@nowhere.invalid"
    ids = await world.users({"ola": f"{unique('f-')}@{MAIL_DOMAIN}", "pia": gone})
    chat = await world.chat(ids["ola"], [ids["pia"]], kind="direct")
    async with running(settings.model_copy(update={"smtp_port": port}), signer) as (app, _):
        await world.post(chat, ids["ola"], ["are you there?"])

        async def status() -> object:
            return await world.scalar(
                "SELECT status || ':' || coalesce(last_error, '') FROM notification_deliveries"
                " WHERE user_id = :u",
                u=ids["pia"],
            )

        found, _ = await eventually(
            status,
            lambda v: isinstance(v, str) and not v.startswith("pending"),
            within=30,
            what="the attempt",
        )
        assert isinstance(found, str) and found.startswith("undeliverable:550"), found
        assert (
            await world.scalar(
                "SELECT count(*) FROM notification_undeliverable WHERE channel = 'email' AND address = :a",
                a=gone,
            )
            == 1
        )
        # Later messages plan nothing for that address: the pending row is dropped, no delivery.
        await world.post(chat, ids["ola"], ["hello?"])

        async def pending() -> object:
            return await world.scalar(
                "SELECT count(*) FROM notification_pending WHERE user_id = :u", u=ids["pia"]
            )

        async def recorded() -> int:
            return int(app.state.consumer.recorded)

        # The second message was taken in (a pending row for pia), then planned away.
        await eventually(recorded, lambda n: n >= 2, within=30, what="the second message recorded")
        await eventually(pending, lambda n: n == 0, within=30, what="the second message planned")
    assert (
        await world.scalar("SELECT count(*) FROM notification_deliveries WHERE user_id = :u", u=ids["pia"])
        == 1
    )
    assert list(read_messages(maildir)) == []
