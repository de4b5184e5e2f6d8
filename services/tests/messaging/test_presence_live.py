"""Presence through the real processes: socket processes report their connections to the presence
service over Kafka, and clients that watch a user get `presence` frames on whichever socket process
they are connected to. Short presence times (TTL 2 s, heartbeats every 0.5 s) keep the tests quick;
the rules are the same as with the defaults."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import httpx
import pytest
from parley.testing.processes import ServiceProcess
from parley.testing.wsclient import ChatClient, Frame

from tests.messaging.conftest import Person, Platform

TTL = 2.0
SWEEP = 0.2
HEARTBEAT = 0.5
PRESENCE_ENV = {"PARLEY_PRESENCE_TTL_SECONDS": str(TTL), "PARLEY_PRESENCE_SWEEP_SECONDS": str(SWEEP)}
SOCKET_ENV = {"PARLEY_SOCKET_PRESENCE_HEARTBEAT_SECONDS": str(HEARTBEAT)}


def _start(platform: Platform, *services: str, **socket_env: str) -> list[ServiceProcess]:
    return platform.start_all(
        *services, env={"presence": PRESENCE_ENV, "socket": {**SOCKET_ENV, **socket_env}}
    )


async def _watch(client: ChatClient, *people: Person | uuid.UUID) -> Frame:
    ids = [str(p.id if isinstance(p, Person) else p) for p in people]
    start = len(client.frames)
    await client.send_json({"type": "watch", "user_ids": ids})
    return await client.expect("presence", lambda f: [u["user_id"] for u in f["users"]] == ids, start=start)


def _versions_only_grow(client: ChatClient) -> bool:
    newest: dict[str, int] = {}
    for frame in client.frames:
        for entry in frame.get("users", []) if frame.get("type") == "presence" else []:
            if entry["version"] < newest.get(entry["user_id"], 0):
                return False
            newest[entry["user_id"]] = entry["version"]
    return True


async def _rest_status(presence: ServiceProcess, viewer: Person, user: Person) -> str:
    async with httpx.AsyncClient(base_url=presence.url) as http:
        response = await http.get(
            "/presence",
            params={"user_ids": str(user.id)},
            headers={"Authorization": f"Bearer {viewer.token}"},
        )
    assert response.status_code == 200, response.text
    return str(response.json()["users"][0]["status"])


async def test_watchers_on_another_socket_see_devices_come_go_and_idle(platform: Platform) -> None:
    _, left, right = _start(platform, "presence", "socket", "socket")
    ada, bob = await platform.people("ada", "bob")
    nobody = uuid.uuid4()

    watcher = await platform.client(left, ada)
    snapshot = await _watch(watcher, bob, nobody)
    assert [(u["status"], u["last_seen"], u["version"]) for u in snapshot["users"]] == [
        ("offline", None, 0),
        ("offline", None, 0),
    ]

    phone = await platform.client(right, bob, name="bob-phone")
    online = await watcher.expect_presence(bob.id, "online")
    assert online["last_seen"] is not None and online["version"] >= 1

    await phone.send_json({"type": "status", "status": "away"})
    await watcher.expect_presence(bob.id, "away")
    laptop = await platform.client(left, bob, name="bob-laptop")  # online beats away
    await watcher.expect_presence(bob.id, "online")
    await laptop.close()
    await watcher.expect_presence(bob.id, "away")  # the phone is still there, idle
    await phone.send_json({"type": "status", "status": "online"})
    await watcher.expect_presence(bob.id, "online")

    await phone.close()
    offline = await watcher.expect_presence(bob.id, "offline")
    assert offline["last_seen"] is not None
    assert _versions_only_grow(watcher)
    assert watcher.presence(nobody) == {
        "user_id": str(nobody),
        "status": "offline",
        "last_seen": None,
        "version": 0,
    }


async def test_a_new_watch_list_replaces_the_old_one(platform: Platform) -> None:
    _, socket = _start(platform, "presence", "socket")
    ada, bob, cy = await platform.people("ada", "bob", "cy")
    watcher = await platform.client(socket, ada)
    await _watch(watcher, bob)
    await _watch(watcher, cy)

    presence = platform.processes[0]
    await platform.client(socket, bob)
    cy_phone = await platform.client(socket, cy)
    await watcher.expect_presence(cy.id, "online")
    await _expect_rest(presence, ada, bob, "online")
    # Bob's change is published by now; cy's next one comes after it on the same Redis connection,
    # so once that is here, bob's would have been too had the old list still counted.
    await cy_phone.send_json({"type": "status", "status": "away"})
    await watcher.expect_presence(cy.id, "away")
    assert watcher.presence(bob.id) == {
        "user_id": str(bob.id),
        "status": "offline",
        "last_seen": None,
        "version": 0,
    }

    await _watch(watcher)  # an empty list: watch nobody
    start = len(watcher.frames)
    dan = (await platform.people("dan"))[0]
    await _watch(watcher, dan)
    assert all(
        f["type"] != "presence" or f["users"][0]["user_id"] == str(dan.id) for f in watcher.frames[start:]
    )


async def test_a_socket_killed_without_a_word_turns_its_users_offline_within_the_ttl(
    platform: Platform,
) -> None:
    presence, left, right = _start(platform, "presence", "socket", "socket")
    ada, bob = await platform.people("ada", "bob")
    watcher = await platform.client(left, ada)
    await _watch(watcher, bob)
    await platform.client(right, bob)
    await watcher.expect_presence(bob.id, "online")
    await _expect_rest(presence, ada, bob, "online")

    right.kill(signal.SIGKILL)
    killed = time.monotonic()
    # lifetime = max(TTL, 2 heartbeats) after the last beat, plus a sweep; two seconds of slack for
    # the loaded machine's scheduling and Kafka's round trips.
    await watcher.expect_presence(bob.id, "offline", within=TTL + SWEEP + 5)
    took = time.monotonic() - killed
    assert took <= TTL + SWEEP + 2.0, f"offline only after {took:.2f} s"
    assert await _rest_status(presence, ada, bob) == "offline"


async def test_a_socket_stopped_cleanly_turns_its_users_offline_at_once(platform: Platform) -> None:
    _, left = _start(platform, "presence", "socket")
    # Beats far apart: only the stop itself can turn bob offline this quickly.
    (right,) = _start(platform, "socket", PARLEY_SOCKET_PRESENCE_HEARTBEAT_SECONDS="30")
    ada, bob = await platform.people("ada", "bob")
    watcher = await platform.client(left, ada)
    await _watch(watcher, bob)
    await platform.client(right, bob)
    await watcher.expect_presence(bob.id, "online")

    stopped = time.monotonic()
    right.kill(signal.SIGTERM)
    await watcher.expect_presence(bob.id, "offline", within=10)
    assert time.monotonic() - stopped < 10, "offline only when the heartbeats' time was up"


async def _expect_rest(presence: ServiceProcess, viewer: Person, user: Person, status: str) -> None:
    deadline = time.monotonic() + 10
    while (got := await _rest_status(presence, viewer, user)) != status:
        if time.monotonic() > deadline:
            pytest.fail(f"REST says {got}, expected {status}")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "watch", "user_ids": ["not-a-uuid"]}, "bad_frame"),
        ({"type": "watch", "user_ids": [str(uuid.uuid4()) for _ in range(301)]}, "bad_frame"),
        ({"type": "watch"}, "bad_frame"),
        ({"type": "status", "status": "busy"}, "bad_frame"),
    ],
)
async def test_bad_presence_frames_get_an_error_and_the_connection_stays(
    platform: Platform, frame: Frame, code: str
) -> None:
    (socket,) = _start(platform, "socket")
    (ada,) = await platform.people("ada")
    client = await platform.client(socket, ada)
    start = len(client.frames)
    await client.send_json(frame)
    error = await client.expect("error", start=start)
    assert error["code"] == code
    await client.send_json({"type": "ping", "ref": "still-there"})
    await client.expect("pong", lambda f: f["ref"] == "still-there", start=start)


async def test_watch_before_authenticating_is_refused(platform: Platform) -> None:
    (socket,) = _start(platform, "socket")
    client = await ChatClient.connect(socket.ws_url, None, name="anon")
    platform.clients.append(client)
    await client.send_json({"type": "watch", "user_ids": [str(uuid.uuid4())]})
    error = await client.expect("error")
    assert error["code"] == "not_authenticated"
