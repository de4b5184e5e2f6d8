"""S3: versitygw (Apache-2.0) built from its Go module, serving a directory through its posix backend."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from miniopy_async.credentials.credentials import Credentials
from miniopy_async.signer import presign_v4

from parley.devstack import golang, podnet, ports, versions
from parley.devstack.component import Command, Component

ACCESS_KEY = "parley-dev"
SECRET_KEY = "parley-dev-secret"  # noqa: S105 - loopback-only dev credential
REGION = "us-east-1"
PACKAGE = "github.com/versity/versitygw/cmd/versitygw"


class S3(Component):
    name = "s3"
    # Started before the pod bridge existed (or by code without it): restarted to listen there too.
    restart_on_new_command = True
    start_timeout = 30.0

    @property
    def binary(self) -> Path:
        return self.paths.builds / "bin" / f"versitygw-{versions.VERSITYGW}" / "versitygw"

    @property
    def root(self) -> Path:
        """Buckets are directories here, objects are files (with their metadata in xattrs)."""
        return self.paths.data("s3") / "buckets"

    @property
    def url(self) -> str:
        return f"http://{ports.HOST}:{ports.S3}"

    def ports(self) -> dict[str, int]:
        return {"s3": ports.S3}

    def install(self) -> None:
        golang.go_install(self.paths, PACKAGE, versions.VERSITYGW, "versitygw", self.setup_log)

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def command(self) -> Command:
        listen = [arg for host in podnet.listen_hosts(ports.HOST) for arg in ("--port", f"{host}:{ports.S3}")]
        return Command(
            [
                str(self.binary),
                *listen,
                "--region",
                REGION,
                "posix",
                str(self.root),
            ],
            env={"ROOT_ACCESS_KEY": ACCESS_KEY, "ROOT_SECRET_KEY": SECRET_KEY},
        )

    def healthy(self) -> bool:
        """A signed ListBuckets: proves the server answers S3 and accepts our credentials."""
        signed = presign_v4(
            "GET",
            urlsplit(self.url + "/"),
            REGION,
            Credentials(ACCESS_KEY, SECRET_KEY),
            datetime.now(UTC),
            60,
        )
        response = httpx.get(signed.geturl(), timeout=2)
        return response.status_code == 200 and b"ListAllMyBucketsResult" in response.content

    def endpoints(self) -> dict[str, str]:
        return {
            "endpoint": self.url,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "region": REGION,
            **podnet.pods_endpoint("endpoint", f"http://{{}}:{ports.S3}"),
        }
