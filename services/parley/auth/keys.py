"""Signing keys: loading, choosing the one that signs, publishing the JWKS, rotating.

Directory layout (a Kubernetes Secret mounted as a volume):
    <kid>.pem     an RSA private key (signs when active; its public part is published), or an RSA
                  public key (published only: a retired key whose tokens may still be live)
    active-kid    optional: the kid that signs; without it the greatest kid among private keys signs
The directory is re-read every `auth_keys_reload_seconds`, so a rotation needs no restart.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose.backends.cryptography_backend import CryptographyRSAKey as RSAKey

from parley.common.auth import ALGORITHM
from parley.common.worker import Worker

log = logging.getLogger(__name__)

MIN_KEY_BITS = 2048
ACTIVE_KID_FILE = "active-kid"
_KID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class KeyError_(Exception):
    """The configured keys cannot be used (the message says which and why)."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    public: RSAKey
    private: RSAKey | None  # None: a retired key, published but never signing
    n: str
    e: str

    def jwk(self) -> dict[str, Any]:
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": ALGORITHM,
            "kid": self.kid,
            "n": self.n,
            "e": self.e,
        }


def generate_pem(bits: int = MIN_KEY_BITS) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(private_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def new_kid() -> str:
    """Kids made from the UTC time sort in creation order, so 'the greatest' is 'the newest'."""
    return time.strftime("k%Y%m%dT%H%M%SZ", time.gmtime())


def _b64_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def thumbprint(key: SigningKey) -> str:
    """RFC 7638 JWK thumbprint: a stable kid for a key that comes without a name."""
    canonical = json.dumps({"e": key.e, "kty": "RSA", "n": key.n}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")[:16]


def load_pem(kid: str, pem: bytes, origin: str) -> SigningKey:
    if not _KID.match(kid):
        raise KeyError_(f"{origin}: kid {kid!r} must be 1-64 of A-Z a-z 0-9 . _ -")
    try:
        if b"PRIVATE KEY" in pem:
            private = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(private, rsa.RSAPrivateKey):
                raise KeyError_(f"{origin}: not an RSA key")
            public_key = private.public_key()
            signer: RSAKey | None = RSAKey(private, ALGORITHM)
        else:
            loaded = serialization.load_pem_public_key(pem)
            if not isinstance(loaded, rsa.RSAPublicKey):
                raise KeyError_(f"{origin}: not an RSA key")
            public_key, signer = loaded, None
    except ValueError as exc:
        raise KeyError_(f"{origin}: not a PEM key: {exc}") from exc
    if public_key.key_size < MIN_KEY_BITS:
        raise KeyError_(f"{origin}: {public_key.key_size}-bit key; at least {MIN_KEY_BITS} bits")
    numbers = public_key.public_numbers()
    return SigningKey(kid, RSAKey(public_key, ALGORITHM), signer, _b64_uint(numbers.n), _b64_uint(numbers.e))


def read_directory(directory: Path) -> tuple[dict[str, SigningKey], str | None]:
    keys: dict[str, SigningKey] = {}
    for path in sorted(directory.glob("*.pem")):
        keys[path.stem] = load_pem(path.stem, path.read_bytes(), str(path))
    active_file = directory / ACTIVE_KID_FILE
    active = active_file.read_text().strip() if active_file.is_file() else None
    return keys, active or None


class KeyStore:
    """The keys this process signs with and publishes; swapped whole on reload, never mutated."""

    def __init__(
        self,
        keys: dict[str, SigningKey],
        *,
        active_kid: str | None = None,
        retain_seconds: float = 0.0,
        directory: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.configured_active = active_kid
        self.retain_seconds = retain_seconds
        self._clock = clock
        # Keys that left the directory while this process published them: kept in the JWKS for
        # as long as tokens they signed can live, whatever the operator does with the files.
        self._retired: dict[str, tuple[SigningKey, float]] = {}
        self._install(keys, active_kid)

    @classmethod
    def from_directory(
        cls, directory: Path, *, active_kid: str | None = None, retain_seconds: float = 0.0
    ) -> KeyStore:
        keys, file_active = read_directory(directory)
        return cls(
            keys, active_kid=active_kid or file_active, retain_seconds=retain_seconds, directory=directory
        )

    @classmethod
    def from_pem(cls, pem: bytes, *, retain_seconds: float = 0.0) -> KeyStore:
        probe = load_pem("probe", pem, "signing key")
        kid = thumbprint(probe)
        return cls({kid: replace(probe, kid=kid)}, retain_seconds=retain_seconds)

    @classmethod
    def ephemeral(cls) -> KeyStore:
        log.warning("no signing key configured: using an ephemeral key (tokens die with this process)")
        return cls.from_pem(generate_pem())

    @staticmethod
    def _choose_active(keys: dict[str, SigningKey], active_kid: str | None) -> SigningKey:
        signers = sorted(kid for kid, key in keys.items() if key.private is not None)
        if not signers:
            raise KeyError_("no private key to sign with")
        chosen = active_kid or signers[-1]
        if chosen not in signers:
            raise KeyError_(f"the active kid {chosen!r} has no private key")
        return keys[chosen]

    def _install(self, keys: dict[str, SigningKey], active_kid: str | None) -> None:
        self._active = self._choose_active(keys, active_kid)
        self._keys = keys
        self._jwks = self._build_jwks()

    def _build_jwks(self) -> dict[str, Any]:
        now = self._clock()
        self._retired = {kid: (key, until) for kid, (key, until) in self._retired.items() if until > now}
        published = {**{kid: key for kid, (key, _) in self._retired.items()}, **self._keys}
        return {"keys": [published[kid].jwk() for kid in sorted(published)]}

    @property
    def active(self) -> SigningKey:
        return self._active

    def signer(self) -> tuple[str, RSAKey]:
        assert self._active.private is not None
        return self._active.kid, self._active.private

    def jwks(self) -> dict[str, Any]:
        if self._retired and min(until for _, until in self._retired.values()) <= self._clock():
            self._jwks = self._build_jwks()
        return self._jwks

    def replace(self, keys: dict[str, SigningKey], active_kid: str | None) -> bool:
        """Take a new key set; returns whether anything changed. A bad set is refused whole and
        the current one stays (a half-written Secret must not stop the service from signing)."""
        active = self._choose_active(keys, self.configured_active or active_kid)
        unchanged = {kid: key.jwk() for kid, key in keys.items()} == {
            kid: key.jwk() for kid, key in self._keys.items()
        }
        if unchanged and active.kid == self._active.kid:
            return False
        until = self._clock() + self.retain_seconds
        self._retired.update({kid: (key, until) for kid, key in self._keys.items() if kid not in keys})
        for kid in keys:
            self._retired.pop(kid, None)
        self._install(keys, active.kid)
        log.info("signing keys now %s, active %s", sorted(keys), active.kid)
        return True

    async def reload(self) -> bool:
        """Re-read the directory (if keys come from one); errors keep the current keys."""
        if self.directory is None:
            return False
        try:
            keys, file_active = await asyncio.to_thread(read_directory, self.directory)
            return self.replace(keys, file_active)
        except (OSError, KeyError_) as exc:
            log.error("keeping the current signing keys: %s", exc)
            return False


class KeyWatcher(Worker):
    """Re-reads the keys every `interval` seconds (the one worker lifecycle, common.worker)."""

    name = "signing-keys"

    def __init__(self, keys: KeyStore, interval: float) -> None:
        super().__init__()
        self.keys = keys
        self.interval = interval

    async def run(self) -> None:
        while not self.stopping:
            await self.pause(self.interval)
            if not self.stopping:
                await self.keys.reload()
