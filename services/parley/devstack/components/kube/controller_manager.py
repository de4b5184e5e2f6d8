"""kube-controller-manager: the controllers that turn Deployments into ReplicaSets into Pods,
create service accounts and their tokens, and watch node health."""

from __future__ import annotations

from typing import ClassVar

from parley.devstack import ports
from parley.devstack.components.kube import cluster
from parley.devstack.components.kube.control_plane import ControlPlaneComponent


class KubeControllerManager(ControlPlaneComponent):
    name = "kube-controller-manager"
    port: ClassVar[int] = ports.KUBE_CONTROLLER_MANAGER

    def extra_args(self) -> list[str]:
        keys = cluster.pki(self.paths)
        return [
            # Each controller acts as its own service account, as in a real cluster, so RBAC
            # mistakes in what they do show up here too.
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={keys.service_account_key}",
            f"--root-ca-file={keys.ca_cert}",
            f"--cluster-signing-cert-file={keys.ca_cert}",
            f"--cluster-signing-key-file={keys.ca_key}",
            "--controllers=*",
        ]
