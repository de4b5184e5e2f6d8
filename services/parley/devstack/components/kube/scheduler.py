"""kube-scheduler: binds pending pods to the (fake) nodes."""

from __future__ import annotations

from typing import ClassVar

from parley.devstack import ports
from parley.devstack.component import Command, Component
from parley.devstack.components.kube import cluster
from parley.devstack.components.kube.build import build_kubernetes, kube_path

CLIENT = "kube-scheduler"


class KubeScheduler(Component):
    name = "kube-scheduler"
    requires: ClassVar[tuple[str, ...]] = ("kube-apiserver",)

    def ports(self) -> dict[str, int]:
        return {"https": ports.KUBE_SCHEDULER}

    def install(self) -> None:
        build_kubernetes(self.paths, self.setup_log)

    def prepare(self) -> None:
        cluster.write_kubeconfig(
            cluster.component_kubeconfig(self.paths, CLIENT), cluster.pki(self.paths).ensure(), CLIENT
        )

    def command(self) -> Command:
        kubeconfig = cluster.component_kubeconfig(self.paths, CLIENT)
        return Command(
            [
                str(kube_path(self.paths, "kube-scheduler")),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--bind-address={ports.HOST}",
                f"--secure-port={ports.KUBE_SCHEDULER}",
                "--leader-elect=false",
            ]
        )

    def healthy(self) -> bool:
        return cluster.healthz(ports.KUBE_SCHEDULER)

    def endpoints(self) -> dict[str, str]:
        return {"healthz": f"https://{ports.HOST}:{ports.KUBE_SCHEDULER}/healthz"}
