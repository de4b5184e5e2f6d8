"""The issue's demonstration: a socket process killed without a word turns its users offline
within the TTL. The socket is a real separate process running a ConnectionReporter; it is killed
with SIGKILL (or, for contrast, stopped cleanly with SIGTERM)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from parley.common.topics import Topics
from parley.testing.waiting import eventually, holds

from tests.presence.conftest import (
    HEARTBEAT,
    SWEEP,
    TTL,
    ChannelWatch,
    presence_topic,
    rest_presence,
    statuses,
)

SERVICES_DIR = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def socket_process(
    kafka_bootstrap: str, topics: Topics, instance: str, connections: list[tuple[uuid.UUID, str]]
) -> AsyncIterator[asyncio.subprocess.Process]:
    config = {
        "bootstrap": kafka_bootstrap,
        "topic_prefix": topics.prefix,
        "instance_id": instance,
        "heartbeat_seconds": HEARTBEAT,
        "connections": [[str(user), conn] for user, conn in connections],
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.presence.socket_process",
        json.dumps(config),
        cwd=SERVICES_DIR,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(SERVICES_DIR)},
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert line.strip() == b"ready", f"the socket process did not start: {line!r}"
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), 10)


async def test_killed_socket_process_turns_its_users_offline_within_the_ttl(
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    topics: Topics,
    kafka_bootstrap: str,
    channel_watch: ChannelWatch,
) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    connections = [(alice, "a1"), (alice, "a2"), (bob, "b1")]

    async def now() -> dict[uuid.UUID, tuple[str, str | None]]:
        return await rest_presence(client, viewer, alice, bob)

    async with socket_process(kafka_bootstrap, topics, "sock-doomed", connections) as process:
        await eventually(now, statuses("online", "online"), within=15)
        # Alive and heartbeating: still online long after the TTL.
        await holds(
            now,
            lambda presence: [state for state, _ in presence.values()] == ["online", "online"],
            seconds=2 * TTL,
            reason="without heartbeats the connections would be swept within the TTL",
            every=0.25,
        )

        process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        assert await asyncio.wait_for(process.wait(), 5) == -signal.SIGKILL

        presence, _ = await eventually(now, statuses("offline", "offline"), within=TTL + SWEEP + 5)
        took = time.monotonic() - killed
    # Not before its time was up (its last heartbeat was at most one interval before the kill, two
    # on a machine slow to send it), and no later than the TTL plus one sweep, give or take the
    # consumer's latency on a busy machine.
    assert TTL - 2 * HEARTBEAT <= took <= TTL + SWEEP + 3, took
    # last_seen: the last heartbeat, which came at most one interval before the kill.
    for _, last_seen in presence.values():
        assert last_seen is not None
    print(f"offline {took:.2f} s after SIGKILL (TTL {TTL} s, sweep {SWEEP} s, heartbeat {HEARTBEAT} s)")

    await channel_watch.until(alice, [("online", 1), ("offline", 2)])
    await channel_watch.until(bob, [("online", 1), ("offline", 2)])
    events = await presence_topic(kafka_bootstrap, topics, lambda evs: len(evs) >= 4)
    assert sorted((e.user_id == alice, e.status) for e in events) == [
        (False, "offline"),
        (False, "online"),
        (True, "offline"),
        (True, "online"),
    ]


async def test_a_cleanly_stopped_socket_process_turns_its_users_offline_at_once(
    client: httpx.AsyncClient, viewer: dict[str, str], topics: Topics, kafka_bootstrap: str
) -> None:
    carol = uuid.uuid4()
    async with socket_process(kafka_bootstrap, topics, "sock-leaving", [(carol, "c")]) as process:
        await eventually(lambda: rest_presence(client, viewer, carol), statuses("online"), within=15)
        process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        await eventually(lambda: rest_presence(client, viewer, carol), statuses("offline"), within=TTL + 5)
        took = time.monotonic() - stopped
        assert await asyncio.wait_for(process.wait(), 10) == 0
    # Sooner than any expiry could have done it (timed to the change, not to the process's exit).
    assert took < TTL - HEARTBEAT, took
