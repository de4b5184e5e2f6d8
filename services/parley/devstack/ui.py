"""Progress output: what the stack is doing right now, for a person watching a long cold start."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._start = time.monotonic()

    def step(self, component: str, message: str) -> None:
        elapsed = time.monotonic() - self._start
        print(f"[{elapsed:6.1f}s] {component:<18} {message}", file=self._stream, flush=True)
