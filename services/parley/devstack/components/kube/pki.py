"""The control plane's certificates and keys, made once with `cryptography` and kept in the state dir.

One CA signs the apiserver's serving certificate and every client certificate; the admin's
certificate is in the group system:masters, the controller-manager's and the scheduler's carry the
identities the apiserver's bootstrap RBAC policy grants their permissions to.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from parley.devstack import ports

# The first address of the service range, where in-cluster clients expect `kubernetes.default`.
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"
_VALIDITY = dt.timedelta(days=3650)

# Client identities: file stem -> (user name, groups).
CLIENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("parley-admin", ("system:masters",)),
    "kube-controller-manager": ("system:kube-controller-manager", ()),
    "kube-scheduler": ("system:kube-scheduler", ()),
    # The real node: the Node authorizer and the bootstrap RBAC policy know these identities.
    "kubelet": ("system:node:parley-dev-node", ("system:nodes",)),
    "kube-proxy": ("system:kube-proxy", ()),
    # The apiserver's client certificate towards the kubelet (logs, exec, port-forward).
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", ("system:masters",)),
}


@dataclass(frozen=True)
class Pki:
    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.dir / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.dir / "apiserver.key"

    @property
    def service_account_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.dir / "sa.pub"

    def client_cert(self, client: str) -> Path:
        return self.dir / f"{client}.crt"

    def client_key(self, client: str) -> Path:
        return self.dir / f"{client}.key"

    def ensure(self) -> Pki:
        """Create whatever is missing; existing files are kept so restarts keep their trust."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        if not (self.ca_cert.exists() and self.ca_key.exists()):
            self._make_ca()
            # Certificates of an earlier CA would no longer verify: issue them all again.
            for stale in [self.serving_cert, *(self.client_cert(c) for c in CLIENTS)]:
                stale.unlink(missing_ok=True)
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        if not self.serving_cert.exists():
            self._issue(ca_cert, ca_key, self.serving_cert, self.serving_key, "kube-apiserver", (), True)
        for client, (user, groups) in CLIENTS.items():
            if not self.client_cert(client).exists():
                self._issue(
                    ca_cert, ca_key, self.client_cert(client), self.client_key(client), user, groups, False
                )
        if not self.service_account_key.exists():
            self._make_service_account_key()
        return self

    def _make_ca(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "parley-dev-kubernetes-ca")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_key(self.ca_key, key)
        self.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def _issue(
        self,
        ca_cert: x509.Certificate,
        ca_key: ec.EllipticCurvePrivateKey,
        cert_path: Path,
        key_path: Path,
        common_name: str,
        groups: tuple[str, ...],
        server: bool,
    ) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
            + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        )
        now = dt.datetime.now(dt.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server:
            names = [
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ]
            ips = [ports.HOST, KUBERNETES_SERVICE_IP]
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
                ),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        _write_key(key_path, key)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def _make_service_account_key(self) -> None:
        # RSA: every consumer of service account tokens (and older client libraries) accepts RS256.
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.service_account_pub.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        _write_key(self.service_account_key, key)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
