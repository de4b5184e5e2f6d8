"""Field types for request bodies, shared by every service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field


def _storable(value: str) -> str:
    # JSON can carry both, but PostgreSQL text cannot hold NUL and UTF-8 cannot encode a lone
    # surrogate: refused here as a 422 rather than failing later as a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode (no lone surrogates)") from exc
    return value


# The schema says "no NUL" too, so clients (and schemathesis) know it; the validator gives the
# clearer message.
Text = Annotated[str, AfterValidator(_storable), Field(json_schema_extra={"pattern": "^[^\\x00]*$"})]
"""A string that can be stored and encoded: no NUL, no lone surrogates."""


# What PostgreSQL's timestamptz and Python's datetime can both hold, with room for any UTC offset:
# a year-1 time with a positive offset is before year 1 in UTC (Python cannot convert it) and a
# year-9999 one with a negative offset after it. Refused here as a 422 rather than a 500.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}") from exc
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return utc


Timestamp = Annotated[AwareDatetime, AfterValidator(_in_range)]
"""A time with a UTC offset, from 1970-01-01 up to (not including) 9999-01-01 UTC; given back in UTC."""
