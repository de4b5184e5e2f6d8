"""The real node: a kubelet and a kube-proxy of the same Kubernetes release as the control plane,
running pods in containerd, next to kwok's fake nodes.

Pods land here only when they ask to: the node carries the taint NODE_TAINT, and the namespaces that
want real pods (the e2e tests') carry the PodNodeSelector and PodTolerationRestriction annotations
of `real_node_namespace_annotations()`, so every pod in them gets the node selector and the
toleration without charts or operator knowing. Everything else stays on the kwok nodes.

What this machine needs from the kubelet (a VM with hybrid cgroup v1, no systemd, no
CAP_SYS_RESOURCE): cgroupfs, no per-QoS cgroups, no node-allocatable enforcement, cgroup v1
allowed, swap allowed, no local storage isolation. It serves its API on the pod bridge's address,
the node's InternalIP, where the apiserver reaches it for logs, exec and port-forward.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import ClassVar

import httpx
import kubernetes
import yaml

from parley.devstack import podnet, ports, process
from parley.devstack.component import Command, Component
from parley.devstack.components.kube import cluster
from parley.devstack.components.kube.build import build_kubernetes, kube_path
from parley.devstack.components.kube.containerd import Containerd
from parley.devstack.errors import DevStackError
from parley.devstack.system import ensure_debian_packages

NODE_NAME = "parley-dev-node"
NODE_LABEL = ("parley.dev/node", "real")
NODE_TAINT = ("parley.dev/real-node", "true", "NoSchedule")
NODE_READY_TIMEOUT = 120.0
POD_CIDR = podnet.POD_SUBNET
SOCAT = Path("/usr/bin/socat")


def real_node_namespace_annotations() -> dict[str, str]:
    """Annotations that send every pod of a namespace to the real node (PodNodeSelector and
    PodTolerationRestriction, both enabled on the dev apiserver)."""
    key, value, effect = NODE_TAINT
    return {
        "scheduler.alpha.kubernetes.io/node-selector": "=".join(NODE_LABEL),
        "scheduler.alpha.kubernetes.io/defaultTolerations": json.dumps(
            [{"key": key, "operator": "Equal", "value": value, "effect": effect}]
        ),
    }


class Kubelet(Component):
    name = "kubelet"
    # The scheduler binds pods to the node, the controller-manager makes them from Deployments.
    requires: ClassVar[tuple[str, ...]] = (
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-apiserver-pods",
        "containerd",
        "coredns",
    )
    start_timeout = 120.0

    @property
    def root(self) -> Path:
        return self.paths.data("kubelet")

    @property
    def config_file(self) -> Path:
        return self.root / "config.yaml"

    @property
    def kubeconfig(self) -> Path:
        return cluster.component_kubeconfig(self.paths, "kubelet")

    def ports(self) -> dict[str, int]:
        return {"healthz": ports.KUBELET_HEALTHZ}

    def install(self) -> None:
        build_kubernetes(self.paths, self.setup_log)

    def prepare(self) -> None:
        keys = cluster.pki(self.paths).ensure()
        cluster.write_kubeconfig(self.kubeconfig, keys, "kubelet")
        gateway = podnet.bridge_address()
        if gateway is None:
            raise DevStackError(
                f"the kubelet needs the pod bridge {podnet.BRIDGE}, which only root can create"
            )
        (self.root / "root").mkdir(parents=True, exist_ok=True)
        (self.root / "pki").mkdir(parents=True, exist_ok=True)
        # Pods get the cluster DNS only; the host's resolv.conf may name a loopback resolver,
        # which inside a pod is the pod itself.
        resolv = self.root / "resolv.conf"
        resolv.write_text(f"nameserver {gateway}\n")
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": gateway,
            "port": ports.KUBELET,
            "readOnlyPort": 0,
            "healthzBindAddress": ports.HOST,
            "healthzPort": ports.KUBELET_HEALTHZ,
            "containerRuntimeEndpoint": Containerd(self.paths, self.ui).endpoint,
            "clusterDNS": [gateway],
            "clusterDomain": "cluster.local",
            "resolvConf": str(resolv),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(keys.ca_cert)},
            },
            "authorization": {"mode": "Webhook"},
            # This VM: hybrid cgroup v1 without systemd, no CAP_SYS_RESOURCE, maybe swap.
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupsPerQOS": False,
            "enforceNodeAllocatable": [],
            "localStorageCapacityIsolation": False,
            "failSwapOn": False,
            # Images are imported, never pulled: garbage collection must not remove them, and a
            # busy disk must not evict the platform's pods.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
            },
            "serializeImagePulls": False,
            "registerWithTaints": [{"key": NODE_TAINT[0], "value": NODE_TAINT[1], "effect": NODE_TAINT[2]}],
            "maxPods": 110,
            "podCIDR": POD_CIDR,
            "volumePluginDir": str(self.root / "volume-plugins"),
            # A self-signed serving certificate in --cert-dir; the apiserver does not verify it.
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
        }
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))

    def command(self) -> Command:
        return Command(
            [
                str(kube_path(self.paths, "kubelet")),
                f"--config={self.config_file}",
                f"--kubeconfig={self.kubeconfig}",
                f"--root-dir={self.root / 'root'}",
                f"--cert-dir={self.root / 'pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={podnet.GATEWAY}",
                f"--node-labels={'='.join(NODE_LABEL)}",
                "--v=1",
            ]
        )

    def healthy(self) -> bool:
        response = httpx.get(f"http://{ports.HOST}:{ports.KUBELET_HEALTHZ}/healthz", timeout=3)
        return response.status_code == 200 and response.text == "ok"

    def after_start(self) -> None:
        deadline = time.monotonic() + NODE_READY_TIMEOUT
        with cluster.api_client(cluster.admin_kubeconfig(self.paths)) as api:
            core = kubernetes.client.CoreV1Api(api)
            while not node_ready(core):
                if time.monotonic() > deadline:
                    raise DevStackError(
                        f"node {NODE_NAME} did not become Ready within {NODE_READY_TIMEOUT:.0f}s; "
                        f"see {self.log_file}"
                    )
                time.sleep(1)

    def endpoints(self) -> dict[str, str]:
        return {
            "node": NODE_NAME,
            "node_ip": podnet.GATEWAY,
            "api": f"https://{podnet.GATEWAY}:{ports.KUBELET}",
            "pod_subnet": POD_CIDR,
        }


def node_ready(core: kubernetes.client.CoreV1Api) -> bool:
    try:
        node = core.read_node(NODE_NAME)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    conditions = (node.status and node.status.conditions) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


class KubeProxy(Component):
    name = "kube-proxy"
    requires: ClassVar[tuple[str, ...]] = ("kube-apiserver",)

    @property
    def kubeconfig(self) -> Path:
        return cluster.component_kubeconfig(self.paths, "kube-proxy")

    def ports(self) -> dict[str, int]:
        return {"healthz": ports.KUBE_PROXY_HEALTHZ, "metrics": ports.KUBE_PROXY_METRICS}

    def install(self) -> None:
        build_kubernetes(self.paths, self.setup_log)

    def prepare(self) -> None:
        cluster.write_kubeconfig(self.kubeconfig, cluster.pki(self.paths).ensure(), "kube-proxy")

    def command(self) -> Command:
        return Command(
            [
                str(kube_path(self.paths, "kube-proxy")),
                f"--kubeconfig={self.kubeconfig}",
                f"--hostname-override={NODE_NAME}",
                "--proxy-mode=iptables",
                f"--cluster-cidr={POD_CIDR}",
                # Leave the conntrack table size as the kernel has it (setting it needs privileges
                # a VM may not give).
                "--conntrack-max-per-core=0",
                f"--bind-address={ports.HOST}",
                f"--healthz-bind-address={ports.HOST}:{ports.KUBE_PROXY_HEALTHZ}",
                f"--metrics-bind-address={ports.HOST}:{ports.KUBE_PROXY_METRICS}",
            ]
        )

    def healthy(self) -> bool:
        # /livez: the proxier runs (its /healthz turns 503 when the node is not Ready or has no
        # rules synced yet, which is the kubelet's business).
        response = httpx.get(f"http://{ports.HOST}:{ports.KUBE_PROXY_HEALTHZ}/livez", timeout=3)
        return response.status_code == 200

    def endpoints(self) -> dict[str, str]:
        return {"healthz": f"http://{ports.HOST}:{ports.KUBE_PROXY_HEALTHZ}/healthz"}


class ApiserverForPods(Component):
    """The apiserver where the real node's pods reach it: socat forwards the pod bridge's address,
    port KUBE_APISERVER, to the apiserver on loopback. The apiserver advertises that address, so
    the `kubernetes` Service (10.0.0.1:443, what in-cluster clients such as the operator use) has
    it as its endpoint. The serving certificate names 10.0.0.1, so clients verify it as usual."""

    name = "kube-apiserver-pods"
    requires: ClassVar[tuple[str, ...]] = ("kube-apiserver",)

    def ports(self) -> dict[str, int]:
        return {}

    def install(self) -> None:
        ensure_debian_packages({"socat": str(SOCAT)}, self.setup_log)

    def prepare(self) -> None:
        if podnet.bridge_address() is None:
            raise DevStackError(f"pods reach the apiserver on the bridge {podnet.BRIDGE}, which needs root")

    def command(self) -> Command:
        return Command(
            [
                str(SOCAT),
                f"TCP-LISTEN:{ports.KUBE_APISERVER},bind={podnet.GATEWAY},fork,reuseaddr",
                f"TCP:{ports.HOST}:{ports.KUBE_APISERVER}",
            ]
        )

    def healthy(self) -> bool:
        return process.port_open(ports.KUBE_APISERVER, host=podnet.GATEWAY)

    def endpoints(self) -> dict[str, str]:
        return {"url": f"https://{podnet.GATEWAY}:{ports.KUBE_APISERVER}"}
