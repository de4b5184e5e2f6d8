"""The shared token verifier, against a JWKS served over HTTP by a small real ASGI app."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from parley.common.auth import HttpJwksSource, InvalidToken, KeysUnavailable, TokenVerifier
from parley.testing import tokens

ISSUER = "http://issuer.test"
AUDIENCE = "parley"
SUB = "6f1c3c53-0d6e-4a8a-9d53-7c9c2d8a0b11"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Signer(tokens.Signer):
    """parley.testing's signer, signing good claims (with these changed) unless told otherwise."""

    def sign(self, claims: Mapping[str, Any] | None = None, **header: Any) -> str:
        body = {**good_claims(), **(claims or {})}
        return super().sign({k: v for k, v in body.items() if v is not None}, **header)


def good_claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": SUB,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "abc",
    }


@pytest.fixture(scope="module")
def signers() -> dict[str, Signer]:
    return {kid: Signer(kid) for kid in ("a", "b")}


class JwksServer:
    """A real ASGI app serving a JWKS that tests can change, counting requests."""

    def __init__(self, keys: list[dict[str, str]]) -> None:
        self.keys = keys
        self.requests = 0
        self.fail = False
        self.app = FastAPI()

        @self.app.get("/jwks")
        async def jwks() -> dict[str, Any]:
            self.requests += 1
            if self.fail:
                raise RuntimeError("JWKS endpoint down")
            return {"keys": self.keys}


@pytest.fixture
def server(signers: dict[str, Signer]) -> JwksServer:
    return JwksServer([signers["a"].jwk()])


