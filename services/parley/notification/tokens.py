"""Signed one-click unsubscribe tokens: `<user id>.<channel>.<HMAC-SHA256>` (URL-safe base64).

No expiry on purpose: a link in an old mail must still unsubscribe (RFC 8058 clients post it long
after delivery). A token only ever turns a channel off, so a leaked one can do no more than that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

CHANNELS = ("email", "sms")


def _mac(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, f"unsubscribe:{payload}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(secret: bytes, user_id: uuid.UUID, channel: str) -> str:
    payload = f"{user_id}.{channel}"
    return f"{payload}.{_mac(secret, payload)}"


def read_token(secret: bytes, token: str) -> tuple[uuid.UUID, str] | None:
    """(user id, channel) of a valid token, None for anything else."""
    parts = token.split(".")
    if len(parts) != 3 or parts[1] not in CHANNELS:
        return None
    try:
        user_id = uuid.UUID(parts[0])
    except ValueError:
        return None
    if not hmac.compare_digest(_mac(secret, f"{parts[0]}.{parts[1]}"), parts[2]):
        return None
    return user_id, parts[1]
