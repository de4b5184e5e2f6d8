"""Waiting in tests, one way: poll a condition until it holds (`eventually`, `wait_for`), check that
something keeps holding for a bounded time, with the reason that time suffices (`holds`,
`holds_sync`), and a free loopback port (`free_port`)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class TimedOut(AssertionError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (the caller binds it soon after)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _truthy(value: Any) -> bool:
    return bool(value)


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool] = _truthy,
    *,
    within: float = 20.0,
    every: float = 0.05,
    what: str = "",
) -> tuple[T, float]:
    """Polls `probe` until `accept` holds for its value; returns the value and the seconds it took.
    Fails the test with the last value seen after `within` seconds."""
    start = time.monotonic()
    while True:
        value = await probe()
        if accept(value):
            return value, time.monotonic() - start
        if time.monotonic() - start > within:
            raise TimedOut(f"not within {within} s{': ' + what if what else ''}; last value: {value!r}")
        await asyncio.sleep(every)


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.25) -> T:
    """The same for plain functions: polls `check` until it returns something truthy, returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimedOut(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


async def holds(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    seconds: float,
    reason: str,
    every: float = 0.05,
) -> T:
    """That something does *not* happen cannot be waited for; this checks `accept` over and over for
    `seconds` and fails at the first value it refuses. `reason` says why that long suffices (what
    would have happened by then); it goes in the failure message."""
    deadline = time.monotonic() + seconds
    while True:
        value = await probe()
        if not accept(value):
            raise AssertionError(
                f"stopped holding after {seconds - (deadline - time.monotonic()):.2f} s ({reason}): {value!r}"
            )
        if time.monotonic() >= deadline:
            return value
        await asyncio.sleep(every)


def holds_sync(check: Callable[[], bool], *, seconds: float, reason: str, interval: float = 0.25) -> None:
    """`holds` for plain functions."""
    deadline = time.monotonic() + seconds
    while True:
        if not check():
            raise AssertionError(f"stopped holding ({reason})")
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)
