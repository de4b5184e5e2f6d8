"""Running a client's coroutine from the dev stack's synchronous code (health checks, setup)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run coro to completion on a fresh event loop in a worker thread.

    A thread of its own, because the caller may already be inside an event loop (a pytest-asyncio
    session, say): asyncio.run would refuse there, and on the main thread it would also clear the
    current loop that the caller relies on.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="devstack-async") as pool:
        return pool.submit(asyncio.run, coro).result()
