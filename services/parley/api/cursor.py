"""Opaque page cursors: the sort key of the last item of a page, base64url-encoded.

Clients pass them back unchanged; anything else is a 400, never a server error.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime, timedelta

from parley.api.errors import InvalidCursor

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor() from exc


def activity_cursor(at: datetime, chat_id: uuid.UUID) -> str:
    """Position in a chat list: (last activity, chat id), both descending."""
    micros = (at - _EPOCH) // _MICROSECOND
    return _encode(f"a{micros}.{chat_id.hex}")


def parse_activity_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    text = _decode(cursor)
    micros, _, chat = text[1:].partition(".")
    try:
        if not text.startswith("a"):
            raise ValueError(text)
        return _EPOCH + int(micros) * _MICROSECOND, uuid.UUID(hex=chat)
    except (ValueError, OverflowError) as exc:
        raise InvalidCursor() from exc


def user_cursor(user_id: uuid.UUID) -> str:
    return _encode(f"u{user_id.hex}")


def parse_user_cursor(cursor: str) -> uuid.UUID:
    text = _decode(cursor)
    try:
        if not text.startswith("u"):
            raise ValueError(text)
        return uuid.UUID(hex=text[1:])
    except ValueError as exc:
        raise InvalidCursor() from exc
