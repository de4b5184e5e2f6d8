"""Smoke test: the dev stack's clamd runs on the EICAR-only database made at install time and
answers INSTREAM through the storage service's client: FOUND for EICAR (inside other bytes too, the
`.ndb` signature), OK for anything else, and a stream over its limit is told apart."""

from __future__ import annotations

from collections.abc import AsyncIterator

from parley.devstack.components.clamav import EICAR
from parley.storage.clamd import Clamd, parse_reply


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_clamd_finds_eicar_and_passes_the_rest(clamav_server: dict[str, str]) -> None:
    clamd = Clamd(clamav_server["address"], timeout=30)
    await clamd.ping()
    assert (await clamd.scan(_chunks(b"just a text file\n" * 1000))).clean
    found = await clamd.scan(_chunks(EICAR))
    assert not found.clean and found.signature and "EICAR" in found.signature
    embedded = await clamd.scan(_chunks(b"x" * 70_000, EICAR[:30], EICAR[30:], b"y" * 10))
    assert not embedded.clean


def test_clamd_replies_are_read_as_clamd_writes_them() -> None:
    assert parse_reply("stream: OK").clean
    assert parse_reply("stream: Win.Test.EICAR_HDB-1 FOUND").signature == "Win.Test.EICAR_HDB-1"
    assert parse_reply("INSTREAM size limit exceeded. ERROR").too_large
