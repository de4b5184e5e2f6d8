"""A small WebSocket server: asyncio protocols driving websockets' Sans-I/O `ServerProtocol`.

Why not a framework's WebSocket: an idle connection here is an asyncio transport, a parser and two
small objects, with no task of its own (~6 KB instead of ~24 KB under uvicorn), and a frame for many
connections is serialised once and written to each transport as it is (server frames are not
masked). Everything a connection receives is handled synchronously in `data_received`; the
application starts tasks only for work that waits (Kafka, the database).

Plain HTTP requests on other paths (`/healthz`, `/metrics`) are answered and closed.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable, Sequence
from typing import Protocol, cast

from websockets.datastructures import Headers
from websockets.exceptions import NegotiationError, PayloadTooBig
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from parley.socket.protocol import SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX

log = logging.getLogger(__name__)
# websockets logs every open and close at INFO; at thousands of connections that is noise.
logging.getLogger("websockets").setLevel(logging.WARNING)

WS_PATHS = frozenset({"/ws", "/"})
CLOSE_TIMEOUT = 5.0


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented text frame (what a server sends), header built by hand: this runs
    once per outgoing frame, and websockets' general serializer is several times slower."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


class HttpResponse:
    def __init__(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.status = status
        self.body = body
        self.content_type = content_type


class Application(Protocol):
    """What the server calls; one `session` object per WebSocket connection."""

    def http(self, path: str) -> HttpResponse | None:
        """A plain HTTP GET on a path that is not a WebSocket endpoint (None: 404)."""
        ...

    def opened(self, conn: WsConnection, headers: Headers, token: str | None) -> None:
        """The handshake succeeded; `token` came with the handshake (subprotocol or header)."""
        ...

    def received(self, conn: WsConnection, text: bytes) -> None:
        """A whole text message within the soft size limit."""
        ...

    def oversized(self, conn: WsConnection, size: int) -> None:
        """A message above the soft limit (skipped); above the hard limit the server closes too."""
        ...

    def binary(self, conn: WsConnection) -> None: ...

    def closed(self, conn: WsConnection) -> None: ...


def select_subprotocol(_protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """`parley.v1` when offered; a client that offers nothing speaks v1 too; a client that offers
    only other versions is refused (400) rather than spoken to in a language it did not ask for."""
    if SUBPROTOCOL in offered:
        return Subprotocol(SUBPROTOCOL)
    if not [name for name in offered if not name.startswith(TOKEN_SUBPROTOCOL_PREFIX)]:
        return None
    raise NegotiationError(f"unsupported subprotocol; this server speaks {SUBPROTOCOL}")


def handshake_token(headers: Headers) -> str | None:
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        for name in value.split(","):
            name = name.strip()
            if name.startswith(TOKEN_SUBPROTOCOL_PREFIX):
                return name[len(TOKEN_SUBPROTOCOL_PREFIX) :]
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class WsConnection(asyncio.Protocol):
    __slots__ = (
        "_close_timer",
        "_drained",
        "_fragments",
        "_fragments_size",
        "_pending",
        "_skipping",
        "_told_too_big",
        "app",
        "last_received",
        "server",
        "session",
        "transport",
        "ws",
    )

    def __init__(self, server: WsServer) -> None:
        self.server = server
        self.app = server.app
        self.ws = ServerProtocol(max_size=server.hard_max_bytes, select_subprotocol=select_subprotocol)
        self.transport: asyncio.Transport | None = None
        self.session: object | None = None  # the application's state for this connection
        self.last_received = time.monotonic()
        self._fragments: list[bytes] | None = None
        self._fragments_size = 0
        self._skipping = False  # the rest of an oversized fragmented message
        self._told_too_big = False
        self._drained: asyncio.Future[None] | None = None
        self._pending: list[bytes] | None = None  # frames to write at the end of this loop turn
        self._close_timer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports implement the interface without subclassing it)
        self.transport = cast(asyncio.Transport, transport)
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        ws = self.ws
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif isinstance(event, Frame):
                self._frame(event)
        if isinstance(ws.parser_exc, PayloadTooBig) and not self._told_too_big and self.transport is not None:
            # Tell the client why, before the close frame (1009) the parser queued goes out.
            self._told_too_big = True
            self.transport.write(text_frame(self.server.too_big_payload))
        self._flush()

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self._close_timer is not None:
            self._close_timer.cancel()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if self.session is not None:
            self.app.closed(self)

    def pause_writing(self) -> None:
        if self._drained is None or self._drained.done():
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # --- for the application ----------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self.ws.state is State.OPEN

    def write(self, frame: bytes) -> bool:
        """Queue a frame made by `text_frame`; returns whether the connection takes frames.

        Frames are written at the end of the event loop's turn, all of one connection's in one
        write: on loopback every write is a system call that also runs the receiving side's TCP
        work, and under load one Redis read brings many frames for the same connection."""
        if self.transport is None or self.ws.state is not State.OPEN:
            return False
        pending = self._pending
        if pending is None:
            self._pending = [frame]
            self.server.mark_dirty(self)
        else:
            pending.append(frame)
        return True

    def write_now(self, frame: bytes) -> bool:
        """Write at once (after anything queued), for a writer that watches `writing_paused`."""
        if not self.write(frame):
            return False
        self.write_pending()
        return True

    @property
    def writing_paused(self) -> bool:
        return self._drained is not None and not self._drained.done()

    def write_pending(self) -> None:
        pending, self._pending = self._pending, None
        transport = self.transport
        if not pending or transport is None or transport.is_closing():
            return
        transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
        if transport.get_write_buffer_size() > self.server.max_buffered_bytes:
            # A client that does not read: it will reconnect and catch up from its last seqs.
            transport.write(text_frame(self.server.too_slow_payload))
            self.close(self.server.too_slow_code, "too slow")

    def send(self, payload: bytes) -> bool:
        return self.write(text_frame(payload))

    async def drain(self) -> None:
        """Wait until the transport's buffer is below its high-water mark."""
        if self._drained is not None and not self._drained.done():
            await self._drained

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        if self.ws.state is State.OPEN:
            self.ws.send_close(code, reason)
            self._flush()
            # The client should answer with its close frame and let go; if it does not, we do.
            if self.transport is not None and self._close_timer is None:
                self._close_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self.transport.abort)
        elif self.transport is not None and self.ws.state is State.CONNECTING:
            self.transport.close()

    # --- internals --------------------------------------------------------------------------

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        if self._pending:
            self.write_pending()  # queued frames go before whatever the protocol adds (a close)
        for data in self.ws.data_to_send():
            if data:
                transport.write(data)
            else:
                # End of stream: the server closes the TCP connection itself (RFC 6455 7.1.1).
                transport.close()
                return
        if self.ws.state is State.CLOSED:
            transport.close()

    def _handshake(self, request: Request) -> None:
        path = request.path.split("?", 1)[0]
        ws = self.ws
        token: str | None = None
        if path in WS_PATHS and request.headers.get("Upgrade", "").lower() == "websocket":
            response = ws.accept(request)
            token = handshake_token(request.headers)
        else:
            answer = self.app.http(path) if path not in WS_PATHS else None
            if answer is None:
                response = ws.reject(404, "Not found.\n")
            else:
                response = ws.reject(answer.status, "")
                response = _with_body(response, answer)
        ws.send_response(response)
        if response.status_code == 101:
            self.app.opened(self, request.headers, token)

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        data = frame.data if isinstance(frame.data, bytes) else bytes(frame.data)
        if opcode is Opcode.TEXT:
            if frame.fin:
                self._message(data, len(data))
            else:
                self._fragments, self._fragments_size = [data], len(data)
                self._check_fragments()
        elif opcode is Opcode.CONT:
            if self._fragments is not None:
                self._fragments.append(data)
                self._fragments_size += len(data)
                self._check_fragments()
            if frame.fin:
                parts, self._fragments = self._fragments, None
                if parts is not None:
                    self._message(b"".join(parts), self._fragments_size)
                self._skipping = False
        elif opcode is Opcode.BINARY:
            if frame.fin and self.session is not None:
                self.app.binary(self)
            elif not frame.fin:
                self._skipping = True  # continuation frames of a binary message are dropped
        # PING is answered by ServerProtocol itself; PONG and CLOSE need nothing from us.

    def _check_fragments(self) -> None:
        if self._fragments_size > self.server.max_message_bytes:
            self._fragments = None
            self._skipping = True
            if self.session is not None:
                self.app.oversized(self, self._fragments_size)

    def _message(self, data: bytes, size: int) -> None:
        if self.session is None or self._skipping:
            return
        if size > self.server.max_message_bytes:
            self.app.oversized(self, size)
            return
        self.app.received(self, data)


