"""Backoff, key generation, the pass coalescer."""

from __future__ import annotations

import asyncio

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from parley.testing.waiting import eventually
from parley_operator.backoff import CAP_SECONDS, retry_delay
from parley_operator.coalesce import Coalescer
from parley_operator.keys import KEY_BITS, generate_signing_key


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n) for n in range(4)] == [5.0, 10.0, 20.0, 40.0]
    assert retry_delay(50) == CAP_SECONDS
    with pytest.raises(ValueError, match="from 0"):
        retry_delay(-1)


def test_generated_signing_key_is_a_fresh_rsa_pkcs8_key() -> None:
    pem = generate_signing_key()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == KEY_BITS
    assert generate_signing_key() != pem


async def test_a_burst_of_triggers_becomes_one_pass() -> None:
    coalescer = Coalescer(settle_seconds=0.05)
    passes: list[int] = []

    async def work() -> None:
        passes.append(1)

    accepted = [coalescer.trigger("acme", work) for _ in range(20)]
    await coalescer.drain()
    assert accepted.count(True) == 1 and len(passes) == 1


async def test_passes_of_one_key_never_overlap_and_a_trigger_during_a_pass_runs_after_it() -> None:
    coalescer = Coalescer(settle_seconds=0.0)
    running: dict[str, int] = {"acme": 0, "other": 0}
    overlaps, done = 0, []
    release = asyncio.Event()

    async def work(tag: str) -> str:
        nonlocal overlaps
        key = "other" if tag == "other" else "acme"
        running[key] += 1
        overlaps += running[key] > 1
        if tag == "first":
            await release.wait()
        running[key] -= 1
        done.append(tag)
        return tag

    first = asyncio.create_task(coalescer.run("acme", lambda: work("first")))
    await eventually(lambda: asyncio.sleep(0, running["acme"]), lambda n: n == 1, within=5, what="first runs")
    assert coalescer.trigger("acme", lambda: work("queued"))
    assert coalescer.trigger("other", lambda: work("other"))
    await eventually(lambda: asyncio.sleep(0, done), lambda d: "other" in d, within=5, what="other done")
    assert done == ["other"]  # another platform is not held up; "queued" waits for "first"
    release.set()
    assert await first == "first"
    await coalescer.drain()
    assert done == ["other", "first", "queued"] and overlaps == 0


async def test_a_failing_queued_pass_does_not_break_later_ones() -> None:
    coalescer = Coalescer(settle_seconds=0.0)
    outcomes: list[str] = []

    async def boom() -> None:
        raise RuntimeError("apiserver gone")

    async def fine() -> None:
        outcomes.append("ok")

    coalescer.trigger("acme", boom)
    await coalescer.drain()
    coalescer.trigger("acme", fine)
    await coalescer.drain()
    assert outcomes == ["ok"]
