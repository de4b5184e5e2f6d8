"""`eventually` and `holds` poll a coroutine function or a plain one alike."""

from __future__ import annotations

import asyncio

import pytest
from parley.testing.waiting import TimedOut, eventually, holds


async def test_a_plain_probe_sees_what_another_task_changes() -> None:
    state = {"n": 0}

    async def count() -> None:
        for _ in range(3):
            await asyncio.sleep(0.02)
            state["n"] += 1

    task = asyncio.create_task(count())
    value, _ = await eventually(lambda: state["n"], lambda n: n == 3, within=5, every=0.01)
    await task
    assert value == 3


async def test_an_async_probe_is_awaited() -> None:
    calls: list[int] = []

    async def probe() -> int:
        calls.append(1)
        return len(calls)

    value, _ = await eventually(probe, lambda n: n >= 2, within=5, every=0.01)
    assert value == 2


async def test_it_fails_with_the_last_value_seen() -> None:
    with pytest.raises(TimedOut, match="last value: 7"):
        await eventually(lambda: 7, lambda n: n > 7, within=0.1, every=0.01, what="more than 7")


async def test_holds_takes_a_plain_probe_and_fails_at_the_first_refused_value() -> None:
    state = {"n": 0}
    assert await holds(lambda: state["n"], lambda n: n == 0, seconds=0.1, reason="nothing changes it") == 0

    async def change() -> None:
        await asyncio.sleep(0.05)
        state["n"] = 1

    task = asyncio.create_task(change())
    with pytest.raises(AssertionError, match="stopped holding"):
        await holds(lambda: state["n"], lambda n: n == 0, seconds=5, reason="the task changes it", every=0.01)
    await task
