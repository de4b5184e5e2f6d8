"""kwok: fake nodes for the dev cluster. It keeps the nodes it manages Ready and plays the kubelet
for the pods the real scheduler binds to them (Running, Ready, a pod IP) without running anything."""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

import httpx
import kubernetes
import yaml

from parley.devstack import ports
from parley.devstack.component import Command, Component
from parley.devstack.components.kube import cluster
from parley.devstack.components.kube.build import install_kwok, kwok_path, kwok_stages
from parley.devstack.components.kube.stages import with_job_outcomes
from parley.devstack.errors import DevStackError

NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
NODES = ("kwok-node-0", "kwok-node-1")
NODE_LABEL = ("type", "kwok")
# Fake pod IPs, away from the real node's pod subnet (podnet.POD_SUBNET, 10.244.0.0/24): kube-proxy
# and CoreDNS see both kinds of pods.
POD_CIDR = "10.245.0.1/16"
NODES_READY_TIMEOUT = 60.0
# The kwok binary alone does not default these the way kwokctl does (0 workers fails to start).
CONFIG = yaml.safe_dump(
    {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        "options": {
            "nodeLeaseParallelism": 4,
            "nodePlayStageParallelism": 4,
            "podPlayStageParallelism": 4,
            "podsOnNodeSyncParallelism": 1,
        },
    }
)
# How long a node's Lease lasts; the heartbeat stage renews it (kwokctl's default).
NODE_LEASE_SECONDS = 40


# Fake nodes run nothing, so they may hold far more pods than a kubelet's default of 110: the
# operator's benchmark runs 50 installations of nine services each.
NODE_RESOURCES = {"cpu": "32", "memory": "256Gi", "pods": "1000"}


def fake_node(name: str) -> kubernetes.client.V1Node:
    key, value = NODE_ANNOTATION
    resources = dict(NODE_RESOURCES)
    return kubernetes.client.V1Node(
        api_version="v1",
        kind="Node",
        metadata=kubernetes.client.V1ObjectMeta(
            name=name,
            # kwok manages only the nodes with this annotation (see --manage-nodes-with-...).
            annotations={key: value, "node.alpha.kubernetes.io/ttl": "0"},
            labels={
                NODE_LABEL[0]: NODE_LABEL[1],
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "kubernetes.io/role": "agent",
            },
        ),
        # Nodes keep the status they are created with; the scheduler fits pods against it.
        status=kubernetes.client.V1NodeStatus(capacity=resources, allocatable=resources),
    )


class Kwok(Component):
    name = "kwok"
    requires: ClassVar[tuple[str, ...]] = ("kube-apiserver",)
    restart_on_new_command = True

    @property
    def config_file(self) -> Path:
        return self.paths.data("kwok") / "kwok.yaml"

    @property
    def kubeconfig(self) -> Path:
        return cluster.component_kubeconfig(self.paths, "kwok")

    def ports(self) -> dict[str, int]:
        return {"http": ports.KWOK}

    def install(self) -> None:
        install_kwok(self.paths, self.setup_log)

    def prepare(self) -> None:
        # kwok writes node and pod status for any namespace: it acts as the admin.
        cluster.write_kubeconfig(
            cluster.component_kubeconfig(self.paths, "kwok"), cluster.pki(self.paths).ensure(), "admin"
        )
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self._config())

    def _config(self) -> str:
        return CONFIG + "---\n" + with_job_outcomes(kwok_stages(self.paths, self.setup_log))

    def up(self) -> None:
        # kwok reads its stages once, at start: a running kwok with other stages is restarted.
        if self.pid() is not None and self._config_outdated():
            self.ui.step(self.name, "its stages changed: restarting it")
            self.down()
        super().up()

    def _config_outdated(self) -> bool:
        try:
            return self.config_file.read_text() != self._config()
        except OSError:
            return True

    def command(self) -> Command:
        key, value = NODE_ANNOTATION
        return Command(
            [
                str(kwok_path(self.paths)),
                f"--kubeconfig={self.kubeconfig}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={key}={value}",
                f"--server-address={ports.HOST}:{ports.KWOK}",
                f"--cidr={POD_CIDR}",
                f"--node-ip={ports.HOST}",
                f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
                # Not ~/.kwok/kwok.yaml: a developer's own kwok setup must not change our stages.
                f"--config={self.config_file}",
            ],
        )

    def healthy(self) -> bool:
        response = httpx.get(f"http://{ports.HOST}:{ports.KWOK}/healthz", timeout=3)
        if response.status_code != 200 or response.text != "ok":
            return False
        # The fake nodes that exist must be Ready: kwok keeps their leases and status alive (on a
        # first start they do not exist yet; after_start creates them).
        with cluster.api_client(self.kubeconfig) as api:
            nodes = kubernetes.client.CoreV1Api(api).list_node(label_selector="=".join(NODE_LABEL)).items
        return all(_ready(node) for node in nodes)

    def after_start(self) -> None:
        with cluster.api_client(self.kubeconfig) as api:
            core = kubernetes.client.CoreV1Api(api)
            for name in NODES:
                try:
                    core.create_node(fake_node(name))
                except kubernetes.client.ApiException as exc:
                    if exc.status != 409:  # already there from an earlier start
                        raise
                    # Nodes keep the status they were created with: bring an older one up to date.
                    sizes = dict(NODE_RESOURCES)
                    core.patch_node_status(name, {"status": {"capacity": sizes, "allocatable": sizes}})
            deadline = time.monotonic() + NODES_READY_TIMEOUT
            while not all(_ready(core.read_node(name)) for name in NODES):
                if time.monotonic() > deadline:
                    raise DevStackError(
                        f"kwok did not make the fake nodes {', '.join(NODES)} Ready within "
                        f"{NODES_READY_TIMEOUT:.0f}s; see {self.log_file}"
                    )
                time.sleep(0.5)

    def endpoints(self) -> dict[str, str]:
        return {"healthz": f"http://{ports.HOST}:{ports.KWOK}/healthz", "nodes": ",".join(NODES)}


def _ready(node: kubernetes.client.V1Node) -> bool:
    conditions = (node.status and node.status.conditions) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)
