"""Real RS256 access tokens for tests and benchmarks of services that verify them: a signing key
of their own, its JWKS for the service's verifier, and tokens shaped like the auth service's."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

from parley.common.auth.claims import access_claims

ISSUER = "http://auth.test"
AUDIENCE = "parley"


def _b64_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Signer:
    def __init__(self, kid: str = "test-key", *, issuer: str = ISSUER, audience: str = AUDIENCE) -> None:
        self.kid = kid
        self.issuer = issuer
        self.audience = audience
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.pem = pem.decode()
        self.public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # Loaded once: jose would parse (and slowly check) the PEM again for every token.
        self._key = jwk.construct(pem, algorithm="RS256")
        numbers = key.public_key().public_numbers()
        self._jwk = {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": _b64_uint(numbers.n),
            "e": _b64_uint(numbers.e),
        }

    def jwk(self) -> dict[str, str]:
        return dict(self._jwk)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def sign(self, claims: Mapping[str, Any], **header: Any) -> str:
        """Exactly these claims; `alg` and other header fields as given (forged tokens)."""
        alg = header.pop("alg", "RS256")
        key = self._key if alg == "RS256" else self.pem
        return jwt.encode(dict(claims), key, algorithm=alg, headers={"kid": self.kid, **header})

    def token(
        self,
        user_id: uuid.UUID,
        username: str = "user",
        *,
        ttl: int = 900,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        claims = access_claims(
            issuer=self.issuer,
            audience=self.audience,
            user_id=user_id,
            username=username,
            session_id=uuid.uuid4(),
            ttl_seconds=ttl,
        ) | dict(extra or {})
        return self.sign(claims, typ="JWT")


class StaticJwks:
    """A JwksSource serving one signer's key set."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    async def fetch(self) -> Mapping[str, Any]:
        return self.signer.jwks()
