"""Users of an installed platform, from the host: register and log in over REST, talk over the
WebSocket, read history over REST, and a sender that keeps sending through pod deletions and
rollouts (reconnecting and resending with the same client_id, as docs/protocol.md tells clients to)
so the tests can count what was sent, stored, lost and duplicated."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from parley.testing.wsclient import ChatClient

PASSWORD = "e2e-Passphrase-that-is-long-7"


@dataclass(frozen=True)
class BuiltImages:
    services: str
    operator: str
    envoy: str
    tag: str
    next_tag: str
    build_seconds: dict[str, float]


@dataclass
class Endpoints:
    auth: str
    api: str
    socket: str
    """ws:// URL of the socket service's /ws."""


@dataclass
class User:
    name: str
    id: str
    token: str


async def register_and_login(http: httpx.AsyncClient, endpoints: Endpoints, name: str) -> User:
    username = f"{name}{uuid.uuid4().hex[:8]}"
    created = await http.post(
        f"{endpoints.auth}/auth/register",
        json={"username": username, "email": f"{username}@example.test", "password": PASSWORD},
    )
    assert created.status_code == 201, created.text
    login = await http.post(f"{endpoints.auth}/auth/login", json={"login": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    me = await http.get(f"{endpoints.auth}/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    return User(username, str(me.json()["id"]), token)


async def direct_chat(http: httpx.AsyncClient, endpoints: Endpoints, a: User, b: User) -> str:
    made = await http.post(
        f"{endpoints.api}/chats/direct",
        json={"user_id": b.id},
        headers={"Authorization": f"Bearer {a.token}"},
    )
    assert made.status_code in (200, 201), made.text
    return str(made.json()["id"])


async def stored_messages(
    http: httpx.AsyncClient, endpoints: Endpoints, user: User, chat_id: str
) -> list[dict[str, Any]]:
    """Every `message.created` of the chat, oldest first, by paging the sync over REST."""
    created: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await http.get(
            f"{endpoints.api}/chats/{chat_id}/messages",
            params={"after_seq": after, "limit": 200},
            headers={"Authorization": f"Bearer {user.token}"},
        )
        assert page.status_code == 200, page.text
        body = page.json()
        created += [c["message"] for c in body["changes"] if c["type"] == "message.created"]
        if not body["has_more"]:
            return created
        after = body["next_after_seq"]


@dataclass
class Counts:
    sent: int
    stored: int
    lost: int
    duplicated: int
    resends: int
    reconnects: int

    def __str__(self) -> str:
        return (
            f"sent={self.sent} stored={self.stored} lost={self.lost} duplicated={self.duplicated} "
            f"(resends={self.resends}, reconnects={self.reconnects})"
        )


@dataclass
class Sender:
    """Sends numbered messages one after another; each is resent with its client_id until the
    server says `accepted` (a reconnect after a dropped connection, a timeout, `unavailable`)."""

    endpoints: Endpoints
    user: User
    chat_id: str
    prefix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    interval: float = 0.05
    accept_within: float = 8.0
    give_up_after: float = 180.0
    accepted: list[str] = field(default_factory=list)
    resends: int = 0
    reconnects: int = 0
    _client: ChatClient | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _connected(self) -> ChatClient:
        deadline = time.monotonic() + self.give_up_after
        while self._client is None or self._client.closed.done():
            if self._client is not None:
                await self._client.close()
                self._client = None
                self.reconnects += 1
            try:
                self._client = await ChatClient.connect(
                    self.endpoints.socket, self.user.token, name=self.user.name, within=5, via="subprotocol"
                )
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        return self._client

    async def send_one(self, number: int) -> None:
        client_id = f"{self.prefix}-{number}"
        deadline = time.monotonic() + self.give_up_after
        first = True
        while True:
            if not first:
                self.resends += 1
            first = False
            client = await self._connected()
            start = len(client.frames)
            try:
                await client.send_message(self.chat_id, f"message {number}", client_id)
                answer = await client.expect(
                    "accepted",
                    lambda f: f.get("client_id") == client_id,
                    start=start,
                    within=self.accept_within,
                )
            except Exception:
                if time.monotonic() > deadline:
                    raise
                # A dropped connection, or no answer in time: the same frame again, maybe elsewhere.
                if self._client is not None and not self._client.closed.done():
                    with contextlib.suppress(Exception):
                        await self._client.ws.close()
                    await self._client.closed
                await asyncio.sleep(0.2)
                continue
            assert answer["client_id"] == client_id
            self.accepted.append(client_id)
            return

    async def run(self) -> None:
        number = 0
        while not self._stop.is_set():
            await self.send_one(number)
            number += 1
            await asyncio.sleep(self.interval)

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def wait_accepted(self, count: int, within: float) -> None:
        """Until `count` more messages than now are accepted."""
        target = len(self.accepted) + count
        deadline = time.monotonic() + within
        while len(self.accepted) < target:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"only {len(self.accepted)} of {target} messages accepted in {within:.0f}s"
                )
            await asyncio.sleep(0.1)

    def count(self, stored: list[dict[str, Any]]) -> Counts:
        mine = [m["client_id"] for m in stored if str(m.get("client_id", "")).startswith(f"{self.prefix}-")]
        distinct = set(mine)
        return Counts(
            sent=len(self.accepted),
            stored=len(mine),
            lost=len(set(self.accepted) - distinct),
            duplicated=len(mine) - len(distinct),
            resends=self.resends,
            reconnects=self.reconnects,
        )
