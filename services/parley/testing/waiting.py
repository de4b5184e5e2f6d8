"""Waiting in tests, one way: poll a condition until it holds (`eventually`, `wait_for`), check that
something keeps holding for a bounded time, with the reason that time suffices (`holds`,
`holds_sync`), and a free loopback port (`free_port`)."""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

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


async def _read(probe: Callable[[], Any]) -> Any:
    value = probe()
    return await value if inspect.isawaitable(value) else value


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool] = ...,
    *,
    within: float = ...,
    every: float = ...,
    what: str = ...,
) -> tuple[T, float]: ...


@overload
async def eventually(
    probe: Callable[[], T],
    accept: Callable[[T], bool] = ...,
    *,
    within: float = ...,
    every: float = ...,
    what: str = ...,
) -> tuple[T, float]: ...


async def eventually(
    probe: Callable[[], Any],
    accept: Callable[[Any], bool] = _truthy,
    *,
    within: float = 20.0,
    every: float = 0.05,
    what: str = "",
) -> tuple[Any, float]:
    """Polls `probe` (a coroutine function, or a plain one reading state that other tasks change)
    until `accept` holds for its value; returns the value and the seconds it took. Fails the test
    with the last value seen after `within` seconds."""
    start = time.monotonic()
    while True:
        value = await _read(probe)
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


@overload
async def holds(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    seconds: float,
    reason: str,
    every: float = ...,
) -> T: ...


@overload
async def holds(
    probe: Callable[[], T],
    accept: Callable[[T], bool],
    *,
    seconds: float,
    reason: str,
    every: float = ...,
) -> T: ...


async def holds(
    probe: Callable[[], Any],
    accept: Callable[[Any], bool],
    *,
    seconds: float,
    reason: str,
    every: float = 0.05,
) -> Any:
    """That something does *not* happen cannot be waited for; this checks `accept` over and over for
    `seconds` and fails at the first value it refuses. `reason` says why that long suffices (what
    would have happened by then); it goes in the failure message. `probe` as for `eventually`."""
    deadline = time.monotonic() + seconds
    while True:
        value = await _read(probe)
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
