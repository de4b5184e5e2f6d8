"""A chat client over the real WebSocket protocol (docs/protocol.md), for tests and benchmarks.

It keeps every frame it received, and per chat the stored events in the order they came, and
can wait for a frame matching a condition. It does what a real client must: it drops a stored
event whose seq it already has (the protocol delivers at least once across reconnects), and it
remembers the last seq per chat to resume from.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

Frame = dict[str, Any]


class ChatClient:
    def __init__(self, ws: ClientConnection, name: str = "") -> None:
        self.ws = ws
        self.name = name
        self.frames: list[Frame] = []
        self.events: dict[str, list[Frame]] = {}  # chat id -> stored events, each seq once, in order
        self.duplicates = 0
        self.out_of_order: list[tuple[str, int, int]] = []
        self.last_seq: dict[str, int] = {}
        self.hello: Frame | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_event: Callable[[Frame], None] | None = None
        self.on_frame: Callable[[Frame], None] | None = None
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name=f"client-{name}")

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str | None = None,
        *,
        name: str = "",
        via: str = "frame",
        resume: dict[str, int] | None = None,
        wait_hello: bool = True,
        within: float = 10.0,
    ) -> ChatClient:
        """`via`: how the token travels: "frame" (an auth frame), "subprotocol", "header", or
        "none" (the test sends auth itself)."""
        subprotocols = ["parley.v1"]
        headers: dict[str, str] = {}
        if token is not None and via == "subprotocol":
            subprotocols.append(f"parley.token.{token}")
        elif token is not None and via == "header":
            headers["Authorization"] = f"Bearer {token}"
        ws = await asyncio.wait_for(
            connect(
                url,
                subprotocols=subprotocols,  # type: ignore[arg-type]
                additional_headers=headers,
                compression=None,
                max_size=2**24,
                open_timeout=within,
                ping_interval=None,
            ),
            within,
        )
        client = cls(ws, name)
        client.last_seq.update(resume or {})
        if token is not None and via == "frame":
            await client.send_json({"type": "auth", "token": token, **({"resume": resume} if resume else {})})
        if wait_hello and token is not None:
            await client.expect("hello", within=within)
        return client

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                frame = json.loads(message)
                self.frames.append(frame)
                kind = frame.get("type")
                if kind == "event":
                    self._event(frame["event"])
                elif kind == "hello":
                    self.hello = frame
                    # Where each chat stands, unless we resume from positions of our own.
                    for chat in frame["chats"]:
                        self.last_seq.setdefault(chat["chat_id"], chat["last_seq"])
                if self.on_frame is not None:
                    self.on_frame(frame)
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result(None)
            self._changed.set()

    def _event(self, event: Frame) -> None:
        chat_id, seq = event["chat_id"], event["seq"]
        last = self.last_seq.get(chat_id)
        if last is not None and seq <= last:
            self.duplicates += 1
            return
        if last is not None and seq != last + 1:
            self.out_of_order.append((chat_id, last, seq))
        self.last_seq[chat_id] = seq
        self.events.setdefault(chat_id, []).append(event)
        if self.on_event is not None:
            self.on_event(event)

    async def send_json(self, frame: Frame) -> None:
        await self.ws.send(json.dumps(frame))

    async def send_message(self, chat_id: str, body: str, client_id: str | None = None) -> str:
        client_id = client_id or uuid.uuid4().hex
        await self.send_json({"type": "send", "chat_id": chat_id, "client_id": client_id, "body": body})
        return client_id

    async def wait_until(self, condition: Callable[[], bool], within: float = 10.0, what: str = "") -> None:
        deadline = time.monotonic() + within
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: timed out waiting for {what or condition}")
            self._changed.clear()
            if condition():
                return
            if self.closed.done() and not condition():
                await asyncio.sleep(0)
                if not condition():
                    raise ConnectionError(f"{self.name}: connection closed while waiting for {what}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def find(
        self, kind: str, predicate: Callable[[Frame], bool] | None = None, start: int = 0
    ) -> Frame | None:
        for frame in self.frames[start:]:
            if frame.get("type") == kind and (predicate is None or predicate(frame)):
                return frame
        return None

    async def expect(
        self,
        kind: str,
        predicate: Callable[[Frame], bool] | None = None,
        *,
        start: int = 0,
        within: float = 10.0,
    ) -> Frame:
        """The first frame of `kind` (from index `start`) matching `predicate`, waiting for it."""
        found: list[Frame] = []

        def seen() -> bool:
            frame = self.find(kind, predicate, start)
            if frame is not None:
                found.append(frame)
            return frame is not None

        await self.wait_until(seen, within, what=f"a {kind!r} frame")
        return found[0]

    def messages(self, chat_id: str) -> list[Frame]:
        return [e for e in self.events.get(chat_id, []) if e["type"] == "message.created"]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


class Sender:
    """Sends messages for one user and makes sure each is accepted: a retryable error (or a lost
    connection) sends it again with the same client_id, which the platform stores once."""

    def __init__(self, client: ChatClient, *, retry_delay: float = 0.2) -> None:
        self.pending: dict[str, tuple[str, str]] = {}  # client_id -> (chat, body)
        self.accepted: dict[str, str] = {}  # client_id -> message id
        self.errors: list[Frame] = []
        self.retry_delay = retry_delay
        self._changed = asyncio.Event()
        self._retries: set[asyncio.Task[None]] = set()
        self.client = client
        self.attach(client)

    def attach(self, client: ChatClient) -> None:
        """Use this connection from now on (after a reconnect: everything unanswered goes again)."""
        self.client = client
        client.on_frame = self._frame
        for client_id in list(self.pending):
            self._resend_later(client_id, 0.0)

    async def send(self, chat_id: str, body: str, client_id: str | None = None) -> str:
        client_id = client_id or uuid.uuid4().hex
        self.pending[client_id] = (chat_id, body)
        with contextlib.suppress(ConnectionClosed):
            await self.client.send_message(chat_id, body, client_id)
        return client_id

    def _frame(self, frame: Frame) -> None:
        kind, client_id = frame.get("type"), frame.get("client_id")
        if kind == "accepted" and client_id in self.pending:
            del self.pending[client_id]
            self.accepted[client_id] = frame["id"]
            self._changed.set()
        elif kind == "error" and client_id in self.pending:
            self.errors.append(frame)
            if frame.get("retryable"):
                self._resend_later(client_id, self.retry_delay)

    def _resend_later(self, client_id: str, delay: float) -> None:
        async def resend() -> None:
            await asyncio.sleep(delay)
            if client_id in self.pending:
                chat_id, body = self.pending[client_id]
                with contextlib.suppress(ConnectionClosed):
                    await self.client.send_message(chat_id, body, client_id)

        task = asyncio.create_task(resend())
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def all_accepted(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(self.pending)} messages never accepted")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
