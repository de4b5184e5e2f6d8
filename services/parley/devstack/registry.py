"""Which components exist, in start order, and the profiles that select them."""

from __future__ import annotations

import os

from parley.devstack.component import Component
from parley.devstack.components.clamav import ClamAV
from parley.devstack.components.envoy import Envoy
from parley.devstack.components.kafka import Kafka
from parley.devstack.components.kube.apiserver import KubeApiserver
from parley.devstack.components.kube.containerd import Containerd
from parley.devstack.components.kube.controller_manager import KubeControllerManager
from parley.devstack.components.kube.coredns import CoreDns
from parley.devstack.components.kube.etcd import Etcd
from parley.devstack.components.kube.kwok import Kwok
from parley.devstack.components.kube.node import ApiserverForPods, Kubelet, KubeProxy
from parley.devstack.components.kube.scheduler import KubeScheduler
from parley.devstack.components.opensearch import OpenSearch
from parley.devstack.components.postgres import Postgres
from parley.devstack.components.prometheus import Prometheus
from parley.devstack.components.redis import Redis
from parley.devstack.components.s3 import S3
from parley.devstack.components.service import service_component
from parley.devstack.components.smpp import Smpp
from parley.devstack.components.smtp import Smtp
from parley.devstack.components.web import WebClient
from parley.devstack.components.zipkin import Zipkin

# Start order: a component comes after everything it requires.
COMPONENTS: dict[str, type[Component]] = {
    cls.name: cls
    for cls in (
        Postgres,
        Redis,
        S3,
        Smtp,
        Smpp,
        Kafka,
        OpenSearch,
        ClamAV,
        # Observability, before the services: they export traces to Zipkin from their start.
        Prometheus,
        Zipkin,
        Etcd,
        KubeApiserver,
        KubeControllerManager,
        KubeScheduler,
        Kwok,
        # The real node, next to kwok's fake ones.
        ApiserverForPods,
        Containerd,
        CoreDns,
        Kubelet,
        KubeProxy,
        # Parley's own services, after the servers they use.
        service_component("auth", requires=("postgres", "redis"), migrates=True),
        service_component("api", requires=("postgres", "redis", "kafka"), migrates=True),
        service_component("presence", requires=("redis", "kafka")),
        # The consumer creates the topics here (no operator in the dev stack) and, as the only
        # replica, takes a static group membership: restarted, it resumes at once.
        service_component(
            "consumer",
            requires=("postgres", "redis", "kafka"),
            migrates=True,
            env={"PARLEY_CONSUMER_ENSURE_TOPICS": "true", "PARLEY_CONSUMER_INSTANCE_ID": "dev-0"},
        ),
        service_component("socket", requires=("postgres", "redis", "kafka", "svc-auth", "svc-consumer")),
        # Search makes its index (and, with no operator here, the events topic) at start.
        service_component(
            "search",
            requires=("postgres", "kafka", "opensearch"),
            env={"PARLEY_SEARCH_ENSURE_TOPICS": "true"},
        ),
        # Makes its bucket (and the bucket's CORS for the entry point's origin) itself here; the
        # operator does on Kubernetes.
        service_component(
            "storage",
            requires=("postgres", "kafka", "s3", "clamav"),
            migrates=True,
            env={"PARLEY_S3_CREATE_BUCKET": "true"},
        ),
        service_component("notification", requires=("postgres", "redis", "kafka", "smtp"), migrates=True),
        # The React client's static files (built on start when its sources changed).
        WebClient,
        # The entry point, last: it fetches auth's keys at start and routes to every service.
        Envoy,
    )
}

PROFILES: dict[str, tuple[str, ...]] = {
    "core": ("postgres", "redis"),
    "services": ("postgres", "redis", "kafka", "s3", "opensearch", "smtp", "smpp", "clamav"),
    "kube": ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"),
    "node": ("kube-apiserver-pods", "containerd", "coredns", "kubelet", "kube-proxy"),
    "platform": (
        "svc-auth",
        "svc-api",
        "svc-presence",
        "svc-consumer",
        "svc-socket",
        "svc-search",
        "svc-storage",
        "svc-notification",
        "svc-web",
    ),
    "edge": ("envoy",),
    "observability": ("prometheus", "zipkin"),
}
# The real node needs root (a bridge, iptables, mounts): without it `all` leaves it out, and
# `parley dev up node` says why.
PROFILES["all"] = tuple(
    dict.fromkeys(
        name
        for profile, names in PROFILES.items()
        if profile != "node" or os.geteuid() == 0
        for name in names
    )
)


def resolve(names: list[str], *, with_requirements: bool = True) -> list[str]:
    """Profiles and component names to a start-ordered list of components, with their
    requirements unless told otherwise (stopping kwok must not stop the etcd others use)."""
    wanted: set[str] = set()

    def add(name: str) -> None:
        if name in wanted:
            return
        wanted.add(name)
        if with_requirements:
            for dep in COMPONENTS[name].requires:
                add(dep)

    for item in names:
        if item in PROFILES:
            for name in PROFILES[item]:
                add(name)
        elif item in COMPONENTS:
            add(item)
        else:
            known = ", ".join([*PROFILES, *COMPONENTS])
            raise ValueError(f"unknown profile or component {item!r}; known: {known}")
    return [name for name in COMPONENTS if name in wanted]
