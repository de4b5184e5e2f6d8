"""kube-apiserver of versions.KUBERNETES on loopback, storing in the dev stack's etcd."""

from __future__ import annotations

from typing import Any, ClassVar

import kubernetes

from parley.devstack import podnet, ports
from parley.devstack.component import Command, Component
from parley.devstack.components.kube import cluster, gatewayapi, modulecrds
from parley.devstack.components.kube.build import build_kubernetes, helm_path, install_helm, kube_path
from parley.devstack.components.kube.etcd import CLIENT_URL as ETCD_URL
from parley.devstack.components.kube.pki import SERVICE_CLUSTER_IP_RANGE

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# The flag's /24 (whose first address the serving certificate names) holds 254 Services; one test
# run of the operator's benchmark alone makes 450. More room comes from a second range through the
# ServiceCIDR API, which leaves the first one as it is on clusters that already exist.
EXTRA_SERVICE_CIDR = ("parley-dev-services", "10.1.0.0/16")


class KubeApiserver(Component):
    name = "kube-apiserver"
    requires: ClassVar[tuple[str, ...]] = ("etcd",)
    # The first start of a fresh etcd runs the bootstrap post-start hooks (RBAC roles, priority
    # levels…) before /readyz says yes.
    start_timeout = 180.0
    restart_on_new_command = True

    def ports(self) -> dict[str, int]:
        return {"https": ports.KUBE_APISERVER}

    def install(self) -> None:
        build_kubernetes(self.paths, self.setup_log)
        # helm is a client, not a server: installed with the apiserver so `up kube` brings it along.
        install_helm(self.paths, self.setup_log)

    def prepare(self) -> None:
        cluster.pki(self.paths).ensure()

    def command(self) -> Command:
        keys = cluster.pki(self.paths)
        return Command(
            [
                str(kube_path(self.paths, "kube-apiserver")),
                f"--etcd-servers={ETCD_URL}",
                f"--bind-address={ports.HOST}",
                *advertise(),
                f"--secure-port={ports.KUBE_APISERVER}",
                f"--cert-dir={keys.dir}",
                f"--tls-cert-file={keys.serving_cert}",
                f"--tls-private-key-file={keys.serving_key}",
                f"--client-ca-file={keys.ca_cert}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={keys.service_account_pub}",
                f"--service-account-signing-key-file={keys.service_account_key}",
                "--allow-privileged=true",
                # The real node's kubelet: reached at its InternalIP (the pod bridge's address; the
                # node's name resolves nowhere) with a client certificate it trusts.
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-client-certificate={keys.client_cert('apiserver-kubelet-client')}",
                f"--kubelet-client-key={keys.client_key('apiserver-kubelet-client')}",
                # Namespaces choose the real node through annotations (see components/kube/node.py).
                "--enable-admission-plugins=PodNodeSelector,PodTolerationRestriction",
            ]
        )

    def healthy(self) -> bool:
        # /readyz as the admin: etcd reachable, informers synced, bootstrap hooks done, and our
        # client certificate accepted.
        with cluster.admin_http(self.paths) as client:
            response = client.get("/readyz")
        return response.status_code == 200 and response.text == "ok"

    def after_start(self) -> None:
        kubeconfig = cluster.write_kubeconfig(
            cluster.admin_kubeconfig(self.paths), cluster.pki(self.paths), "admin"
        )
        definitions = gatewayapi.crds(self.paths, self.setup_log)
        optional = [
            d for source in modulecrds.ALL for d in modulecrds.crds(self.paths, source, self.setup_log)
        ]
        with cluster.api_client(kubeconfig) as api:
            ensure_extra_service_cidr(api)
            # So that the HTTPRoutes the operator renders for a user's Gateway are validated here, and
            # its ServiceMonitors, PodMonitors, PrometheusRule and Envoy Gateway policies.
            gatewayapi.install(api, definitions)
            modulecrds.install(api, optional)

    def endpoints(self) -> dict[str, str]:
        return {
            "url": cluster.API_URL,
            "kubeconfig": str(cluster.admin_kubeconfig(self.paths)),
            "kubectl": str(kube_path(self.paths, "kubectl")),
            "helm": str(helm_path(self.paths)),
        }


def advertise() -> list[str]:
    """With the real node's pod bridge, the apiserver advertises its address there (where
    kube-apiserver-pods forwards to it), so the `kubernetes` Service leads pods to it. Without the
    bridge its endpoints would be 127.0.0.1, which Endpoints validation rejects; nothing in a
    cluster of fake nodes dials it then."""
    gateway = podnet.bridge_address()
    if gateway is None:
        return [f"--advertise-address={ports.HOST}", "--endpoint-reconciler-type=none"]
    return [f"--advertise-address={gateway}"]


def ensure_extra_service_cidr(api: Any) -> None:
    name, cidr = EXTRA_SERVICE_CIDR
    networking: Any = kubernetes.client.NetworkingV1Api(api)
    try:
        networking.create_service_cidr({"metadata": {"name": name}, "spec": {"cidrs": [cidr]}})
    except kubernetes.client.ApiException as exc:
        if exc.status != 409:  # there from an earlier start
            raise
