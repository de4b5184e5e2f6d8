"""CoreDNS, built from its Go module: the cluster DNS of the real node's pods (Services by name,
`<service>.<namespace>.svc.cluster.local`, as the design wants instead of a service registry).

It answers on the pod bridge's address, port 53, which the kubelet gives pods as their nameserver
(clusterDNS). It reads Services and EndpointSlices from the dev apiserver with the admin
kubeconfig. Names outside the cluster are not forwarded anywhere: pods here need none.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import httpx

from parley.devstack import podnet, ports, versions
from parley.devstack.component import Command, Component
from parley.devstack.components.kube import cluster
from parley.devstack.errors import DevStackError
from parley.devstack.golang import go_install

CLUSTER_DOMAIN = "cluster.local"


class CoreDns(Component):
    name = "coredns"
    requires: ClassVar[tuple[str, ...]] = ("kube-apiserver",)

    @property
    def corefile(self) -> Path:
        return self.paths.data("coredns") / "Corefile"

    @property
    def binary(self) -> Path:
        return self.paths.builds / "bin" / f"coredns-{versions.COREDNS}" / "coredns"

    @property
    def kubeconfig(self) -> Path:
        return cluster.component_kubeconfig(self.paths, "coredns")

    def ports(self) -> dict[str, int]:
        return {"health": ports.COREDNS_HEALTH, "ready": ports.COREDNS_READY}

    def install(self) -> None:
        go_install(self.paths, "github.com/coredns/coredns", versions.COREDNS, "coredns", self.setup_log)

    def prepare(self) -> None:
        if podnet.bridge_address() is None:
            raise DevStackError(
                f"CoreDNS answers pods on the bridge {podnet.BRIDGE}, which only root can create"
            )
        cluster.write_kubeconfig(self.kubeconfig, cluster.pki(self.paths).ensure(), "admin")
        self.corefile.parent.mkdir(parents=True, exist_ok=True)
        self.corefile.write_text(
            f""".:{ports.COREDNS} {{
    bind {podnet.GATEWAY}
    errors
    health {ports.HOST}:{ports.COREDNS_HEALTH}
    ready {ports.HOST}:{ports.COREDNS_READY}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {self.kubeconfig} {cluster.CLUSTER_NAME}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
"""
        )

    def command(self) -> Command:
        return Command([str(self.binary), "-conf", str(self.corefile)], cwd=self.corefile.parent)

    def healthy(self) -> bool:
        # /ready answers 200 once the kubernetes plugin has synced Services from the apiserver.
        response = httpx.get(f"http://{ports.HOST}:{ports.COREDNS_READY}/ready", timeout=3)
        return response.status_code == 200

    def endpoints(self) -> dict[str, str]:
        return {"dns": f"{podnet.GATEWAY}:{ports.COREDNS}", "domain": CLUSTER_DOMAIN}
