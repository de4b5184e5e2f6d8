"""A small clamd client: INSTREAM over TCP, fed chunk by chunk from S3 (written by hand).

The async clamd clients on PyPI take the whole file as one in-memory buffer; attachments go up to
the per-file limit (100 MB by default), so the object is streamed through instead: a chunk at a
time, each framed as clamd's INSTREAM protocol wants (4-byte big-endian length, the bytes; a zero
length ends the stream), then one reply line.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass


class ScannerError(Exception):
    """clamd could not scan (unreachable, refused the stream): try again later."""


@dataclass(frozen=True)
class Verdict:
    clean: bool
    signature: str | None = None  # what was found
    too_large: bool = False  # longer than clamd's StreamMaxLength: not scanned


def _address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class Clamd:
    def __init__(self, address: str, *, timeout: float = 60.0) -> None:
        self.host, self.port = _address(address)
        self.timeout = timeout

    async def _command(self, command: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout
            )
        except (OSError, TimeoutError) as exc:
            raise ScannerError(f"clamd at {self.host}:{self.port} unreachable: {exc}") from exc
        writer.write(b"z" + command + b"\0")  # z: NUL-terminated command and reply
        return reader, writer

    async def ping(self) -> None:
        reader, writer = await self._command(b"PING")
        try:
            reply = await asyncio.wait_for(reader.readuntil(b"\0"), self.timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise ScannerError(f"clamd did not answer PING: {exc}") from exc
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        if reply.rstrip(b"\0") != b"PONG":
            raise ScannerError(f"clamd answered PING with {reply!r}")

    async def scan(self, chunks: AsyncIterator[bytes]) -> Verdict:
        reader, writer = await self._command(b"INSTREAM")
        try:
            try:
                async for chunk in chunks:
                    if not chunk:
                        continue
                    writer.write(struct.pack(">I", len(chunk)) + chunk)
                    await asyncio.wait_for(writer.drain(), self.timeout)
                writer.write(struct.pack(">I", 0))
                await asyncio.wait_for(writer.drain(), self.timeout)
            except (ConnectionError, TimeoutError):
                # clamd closes the connection as soon as the stream is over its limit: its reply
                # may still be waiting to be read.
                pass
            try:
                raw = await asyncio.wait_for(reader.readuntil(b"\0"), self.timeout)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                raise ScannerError(f"clamd gave no verdict: {exc}") from exc
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        return parse_reply(raw.rstrip(b"\0").decode(errors="replace"))


def parse_reply(reply: str) -> Verdict:
    """`stream: OK`, `stream: <signature> FOUND`, `INSTREAM size limit exceeded. ERROR`."""
    text = reply.strip()
    if text.endswith("FOUND"):
        body = text.removeprefix("stream:").strip()
        return Verdict(clean=False, signature=body.removesuffix("FOUND").strip())
    if text.endswith(": OK") or text == "OK":
        return Verdict(clean=True)
    if "size limit exceeded" in text:
        return Verdict(clean=False, too_large=True)
    raise ScannerError(f"clamd answered {text!r}")