def _with_body(response: Response, answer: HttpResponse) -> Response:
    headers = Headers(
        [
            (key, value)
            for key, value in response.headers.raw_items()
            if key.lower() not in ("content-length", "content-type")
        ]
    )
    headers["Content-Type"] = answer.content_type
    headers["Content-Length"] = str(len(answer.body))
    return Response(answer.status, response.reason_phrase, headers, answer.body)


class WsServer:
    def __init__(
        self,
        app: Application,
        *,
        max_message_bytes: int,
        hard_max_bytes: int,
        max_buffered_bytes: int,
        too_big_payload: bytes,
        too_slow_payload: bytes,
        too_slow_code: int,
    ) -> None:
        """`too_big_payload`: the frame sent before closing on a message above the hard limit;
        `too_slow_*`: the frame and close code for a client that does not read what it is sent."""
        self.app = app
        self.too_big_payload = too_big_payload
        self.too_slow_payload = too_slow_payload
        self.too_slow_code = too_slow_code
        self.max_message_bytes = max_message_bytes
        self.hard_max_bytes = max(hard_max_bytes, max_message_bytes)
        self.max_buffered_bytes = max_buffered_bytes
        self.connections: set[WsConnection] = set()
        self._server: asyncio.Server | None = None
        self._dirty: list[WsConnection] = []

    def mark_dirty(self, conn: WsConnection) -> None:
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._write_dirty)
        self._dirty.append(conn)

    def _write_dirty(self) -> None:
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.write_pending()

    async def listen(self, host: str, port: int, *, backlog: int = 4096) -> int:
        """Start accepting; returns the port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        factory: Callable[[], WsConnection] = lambda: WsConnection(self)  # noqa: E731
        self._server = await loop.create_server(factory, host, port, backlog=backlog, reuse_address=True)
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def close(self, code: int = CloseCode.GOING_AWAY, reason: str = "server shutting down") -> None:
        """Stop accepting, ask every client to go (they reconnect elsewhere), wait a little."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.close(code, reason)
        deadline = time.monotonic() + 2.0
        while self.connections and time.monotonic() < deadline:  # noqa: ASYNC110  (bounded wait)
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()


__all__ = ["Close", "CloseCode", "HttpResponse", "WsConnection", "WsServer", "text_frame"]
