"""Access tokens (RS256 JWTs) and refresh tokens (opaque random strings, stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from jose import jwt

from parley.auth.keys import KeyStore
from parley.common.auth import ALGORITHM, access_claims


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int


class AccessTokenIssuer:
    def __init__(self, keys: KeyStore, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl_seconds

    def issue(self, user_id: uuid.UUID, username: str, session_id: uuid.UUID) -> AccessToken:
        claims = access_claims(
            issuer=self.issuer,
            audience=self.audience,
            user_id=user_id,
            username=username,
            session_id=session_id,
            ttl_seconds=self.ttl,
        )
        kid, key = self.keys.signer()
        token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"})
        return AccessToken(token, self.ttl)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """SHA-256 suffices: the token is 256 random bits, there is nothing to guess slowly."""
    return hashlib.sha256(token.encode()).hexdigest()
