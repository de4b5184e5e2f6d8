"""The claims of an access token: what auth issues and every verifier reads (`Principal`)."""

from __future__ import annotations

import time
import uuid
from typing import Any


def access_claims(
    *,
    issuer: str,
    audience: str,
    user_id: uuid.UUID,
    username: str,
    session_id: uuid.UUID,
    ttl_seconds: int,
    now: int | None = None,
) -> dict[str, Any]:
    issued = int(time.time()) if now is None else now
    return {
        "iss": issuer,
        "aud": audience,
        "sub": str(user_id),
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "sid": str(session_id),
        "preferred_username": username,
    }
