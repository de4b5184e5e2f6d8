"""etcd 3.6, the apiserver's store: one member on loopback, built from its Go module."""

from __future__ import annotations

import httpx

from parley.devstack import ports
from parley.devstack.component import Command, Component
from parley.devstack.components.kube.build import build_etcd, etcd_path

CLIENT_URL = f"http://{ports.HOST}:{ports.ETCD}"
PEER_URL = f"http://{ports.HOST}:{ports.ETCD_PEER}"


class Etcd(Component):
    name = "etcd"

    def ports(self) -> dict[str, int]:
        return {"client": ports.ETCD, "peer": ports.ETCD_PEER}

    def install(self) -> None:
        build_etcd(self.paths, self.setup_log)

    def prepare(self) -> None:
        self.paths.data("etcd").mkdir(parents=True, exist_ok=True)
        self.paths.data("etcd").chmod(0o700)  # etcd refuses a data dir others can read

    def command(self) -> Command:
        return Command(
            [
                str(etcd_path(self.paths)),
                "--name=parley-dev",
                f"--data-dir={self.paths.data('etcd')}",
                f"--listen-client-urls={CLIENT_URL}",
                f"--advertise-client-urls={CLIENT_URL}",
                f"--listen-peer-urls={PEER_URL}",
                f"--initial-advertise-peer-urls={PEER_URL}",
                f"--initial-cluster=parley-dev={PEER_URL}",
                # A dev store: speed over durability, as envtest runs it.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ]
        )

    def healthy(self) -> bool:
        # /health reads through raft: it fails while the member has no leader or its store is stuck.
        response = httpx.get(f"{CLIENT_URL}/health", timeout=3)
        return response.status_code == 200 and response.json().get("health") == "true"

    def endpoints(self) -> dict[str, str]:
        return {"url": CLIENT_URL}