@pytest.fixture
async def http(server: JwksServer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=server.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://jwks.test") as client:
        yield client


def make_verifier(http: httpx.AsyncClient, **options: Any) -> TokenVerifier:
    return TokenVerifier(
        HttpJwksSource("http://jwks.test/jwks", http), issuer=ISSUER, audience=AUDIENCE, **options
    )


async def test_valid_token(http: httpx.AsyncClient, signers: dict[str, Signer]) -> None:
    principal = await make_verifier(http).verify(
        signers["a"].sign({"preferred_username": "ada", "sid": "s1"})
    )
    assert str(principal.user_id) == SUB
    assert principal.username == "ada"
    assert principal.session_id == "s1"
    assert principal.token_id == "abc"


def alg_none(signer: Signer) -> str:
    header = b64(json.dumps({"alg": "none", "kid": signer.kid}).encode())
    return f"{header}.{b64(json.dumps(good_claims()).encode())}."


def hs256_public_key(signer: Signer) -> str:
    header = b64(json.dumps({"alg": "HS256", "kid": signer.kid}).encode())
    signing_input = f"{header}.{b64(json.dumps(good_claims()).encode())}"
    mac = hmac.new(signer.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def tampered_payload(signer: Signer) -> str:
    header, _, signature = signer.sign().split(".")
    claims = {**good_claims(), "sub": "00000000-0000-0000-0000-000000000000"}
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"


def tampered_signature(signer: Signer) -> str:
    header, payload, signature = signer.sign().split(".")
    flipped = "A" if signature[5] != "A" else "B"
    return f"{header}.{payload}.{signature[:5]}{flipped}{signature[6:]}"


def other_signer_same_kid(signer: Signer) -> str:
    return Signer(signer.kid).sign()


REJECTED = {
    "alg none": (alg_none, "invalid_token"),
    "HS256 keyed with the public key": (hs256_public_key, "invalid_token"),
    "RS384": (lambda s: s.sign(alg="RS384"), "invalid_token"),
    "unknown kid": (lambda s: s.sign(kid="zzz"), "unknown_key"),
    "expired": (lambda s: s.sign({"exp": int(time.time()) - 60}), "token_expired"),
    "not yet valid": (lambda s: s.sign({"nbf": int(time.time()) + 60}), "invalid_token"),
    "wrong issuer": (lambda s: s.sign({"iss": "http://other.test"}), "invalid_token"),
    "wrong audience": (lambda s: s.sign({"aud": "other"}), "invalid_token"),
    "missing jti": (lambda s: s.sign({"jti": None}), "invalid_token"),
    "missing exp": (lambda s: s.sign({"exp": None}), "invalid_token"),
    "tampered payload": (tampered_payload, "invalid_token"),
    "tampered signature": (tampered_signature, "invalid_token"),
    "signed by another key with the same kid": (other_signer_same_kid, "invalid_token"),
    "two segments": (lambda s: "abc.def", "invalid_token"),
}


@pytest.mark.parametrize(("forge", "code"), REJECTED.values(), ids=REJECTED.keys())
async def test_rejected(http: httpx.AsyncClient, signers: dict[str, Signer], forge: Any, code: str) -> None:
    verifier = make_verifier(http, leeway_seconds=30)
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(forge(signers["a"]))
    assert caught.value.code == code


async def test_leeway(http: httpx.AsyncClient, signers: dict[str, Signer]) -> None:
    verifier = make_verifier(http, leeway_seconds=30)
    now = int(time.time())
    await verifier.verify(signers["a"].sign({"exp": now - 20, "nbf": now + 20}))
    with pytest.raises(InvalidToken):
        await verifier.verify(signers["a"].sign({"exp": now - 40}))


async def test_keys_are_cached(
    http: httpx.AsyncClient, server: JwksServer, signers: dict[str, Signer]
) -> None:
    verifier = make_verifier(http)
    for _ in range(5):
        await verifier.verify(signers["a"].sign())
    assert server.requests == 1


async def test_unknown_kid_refetches_once(
    http: httpx.AsyncClient, server: JwksServer, signers: dict[str, Signer]
) -> None:
    now = [1000.0]
    verifier = make_verifier(http, refetch_interval=5, clock=lambda: now[0])
    await verifier.verify(signers["a"].sign())
    server.keys = [signers["a"].jwk(), signers["b"].jwk()]  # key rotation at the issuer
    now[0] += 6
    await verifier.verify(signers["b"].sign())
    assert server.requests == 2
    # Made-up kids do not turn into a JWKS request each: at most one per refetch interval.
    for index in range(5):
        with pytest.raises(InvalidToken):
            await verifier.verify(signers["a"].sign(kid=f"made-up-{index}"))
    assert server.requests == 2
    now[0] += 6
    for index in range(5):
        with pytest.raises(InvalidToken):
            await verifier.verify(signers["a"].sign(kid=f"made-up-again-{index}"))
    assert server.requests == 3


async def test_cache_expires(http: httpx.AsyncClient, server: JwksServer, signers: dict[str, Signer]) -> None:
    now = [0.0]
    verifier = make_verifier(http, cache_seconds=300, clock=lambda: now[0])
    await verifier.verify(signers["a"].sign())
    server.keys = [signers["b"].jwk()]  # a withdrawn
    now[0] += 301
    with pytest.raises(InvalidToken):
        await verifier.verify(signers["a"].sign())
    await verifier.verify(signers["b"].sign())


async def test_jwks_outage_keeps_cached_keys(
    http: httpx.AsyncClient, server: JwksServer, signers: dict[str, Signer]
) -> None:
    now = [0.0]
    verifier = make_verifier(http, cache_seconds=300, clock=lambda: now[0])
    await verifier.verify(signers["a"].sign())
    server.fail = True
    now[0] += 301
    principal = await verifier.verify(signers["a"].sign())  # stale but usable
    assert str(principal.user_id) == SUB
    assert server.requests >= 2  # it did try to refresh, and the endpoint failed


async def test_no_keys_at_all(
    http: httpx.AsyncClient, server: JwksServer, signers: dict[str, Signer]
) -> None:
    server.fail = True
    with pytest.raises(KeysUnavailable):
        await make_verifier(http).verify(signers["a"].sign())


async def test_auth_away_at_start_one_fetch_per_interval_then_keys_when_it_returns(
    http: httpx.AsyncClient, server: JwksServer, signers: dict[str, Signer]
) -> None:
    """Issue 18: a service that started while auth was away asks for the JWKS at most once per
    interval (not once per request), answers the rest with the retryable KeysUnavailable, and
    verifies as soon as auth answers again, without a restart."""
    server.fail = True
    now = [0.0]
    verifier = make_verifier(http, refetch_interval=1.0, clock=lambda: now[0])
    for _ in range(20):
        with pytest.raises(KeysUnavailable):
            await verifier.verify(signers["a"].sign())
    assert server.requests == 1
    server.fail = False
    with pytest.raises(KeysUnavailable):  # still within the interval
        await verifier.verify(signers["a"].sign())
    now[0] += 1.0
    principal = await verifier.verify(signers["a"].sign())
    assert str(principal.user_id) == SUB
    assert server.requests == 2


async def test_jwks_entries_that_are_not_rs256_signing_keys_are_ignored(
    http: httpx.AsyncClient, server: JwksServer, signers: dict[str, Signer]
) -> None:
    server.keys = [
        {**signers["a"].jwk(), "use": "enc"},
        {**signers["b"].jwk(), "alg": "RS512"},
        {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
    ]
    verifier = make_verifier(http)
    with pytest.raises(InvalidToken):
        await verifier.verify(signers["a"].sign())
    assert verifier.known_kids == frozenset()


@st.composite
def token_like(draw: st.DrawFn) -> str:
    """Strings shaped like JWTs: segments of base64 (of JSON, sometimes) or garbage."""
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=6,
    )
    header = (
        st.fixed_dictionaries(
            {
                "alg": st.sampled_from(["RS256", "none", "HS256", "RS512", ""]),
                "kid": st.sampled_from(["a", "b", ""]),
            }
        )
        | json_values
    )
    segment = st.one_of(
        header.map(lambda value: b64(json.dumps(value).encode())),
        st.binary(max_size=40).map(b64),
        st.text(max_size=20),
    )
    parts = draw(st.lists(segment, min_size=1, max_size=4))
    return ".".join(parts)


class StaticJwks:
    def __init__(self, keys: list[dict[str, str]]) -> None:
        self.keys = keys

    async def fetch(self) -> Mapping[str, Any]:
        return {"keys": self.keys}


@given(token=token_like())
@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_garbage_is_only_ever_an_invalid_token(signers: dict[str, Signer], token: str) -> None:
    verifier = TokenVerifier(StaticJwks([signers["a"].jwk()]), issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(InvalidToken):
        asyncio.run(verifier.verify(token))
