"""A Redis pub/sub subscriber of our own: one connection (TCP, or TLS for `rediss://`; AUTH with
the URL's user and password), channels counted by their users, subscriptions confirmed before the
caller goes on, messages handed over as raw bytes, RESP parsed by hiredis.

Why not redis-py's PubSub: every message passes through several awaits and dicts there, which
shows at thousands of messages a second; here a message is parsed from the buffer and handed to
a plain callback in `data_received`. Confirmation matters for correctness: the socket reads a
chat's last seq only after its channel is subscribed, so nothing published later can slip by.

When the connection drops, it reconnects with backoff, subscribes every channel again and calls
`on_resubscribed`: messages published meanwhile are lost to pub/sub, and the socket catches its
connections up from the database instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import cast
from urllib.parse import parse_qs, unquote, urlparse

import hiredis

from parley.common.backoff import Backoff

log = logging.getLogger(__name__)

OnMessage = Callable[[bytes, bytes], None]  # channel, data


class RedisUnavailable(Exception):
    pass


def tls_context(scheme: str, query: dict[str, list[str]]) -> ssl.SSLContext | None:
    """TLS for `rediss://` URLs, with redis-py's URL options: `ssl_ca_certs` (a CA file to trust)
    and `ssl_cert_reqs=none` (no certificate check: development only)."""
    if scheme != "rediss":
        return None
    ca_files = query.get("ssl_ca_certs")
    context = ssl.create_default_context(cafile=ca_files[0] if ca_files else None)
    if (query.get("ssl_cert_reqs") or ["required"])[0].lower() in ("none", "cert_none"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _command(*args: bytes) -> bytes:
    # (hiredis's hints say a one-element tuple; any length is what it takes)
    return bytes(hiredis.pack_command(args))  # type: ignore[arg-type]


class _Connection(asyncio.Protocol):
    def __init__(self, owner: Subscriber) -> None:
        self.owner = owner
        # hiredis (C) parses RESP: ten times the messages per second of the hand-written parser
        # it replaced (docs/performance.md). Error replies come back as RedisUnavailable values.
        self.reader = hiredis.Reader(replyError=RedisUnavailable)
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports implement the interface without subclassing it)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        try:
            while (value := reader.gets()) is not False:
                self.owner._reply(value)
        except hiredis.ProtocolError:
            log.warning("Redis subscriber: not RESP, reconnecting")
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class Subscriber:
    def __init__(
        self,
        url: str,
        on_message: OnMessage,
        *,
        on_resubscribed: Callable[[], None] | None = None,
        confirm_timeout: float = 5.0,
    ) -> None:
        parsed = urlparse(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 6379
        self.ssl = tls_context(parsed.scheme, parse_qs(parsed.query))
        self.username = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None
        self.on_message = on_message
        self.on_resubscribed = on_resubscribed
        self.confirm_timeout = confirm_timeout
        self.refs: dict[bytes, int] = {}
        self._waiting: dict[bytes, list[asyncio.Future[None]]] = {}
        self._auth: asyncio.Future[None] | None = None
        self._conn: _Connection | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._first = asyncio.get_running_loop().create_future()

    @property
    def connected(self) -> bool:
        """Connected and subscribed (for readiness)."""
        return self._ready.is_set() and self._conn is not None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-subscriber")
        await asyncio.wait_for(asyncio.shield(self._first), timeout=10.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None and self._conn.transport is not None:
            self._conn.transport.close()

    def subscribe(self, channels: Iterable[str]) -> Awaitable[None]:
        """Count one more user of each channel, now; the result completes once Redis confirmed
        the channels (those new here, or still waiting for their confirmation)."""
        new: list[bytes] = []
        waits: list[asyncio.Future[None]] = []
        loop = asyncio.get_running_loop()
        for channel in channels:
            name = channel.encode()
            count = self.refs.get(name, 0)
            self.refs[name] = count + 1
            if count == 0 or name in self._waiting:
                future: asyncio.Future[None] = loop.create_future()
                self._waiting.setdefault(name, []).append(future)
                waits.append(future)
                if count == 0:
                    new.append(name)
        if new:
            self._send(_command(b"SUBSCRIBE", *new))
        return self._confirmed(waits)

    async def _confirmed(self, waits: list[asyncio.Future[None]]) -> None:
        if not waits:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout=self.confirm_timeout)
        except TimeoutError:
            raise RedisUnavailable("Redis did not confirm the subscription") from None

    def release(self, channels: Iterable[str]) -> None:
        """One user fewer of each channel; the last one unsubscribes."""
        gone: list[bytes] = []
        for channel in channels:
            name = channel.encode()
            count = self.refs.get(name, 0) - 1
            if count <= 0:
                self.refs.pop(name, None)
                gone.append(name)
            else:
                self.refs[name] = count
        if gone:
            self._send(_command(b"UNSUBSCRIBE", *gone))

    def _send(self, data: bytes) -> None:
        conn = self._conn
        if conn is not None and conn.transport is not None and self._ready.is_set():
            conn.transport.write(data)
        # Not connected: the channels are in `refs` and get subscribed on (re)connect.

    def _reply(self, value: object) -> None:
        if isinstance(value, list) and value:
            kind = value[0]
            if kind == b"message" and len(value) == 3:
                channel, data = value[1], value[2]
                if isinstance(channel, bytes) and isinstance(data, bytes) and channel in self.refs:
                    try:
                        self.on_message(channel, data)
                    except Exception:
                        log.exception("handling a message of %r failed", channel)
                return
            if kind == b"subscribe" and len(value) == 3 and isinstance(value[1], bytes):
                for future in self._waiting.pop(value[1], []):
                    if not future.done():
                        future.set_result(None)
                return
            return  # unsubscribe confirmations, pongs
        if self._auth is not None and not self._auth.done():
            if isinstance(value, Exception):
                self._auth.set_exception(value)
            else:
                self._auth.set_result(None)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        transport, conn = await asyncio.wait_for(
            loop.create_connection(
                lambda: _Connection(self),
                self.host,
                self.port,
                ssl=self.ssl,
                server_hostname=self.host if self.ssl is not None else None,
            ),
            timeout=5.0,
        )
        conn.transport = transport  # (uvloop may call connection_made after returning)
        if self.password is not None:
            self._auth = loop.create_future()
            args = [b"AUTH", *([self.username.encode()] if self.username else []), self.password.encode()]
            conn.transport.write(_command(*args))
            await asyncio.wait_for(self._auth, timeout=5.0)
        return conn

    async def _resubscribe(self, conn: _Connection) -> bool:
        """Subscribe every counted channel again and wait until Redis confirmed them all."""
        loop = asyncio.get_running_loop()
        names = list(self.refs)
        waits: list[asyncio.Future[None]] = []
        for name in names:
            future: asyncio.Future[None] = loop.create_future()
            self._waiting.setdefault(name, []).append(future)
            waits.append(future)
        assert conn.transport is not None
        conn.transport.write(_command(b"SUBSCRIBE", *names))
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout=self.confirm_timeout)
        except TimeoutError:
            log.warning("Redis subscriber: subscriptions not confirmed, reconnecting")
            conn.transport.close()
            await conn.lost
            self._ready.clear()
            self._conn = None
            return False
        return True

    async def _run(self) -> None:
        backoff = Backoff("Redis subscriber", minimum=0.1, maximum=1.0)  # back within ~1 s of Redis
        first = True
        while True:
            try:
                conn = await self._connect()
            except Exception as exc:
                if not self._first.done():
                    self._first.set_exception(RedisUnavailable(f"cannot reach Redis: {exc!r}"))
                    return
                await asyncio.sleep(backoff.failed(exc))
                continue
            self._conn = conn
            self._ready.set()
            if self.refs and not await self._resubscribe(conn):
                continue
            backoff.succeeded()
            if not self._first.done():
                self._first.set_result(None)
            if not first and self.on_resubscribed is not None:
                self.on_resubscribed()
            first = False
            await conn.lost
            self._ready.clear()
            self._conn = None
            log.warning("Redis subscriber: connection lost")
