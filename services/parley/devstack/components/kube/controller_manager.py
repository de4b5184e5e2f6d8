"""kube-controller-manager: the controllers that turn Deployments into ReplicaSets into Pods,
create service accounts and their tokens, and watch node health."""

from __future__ import annotations

from typing import ClassVar

from parley.devstack import ports
from parley.devstack.component import Command, Component
from parley.devstack.components.kube import cluster
from parley.devstack.components.kube.build import build_kubernetes, kube_path

CLIENT = "kube-controller-manager"


class KubeControllerManager(Component):
    name = "kube-controller-manager"
    requires: ClassVar[tuple[str, ...]] = ("kube-apiserver",)

    def ports(self) -> dict[str, int]:
        return {"https": ports.KUBE_CONTROLLER_MANAGER}

    def install(self) -> None:
        build_kubernetes(self.paths, self.setup_log)

    def prepare(self) -> None:
        cluster.write_kubeconfig(
            cluster.component_kubeconfig(self.paths, CLIENT), cluster.pki(self.paths).ensure(), CLIENT
        )

    def command(self) -> Command:
        keys = cluster.pki(self.paths)
        kubeconfig = cluster.component_kubeconfig(self.paths, CLIENT)
        return Command(
            [
                str(kube_path(self.paths, "kube-controller-manager")),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--bind-address={ports.HOST}",
                f"--secure-port={ports.KUBE_CONTROLLER_MANAGER}",
                "--leader-elect=false",
                # Each controller acts as its own service account, as in a real cluster, so RBAC
                # mistakes in what they do show up here too.
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={keys.service_account_key}",
                f"--root-ca-file={keys.ca_cert}",
                f"--cluster-signing-cert-file={keys.ca_cert}",
                f"--cluster-signing-key-file={keys.ca_key}",
                "--controllers=*",
            ]
        )

    def healthy(self) -> bool:
        return cluster.healthz(ports.KUBE_CONTROLLER_MANAGER)

    def endpoints(self) -> dict[str, str]:
        return {"healthz": f"https://{ports.HOST}:{ports.KUBE_CONTROLLER_MANAGER}/healthz"}
