"""Access tokens the service must refuse, each presented to GET /auth/me."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from jose import jwt
from parley.auth.keys import public_pem

from tests.auth.conftest import ISSUER, bearer, signed_up


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def segment(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def sign(claims: dict[str, Any], pem: bytes, **header: Any) -> str:
    return jwt.encode(
        claims, pem.decode(), algorithm=header.pop("alg", "RS256"), headers={"kid": "k1", **header}
    )


def good_claims(sub: str) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": "parley", "sub": sub, "iat": now, "nbf": now, "exp": now + 600, "jti": "j1"}


def alg_none(claims: dict[str, Any], pem: bytes) -> str:
    return f"{segment({'alg': 'none', 'kid': 'k1', 'typ': 'JWT'})}.{segment(claims)}."


def hs256_with_public_key(claims: dict[str, Any], pem: bytes) -> str:
    # The classic confusion attack: HMAC keyed with the (public) PEM the verifier holds.
    signing_input = f"{segment({'alg': 'HS256', 'kid': 'k1', 'typ': 'JWT'})}.{segment(claims)}"
    mac = hmac.new(public_pem(pem), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def tampered_payload(claims: dict[str, Any], pem: bytes) -> str:
    header, _, signature = sign(claims, pem).split(".")
    return f"{header}.{segment({**claims, 'sub': '00000000-0000-0000-0000-000000000001'})}.{signature}"


def tampered_signature(claims: dict[str, Any], pem: bytes) -> str:
    header, payload, signature = sign(claims, pem).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 0x01
    return f"{header}.{payload}.{b64(bytes(raw))}"


def other(**changes: Any) -> Callable[[dict[str, Any], bytes], str]:
    def make(claims: dict[str, Any], pem: bytes) -> str:
        merged = {**claims, **changes}
        return sign({k: v for k, v in merged.items() if v is not None}, pem)

    return make


CASES: dict[str, Callable[[dict[str, Any], bytes], str]] = {
    "alg none": alg_none,
    "HS256 signed with the public key": hs256_with_public_key,
    "RS512 with the right key": lambda c, pem: sign(c, pem, alg="RS512"),
    "unknown kid": lambda c, pem: sign(c, pem, kid="k-unknown"),
    "no kid": lambda c, pem: jwt.encode(c, pem.decode(), algorithm="RS256"),
    "expired": lambda c, pem: other(exp=int(time.time()) - 120)(c, pem),
    "not yet valid": lambda c, pem: other(nbf=int(time.time()) + 120)(c, pem),
    "wrong issuer": other(iss="http://evil.test"),
    "wrong audience": other(aud="someone-else"),
    "no expiry": other(exp=None),
    "no subject": other(sub=None),
    "subject not a user id": other(sub="root"),
    "tampered payload": tampered_payload,
    "tampered signature": tampered_signature,
    "garbage": lambda c, pem: "not.a.jwt",
    "crit header": lambda c, pem: sign(c, pem, crit=["exp"]),
}


async def test_rejected(client: httpx.AsyncClient, keys_dir: Path) -> None:
    # One app for every case: a fresh database per case would be most of the suite's time.
    pair = await signed_up(client)
    sub = jwt.get_unverified_claims(pair["access_token"])["sub"]
    pem = (keys_dir / "k1.pem").read_bytes()
    # The same claims, signed properly, are accepted: each case differs only in what it names.
    assert (await client.get("/auth/me", headers=bearer(sign(good_claims(sub), pem)))).status_code == 200

    accepted = []
    for name, forge in CASES.items():
        response = await client.get("/auth/me", headers=bearer(forge(good_claims(sub), pem)))
        if response.status_code != 401 or response.json()["error"]["code"] not in {
            "invalid_token",
            "token_expired",
            "unknown_key",
        }:
            accepted.append((name, response.status_code, response.text))
    assert accepted == []


async def test_small_clock_skew_is_tolerated(client: httpx.AsyncClient, keys_dir: Path) -> None:
    pair = await signed_up(client)
    sub = jwt.get_unverified_claims(pair["access_token"])["sub"]
    pem = (keys_dir / "k1.pem").read_bytes()
    now = int(time.time())
    skewed = {**good_claims(sub), "nbf": now + 10, "iat": now + 10, "exp": now - 10 + 600}
    assert (await client.get("/auth/me", headers=bearer(sign(skewed, pem)))).status_code == 200
    just_expired = {**good_claims(sub), "exp": now - 10}
    assert (await client.get("/auth/me", headers=bearer(sign(just_expired, pem)))).status_code == 200
