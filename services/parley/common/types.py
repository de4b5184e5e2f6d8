"""Field types for request bodies, shared by every service."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field


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
