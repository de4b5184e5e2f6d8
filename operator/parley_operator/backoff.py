"""Retry delays for failures outside the operator (Kafka, S3, OpenSearch unreachable)."""

from __future__ import annotations

BASE_SECONDS = 5.0
CAP_SECONDS = 300.0


def retry_delay(attempt: int, base: float = BASE_SECONDS, cap: float = CAP_SECONDS) -> float:
    """Exponential: base, 2*base, 4*base ... never more than cap; attempt counts from 0."""
    if attempt < 0:
        raise ValueError("attempt counts from 0")
    return min(cap, base * float(2 ** min(attempt, 32)))
