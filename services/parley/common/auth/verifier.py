"""The one access-token verifier of the platform.

Tokens are RS256 JWTs signed by the auth service. The verifier knows the auth service's public keys
from its JWKS (cached; fetched again after `cache_seconds`, and at once, though at most once every
`refetch_interval` seconds, when a token names a key it has not seen: that is how a key rotation
reaches every service). Nothing but RS256 is accepted, whatever the token's header says, which
shuts out `alg: none` and the HS256-signed-with-the-public-key trick.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from jose import ExpiredSignatureError, JWTError, jwk, jwt
from jose.backends.base import Key

from parley.common.backoff import RepeatedLog
from parley.common.settings import BaseServiceSettings

log = logging.getLogger(__name__)

ALGORITHM = "RS256"


class InvalidToken(Exception):
    """The token must be refused; `code` says why in a way a client can act on."""

    def __init__(self, message: str, code: str = "invalid_token") -> None:
        super().__init__(message)
        self.code = code


class KeysUnavailable(Exception):
    """No public keys known and the JWKS cannot be fetched: tokens cannot be checked."""


class JwksSource(Protocol):
    async def fetch(self) -> Mapping[str, Any]:
        """The current JSON Web Key Set (`{"keys": [...]}`)."""
        ...


class HttpJwksSource:
    def __init__(self, url: str, client: httpx.AsyncClient, timeout: float = 5.0) -> None:
        self.url = url
        self.client = client
        self.timeout = timeout

    async def fetch(self) -> Mapping[str, Any]:
        response = await self.client.get(self.url, timeout=self.timeout)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("the JWKS is not a JSON object")
        return body


@dataclass(frozen=True)
class Principal:
    """Who a verified access token speaks for."""

    user_id: uuid.UUID
    username: str | None
    session_id: str | None
    token_id: str
    expires_at: int
    claims: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        try:
            user_id = uuid.UUID(str(claims["sub"]))
        except (KeyError, ValueError) as exc:
            raise InvalidToken("The token's subject is not a user id.") from exc
        username = claims.get("preferred_username")
        sid = claims.get("sid")
        return cls(
            user_id=user_id,
            username=username if isinstance(username, str) else None,
            session_id=sid if isinstance(sid, str) else None,
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
            claims=dict(claims),
        )


def keys_from_jwks(jwks: Mapping[str, Any]) -> dict[str, Key]:
    """Usable RS256 signing keys by kid; anything else in the set is skipped."""
    keys: dict[str, Key] = {}
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise ValueError("the JWKS has no `keys` list")
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if (
            not isinstance(kid, str)
            or entry.get("kty") != "RSA"
            or entry.get("alg", ALGORITHM) != ALGORITHM
            or entry.get("use", "sig") != "sig"
        ):
            continue
        try:
            keys[kid] = jwk.construct(entry, algorithm=ALGORITHM)
        except Exception as exc:  # a bad entry must not hide the good ones
            log.warning("skipping JWKS key %s: %s", kid, exc)
    return keys


class TokenVerifier:
    def __init__(
        self,
        source: JwksSource,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: int = 30,
        cache_seconds: float = 300.0,
        refetch_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self.cache_seconds = cache_seconds
        self.refetch_interval = refetch_interval
        self._clock = clock
        self._keys: dict[str, Key] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._generation = 0
        self._lock = asyncio.Lock()
        self._failures = RepeatedLog(log, "JWKS refresh failed")
        self._options = {
            "leeway": leeway_seconds,
            "require_exp": True,
            "require_iat": True,
            "require_iss": True,
            "require_aud": True,
            "require_sub": True,
            "require_jti": True,
        }

    @property
    def known_kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    async def verify(self, token: str) -> Principal:
        header = self._header(token)
        key = await self._key(header["kid"])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options=self._options,
            )
        except ExpiredSignatureError as exc:
            raise InvalidToken("The access token has expired.", "token_expired") from exc
        except JWTError as exc:
            raise InvalidToken(f"The access token is not valid: {exc}.") from exc
        return Principal.from_claims(claims)

    async def refresh(self) -> None:
        """Fetch the key set now (also used at start-up to warm the cache)."""
        await self._refresh(self._generation)

    @staticmethod
    def _header(token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except JWTError as exc:
            raise InvalidToken("The access token is malformed.") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"Only {ALGORITHM} tokens are accepted.")
        if "crit" in header:
            raise InvalidToken("Critical header extensions are not supported.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("The access token names no signing key.")
        return header

    async def _key(self, kid: str) -> Key:
        if self._fetched_at is None:
            # No keys yet (auth was away at our start, or still is): one fetch per interval for
            # all requests, the others told at once that keys are unavailable (retryable).
            if not self._may_fetch():
                raise KeysUnavailable("the JWKS could not be fetched yet; retrying")
            await self._refresh(self._generation)
        elif self._clock() - self._fetched_at >= self.cache_seconds and self._may_fetch():
            await self._refresh(self._generation, tolerate_failure=True)
        key = self._keys.get(kid)
        if key is None and self._may_fetch():
            # Maybe a key rotation this process has not seen yet: one refetch, rate-limited so
            # a stream of made-up kids cannot turn into a stream of JWKS requests.
            await self._refresh(self._generation, tolerate_failure=True)
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("The access token is signed by an unknown key.", "unknown_key")
        return key

    def _may_fetch(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self.refetch_interval

    async def _refresh(self, seen_generation: int, *, tolerate_failure: bool = False) -> None:
        async with self._lock:
            if self._generation != seen_generation:
                return  # another request refreshed while this one waited
            self._attempted_at = self._clock()
            try:
                keys = keys_from_jwks(await self.source.fetch())
            except Exception as exc:
                self._failures.note(exc)
                if tolerate_failure and self._keys:
                    # Keep verifying with the keys we have; the next try waits for the interval.
                    return
                raise KeysUnavailable(f"cannot fetch the JWKS: {exc}") from exc
            self._failures.quiet()
            self._keys = keys
            self._fetched_at = self._clock()
            self._generation += 1


async def start_verifier(
    settings: BaseServiceSettings, http: httpx.AsyncClient, jwks: JwksSource | None = None
) -> TokenVerifier:
    """The verifier of a service that trusts the auth service's JWKS (or `jwks`, in tests), with
    the keys fetched now when the auth service is up. It may start after us: then the verifier
    fetches them at the first token."""
    verifier = TokenVerifier(
        jwks or HttpJwksSource(settings.auth_jwks_url, http),
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        leeway_seconds=settings.auth_leeway_seconds,
        cache_seconds=settings.auth_jwks_cache_seconds,
    )
    try:
        await verifier.refresh()
    except KeysUnavailable as exc:
        log.warning("no signing keys yet: %s", exc)
    return verifier
