"""What the controller-manager and the scheduler have in common: a kube binary that reaches the
apiserver with a client certificate of its own (its component name as the user), no leader
election, and /healthz over HTTPS on loopback."""

from __future__ import annotations

from typing import ClassVar

from parley.devstack import ports
from parley.devstack.component import Command, Component
from parley.devstack.components.kube import cluster
from parley.devstack.components.kube.build import build_kubernetes, kube_path


class ControlPlaneComponent(Component):
    requires: ClassVar[tuple[str, ...]] = ("kube-apiserver",)
    port: ClassVar[int]

    def ports(self) -> dict[str, int]:
        return {"https": self.port}

    def install(self) -> None:
        build_kubernetes(self.paths, self.setup_log)

    def prepare(self) -> None:
        cluster.write_kubeconfig(
            cluster.component_kubeconfig(self.paths, self.name), cluster.pki(self.paths).ensure(), self.name
        )

    def extra_args(self) -> list[str]:
        return []

    def command(self) -> Command:
        kubeconfig = cluster.component_kubeconfig(self.paths, self.name)
        return Command(
            [
                str(kube_path(self.paths, self.name)),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--bind-address={ports.HOST}",
                f"--secure-port={self.port}",
                "--leader-elect=false",
                *self.extra_args(),
            ]
        )

    def healthy(self) -> bool:
        return cluster.healthz(self.port)

    def endpoints(self) -> dict[str, str]:
        return {"healthz": f"https://{ports.HOST}:{self.port}/healthz"}
