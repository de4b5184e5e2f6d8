"""The socket's Redis subscriber over TLS (`rediss://`) with a password, against a real
redis-server started here with TLS only (the dev stack's Redis is plain TCP)."""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from parley.devstack.components.redis import SERVER
from parley.socket.pubsub import RedisUnavailable, Subscriber
from parley.testing.waiting import eventually, free_port

PASSWORD = "s3cret pass"


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for 127.0.0.1 signed by it: (ca, cert, key) files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "parley test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    ca, cert, key = _certificates(tmp_path)
    port = free_port()
    # (TLS only: `--port 0` turns the plain TCP listener off.)
    args = [str(SERVER), "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert)]
    args += ["--tls-key-file", str(key), "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no"]
    args += ["--requirepass", PASSWORD, "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    args += ["--bind", "127.0.0.1"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        yield port, ca
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def publisher(tls_redis: tuple[int, Path]) -> AsyncIterator[aioredis.Redis]:
    port, ca = tls_redis
    client = aioredis.from_url(
        f"rediss://:{PASSWORD.replace(' ', '%20')}@127.0.0.1:{port}/0?ssl_ca_certs={ca}"
    )

    async def up() -> bool:
        try:
            return bool(await client.ping())
        except (OSError, aioredis.ConnectionError):
            return False

    await eventually(up, within=15, what="the TLS redis-server")
    yield client
    await client.aclose()


async def test_subscribes_over_tls_with_a_password(
    tls_redis: tuple[int, Path], publisher: aioredis.Redis
) -> None:
    port, ca = tls_redis
    got: list[tuple[bytes, bytes]] = []
    url = f"rediss://:{PASSWORD.replace(' ', '%20')}@127.0.0.1:{port}?ssl_ca_certs={ca}"
    subscriber = Subscriber(url, lambda channel, data: got.append((channel, data)))
    await subscriber.start()
    try:
        await subscriber.subscribe(["room"])
        assert await publisher.publish("room", b"over tls") == 1
        await eventually(lambda: got, within=5, what="the message")
        assert got == [(b"room", b"over tls")]
    finally:
        await subscriber.stop()


async def test_a_wrong_password_or_an_untrusted_certificate_is_refused(
    tls_redis: tuple[int, Path], publisher: aioredis.Redis
) -> None:
    port, ca = tls_redis
    for url in (
        f"rediss://:wrong@127.0.0.1:{port}?ssl_ca_certs={ca}",
        f"rediss://:{PASSWORD.replace(' ', '%20')}@127.0.0.1:{port}",  # the test CA is not trusted
    ):
        subscriber = Subscriber(url, lambda channel, data: None)
        with pytest.raises(RedisUnavailable):
            await subscriber.start()
        await subscriber.stop()
