"""Parley on the dev stack's real node: both charts installed with the images built here, real pods
with real probes, users chatting through the Services from the host, pods deleted under traffic, an
upgrade with its migration Job, and an uninstall that leaves nothing behind.

The tests share one installation (module scope) and run in file order: each needs the platform the
previous ones left. The platform's pods reach the dev stack's PostgreSQL, Redis, Kafka, S3 server
and OpenSearch at the pod bridge's address (docs/development.md, The real node).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import kubernetes
import psycopg
import pytest
from chartkit import OPERATOR_CHART, PLATFORM_CHART, Helm, single_broker_topics
from e2ekit import BuiltImages, Endpoints, Sender, User, direct_chat, register_and_login, stored_messages
from opensearchpy import AsyncOpenSearch
from parley.devstack.components.kube.node import NODE_NAME
from parley.testing import s3
from parley.testing.chatplatforms import (
    GROUP,
    PLURAL,
    VERSION,
    Platforms,
    install_crd,
    remove_external_resources,
    topic_partitions,
)
from parley.testing.waiting import eventually, wait_for
from parley.testing.wsclient import ChatClient
from parley_operator.api.spec import SERVICE_NAMES

pytestmark = [pytest.mark.kube, pytest.mark.node]

PLATFORM = "chat"
FIRST_VERSION = "0.1.0"
NEXT_VERSION = "0.1.1"
READY_TIMEOUT = 600.0


@dataclass
class Installation:
    helm: Helm
    api: Any
    operator_namespace: str
    namespace: str
    images: BuiltImages
    servers: dict[str, dict[str, str]]
    database: str
    install_seconds: float = 0.0

    @property
    def core(self) -> Any:
        return kubernetes.client.CoreV1Api(self.api)

    def origin(self) -> str:
        """The entry point: the operator's own Envoy (the gateway Service, at its ClusterIP, which
        kube-proxy answers on the host), the one origin of the web client, auth, api and socket."""
        service = self.core.read_namespaced_service(f"{PLATFORM}-gateway", self.namespace)
        return f"http://{service.spec.cluster_ip}"

    def endpoints(self) -> Endpoints:
        """Everything through the entry point, as a browser would go."""
        origin = self.origin()
        return Endpoints(auth=origin, api=f"{origin}/api", socket=f"ws{origin.removeprefix('http')}/ws")

    def pods(self, component: str | None = None) -> list[Any]:
        selector = f"app.kubernetes.io/instance={PLATFORM}"
        if component is not None:
            selector += f",app.kubernetes.io/component={component}"
        return list(self.core.list_namespaced_pod(self.namespace, label_selector=selector).items)

    def platform_values(self, version: str, tag: str) -> list[str]:
        topics = single_broker_topics()
        # One replica each (two of the socket, so a connection has somewhere to go): this runs on
        # a small machine. The gateway is the operator's own Envoy, from the image built here.
        services = {**{name: {"replicas": 1} for name in SERVICE_NAMES}, "socket": {"replicas": 2}}
        return [
            "--set",
            f"kafka.bootstrapServers={self.servers['kafka']['pods_bootstrap']}",
            "--set",
            f"platform.version={version}",
            "--set",
            f"platform.image.repository={self.images.services}",
            "--set",
            f"platform.image.tag={tag}",
            "--set",
            "platform.image.pullPolicy=Never",
            "--set",
            "platform.deletionPolicy=Delete",
            "--set",
            "platform.opensearch.numberOfReplicas=0",
            "--set-json",
            f"platform.kafka.topics={json.dumps(topics)}",
            "--set-json",
            f"platform.services={json.dumps(services)}",
            "--set",
            f"platform.entryPoint.envoyImage.repository={self.images.envoy}",
            "--set",
            f"platform.entryPoint.envoyImage.tag={tag}",
            # Every request of the tests comes from the host's one address: the per-client limit is
            # the edge's own test's business (services/tests/edge), not this suite's.
            "--set-json",
            'platform.entryPoint.rateLimit={"requestsPerSecond": 2000, "burst": 4000}',
        ]


def _secret(name: str, data: dict[str, str]) -> Any:
    return kubernetes.client.V1Secret(metadata=kubernetes.client.V1ObjectMeta(name=name), string_data=data)


def pods_database(servers: dict[str, dict[str, str]]) -> str:
    """A fresh database for the platform (its migrations make the tables); its name."""
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(servers["postgres"]["dsn"], autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(servers: dict[str, dict[str, str]], name: str) -> None:
    with psycopg.connect(servers["postgres"]["dsn"], autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def installation(
    helm_e2e: Helm,
    k8s_api: Any,
    e2e_namespaces: tuple[str, str],
    e2e_images: BuiltImages,
    dev_stack: Any,
) -> Iterator[Installation]:
    servers = dev_stack.up(["postgres", "redis", "kafka", "s3", "opensearch"])
    for server, key in [("postgres", "dsn"), ("redis", "url"), ("kafka", "bootstrap"), ("s3", "endpoint")]:
        assert f"pods_{key}" in servers[server], f"{server} does not listen on the pod bridge"
    assert "pods_url" in servers["opensearch"]
    operator_ns, ns = e2e_namespaces
    inst = Installation(helm_e2e, k8s_api, operator_ns, ns, e2e_images, servers, pods_database(servers))
    pods_dsn = servers["postgres"]["pods_dsn"].rsplit("/", 1)[0] + f"/{inst.database}"
    for name, data in {
        "parley-postgresql": {"dsn": pods_dsn},
        # The operator gives each installation a Redis key prefix of its own.
        "parley-redis": {"url": servers["redis"]["pods_url"]},
        "parley-s3": {
            "endpoint": servers["s3"]["pods_endpoint"],
            "accessKey": servers["s3"]["access_key"],
            "secretKey": servers["s3"]["secret_key"],
        },
        "parley-opensearch": {"url": servers["opensearch"]["pods_url"]},
    }.items():
        inst.core.create_namespaced_secret(ns, _secret(name, data))
    # This tree's CRD (helm installs a chart's crds/ only when the CRD is not there yet).
    install_crd(k8s_api)
    try:
        yield inst
    finally:
        for release, namespace in ((PLATFORM, ns), ("parley-operator", operator_ns)):
            helm_e2e.run("uninstall", release, "-n", namespace, "--wait", "--timeout", "180s", check=False)
        platforms = Platforms(k8s_api, reapply_crd=False)
        if platforms.get(ns, PLATFORM) is not None:
            platforms.remove_finalizers(ns, PLATFORM)
        asyncio.run(
            remove_external_resources(
                ns, servers["kafka"]["bootstrap"], servers["s3"], servers["opensearch"]["url"]
            )
        )
        drop_database(servers, inst.database)


def service_pods(inst: Installation) -> list[Any]:
    """The platform's pods but those of its migration Jobs."""
    return [p for p in inst.pods() if not any(o.kind == "Job" for o in p.metadata.owner_references or [])]


def current_pods(inst: Installation) -> list[Any]:
    """Service pods that are neither going (being deleted) nor gone (finished)."""
    return [
        p
        for p in service_pods(inst)
        if p.metadata.deletion_timestamp is None and p.status.phase not in ("Succeeded", "Failed")
    ]


def running_and_ready(pod: Any) -> bool:
    statuses = pod.status.container_statuses or []
    return (
        pod.status.phase == "Running"
        and pod.metadata.deletion_timestamp is None
        and bool(statuses)
        and all(s.ready for s in statuses)
    )


def describe_pods(inst: Installation) -> str:
    lines = []
    for pod in inst.core.list_namespaced_pod(inst.namespace).items:
        states = [
            f"{s.name}: ready={s.ready} restarts={s.restart_count} state={s.state.to_dict()}"
            for s in pod.status.container_statuses or []
        ]
        lines.append(f"{pod.metadata.name} {pod.status.phase} on {pod.spec.node_name}: {states}")
    return "\n".join(lines)


@pytest.mark.timeout(2400)
def test_the_platform_becomes_ready_with_real_pods(installation: Installation) -> None:
    inst = installation
    started = time.monotonic()
    inst.helm.run(
        "install",
        "parley-operator",
        str(OPERATOR_CHART),
        "-n",
        inst.operator_namespace,
        "--set",
        f"image.repository={inst.images.operator}",
        "--set",
        f"image.tag={inst.images.tag}",
        "--set",
        "image.pullPolicy=Never",
        "--set",
        f"watchNamespaces={{{inst.namespace}}}",
        "--wait",
        "--timeout",
        "300s",
    )
    install_crd(inst.api)  # this tree's, again: see the upgrade test
    inst.helm.run(
        "install",
        PLATFORM,
        str(PLATFORM_CHART),
        "-n",
        inst.namespace,
        *inst.platform_values(FIRST_VERSION, inst.images.tag),
    )
    platforms = Platforms(inst.api, reapply_crd=False)
    try:
        platform = platforms.wait_running(inst.namespace, PLATFORM, FIRST_VERSION, timeout=READY_TIMEOUT)
    except AssertionError as error:
        raise AssertionError(f"{error}\npods:\n{describe_pods(inst)}") from error
    inst.install_seconds = time.monotonic() - started
    print(f"\nhelm install to Ready: {inst.install_seconds:.0f}s; image builds: {inst.images.build_seconds}")

    # Every pod of the platform really runs on the real node, Ready by its probes. Read until they
    # all are: the platform is Running once each Deployment has its replicas available, and a pod
    # of a replaced ReplicaSet may still be going then.
    expected = {
        "gateway",
        "auth",
        "api",
        "socket",
        "consumer",
        "presence",
        "storage",
        "notification",
        "web",
        "search",
    }

    def all_ready() -> list[Any]:
        pods = current_pods(inst)
        components = {p.metadata.labels["app.kubernetes.io/component"] for p in pods}
        return pods if expected <= components and all(running_and_ready(p) for p in pods) else []

    try:
        pods = wait_for(all_ready, 120, "every pod of the platform Running and Ready", 1.0)
    except AssertionError as error:
        raise AssertionError(f"{error}\npods:\n{describe_pods(inst)}") from error
    for pod in pods:
        assert pod.spec.node_name == NODE_NAME, describe_pods(inst)
        assert pod.status.pod_ip and pod.status.pod_ip.startswith("10.244.0."), pod.status.pod_ip
        gateway = pod.metadata.labels["app.kubernetes.io/component"] == "gateway"
        for container in pod.spec.containers:
            if gateway:  # Envoy: its own image and readiness endpoint
                assert container.image == f"{inst.images.envoy}:{inst.images.tag}"
                assert container.readiness_probe.http_get.path == "/ready"
                continue
            assert container.image == f"{inst.images.services}:{inst.images.tag}"
            assert container.readiness_probe.http_get.path == "/readyz"
            assert container.liveness_probe.http_get.path == "/healthz"
    # The web client, through the entry point: its page and the edge's security headers.
    page = httpx.get(f"{inst.origin()}/", timeout=10)
    assert page.status_code == 200, page.text[:200]
    assert '<div id="root">' in page.text, page.text[:300]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert httpx.get(f"{inst.origin()}/api/chats", timeout=10).status_code == 401  # JWT at the edge

    # Every operator pod Ready, and then exactly one (on the real node).
    def operator_pods_ready() -> list[Any]:
        pods = inst.core.list_namespaced_pod(inst.operator_namespace).items
        return pods if pods and all(running_and_ready(p) for p in pods) else []

    operator_pods = wait_for(operator_pods_ready, 60, "the operator's pods Running and Ready")
    assert [p.spec.node_name for p in operator_pods] == [NODE_NAME]
    # The migration Job ran for real (the operator reports the version once it succeeded, then
    # removes the finished Job): the platform's database has its schema.
    assert platform["status"]["version"] == FIRST_VERSION
    with psycopg.connect(inst.servers["postgres"]["dsn"].rsplit("/", 1)[0] + f"/{inst.database}") as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)


@pytest.mark.timeout(300)
async def test_two_users_register_log_in_and_chat(installation: Installation) -> None:
    endpoints = installation.endpoints()
    async with httpx.AsyncClient(timeout=20) as http:
        alice = await register_and_login(http, endpoints, "alice")
        bob = await register_and_login(http, endpoints, "bob")
        chat_id = await direct_chat(http, endpoints, alice, bob)
        a = await ChatClient.connect(endpoints.socket, alice.token, name="alice", via="subprotocol")
        b = await ChatClient.connect(endpoints.socket, bob.token, name="bob", via="subprotocol")
        try:
            await a.send_message(chat_id, "hello bob")
            await b.wait_until(lambda: len(b.messages(chat_id)) == 1, within=30, what="alice's message")
            await b.send_message(chat_id, "hi alice")
            await a.wait_until(lambda: len(a.messages(chat_id)) == 2, within=30, what="both messages")
            # Every device of every member gets every event, the sender's own included.
            await b.wait_until(lambda: len(b.messages(chat_id)) == 2, within=30, what="its own message")
        finally:
            await a.close()
            await b.close()
        for client in (a, b):
            bodies = [m["message"]["body"] for m in client.messages(chat_id)]
            assert bodies == ["hello bob", "hi alice"], client.name
            assert client.duplicates == 0 and client.out_of_order == []
        history = await stored_messages(http, endpoints, bob, chat_id)
        assert [(m["body"], m["sender_id"]) for m in history] == [
            ("hello bob", alice.id),
            ("hi alice", bob.id),
        ]
        # The notification service's preferences, through the operator's Envoy (JWT at the edge),
        # and its one-click unsubscribe reached without a JWT (refused by the service, not the edge).
        prefs = f"{endpoints.api}/notifications/preferences"
        assert (await http.get(prefs)).status_code == 401
        answer = await http.get(prefs, headers={"Authorization": f"Bearer {bob.token}"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["email"] is True
        forged = await http.post(f"{endpoints.api}/notifications/unsubscribe", params={"token": "x.email.y"})
        assert forged.status_code == 400, forged.text

        # Search, through the operator's Envoy (/api/search) to the search pod, which indexed the
        # stored events from Kafka into the installation's OpenSearch index: found by a member,
        # never by someone outside the chat.
        async def search(user: User, q: str) -> list[dict[str, Any]]:
            response = await http.get(
                f"{endpoints.api}/search", params={"q": q}, headers={"Authorization": f"Bearer {user.token}"}
            )
            assert response.status_code == 200, response.text
            results: list[dict[str, Any]] = response.json()["results"]
            return results

        found, _ = await eventually(lambda: search(bob, "hello"), within=60, every=1, what="search")
        assert [(h["body"], h["sender_id"], h["chat_id"]) for h in found] == [
            ("hello bob", alice.id, chat_id)
        ]
        carol = await register_and_login(http, endpoints, "carol")
        assert await search(carol, "hello") == []
    # Auth saw the client's address (the one Envoy saw), not the gateway pod's: per-address login
    # limits count clients, not the proxy.
    dsn = installation.servers["postgres"]["dsn"].rsplit("/", 1)[0] + f"/{installation.database}"
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT DISTINCT client_address FROM auth_refresh_tokens WHERE user_id = %s",
            (alice.id,),
        ).fetchall()
    gateway_ips = {pod.status.pod_ip for pod in installation.pods("gateway")}
    assert rows and all(address not in gateway_ips | {None} for (address,) in rows), (rows, gateway_ips)


@pytest.mark.timeout(300)
async def test_an_attachment_goes_up_to_s3_and_down_to_the_other_member_through_the_edge(
    installation: Installation,
) -> None:
    """POST /api/attachments through the operator's Envoy to the storage pod, the bytes PUT straight
    to the S3 server at the URL the pod signed (the dev stack's, as pods and this host reach it),
    complete, a message carrying it, and the other member's download by the redirect."""
    endpoints = installation.endpoints()
    data = b"minutes of the meeting\n" * 100
    async with httpx.AsyncClient(timeout=20) as http:
        alice = await register_and_login(http, endpoints, "alice")
        bob = await register_and_login(http, endpoints, "bob")
        chat_id = await direct_chat(http, endpoints, alice, bob)
        as_alice = {"Authorization": f"Bearer {alice.token}"}
        created = await http.post(
            f"{endpoints.api}/attachments",
            json={
                "chat_id": chat_id,
                "file_name": "minutes.txt",
                "size": len(data),
                "content_type": "text/plain",
            },
            headers=as_alice,
        )
        assert created.status_code == 201, created.text
        plan = created.json()
        attachment_id = plan["attachment"]["id"]
        put = await http.put(plan["upload"]["url"], content=data, headers={"Content-Type": "text/plain"})
        assert put.status_code == 200, put.text
        done = await http.post(f"{endpoints.api}/attachments/{attachment_id}/complete", headers=as_alice)
        assert done.status_code == 200, done.text

        def ready() -> bool:
            info = httpx.get(
                f"{endpoints.api}/attachments/{attachment_id}/info", headers=as_alice, timeout=10
            )
            assert info.status_code == 200 and info.json()["status"] != "failed", info.text
            return bool(info.json()["status"] == "ready")

        await asyncio.to_thread(wait_for, ready, 120, "the attachment's job (scan and preview)")
        a = await ChatClient.connect(endpoints.socket, alice.token, name="alice", via="subprotocol")
        try:
            await a.send_json(
                {
                    "type": "send",
                    "chat_id": chat_id,
                    "client_id": uuid.uuid4().hex,
                    "body": "",
                    "attachments": [attachment_id],
                }
            )
            await a.wait_until(
                lambda: len(a.messages(chat_id)) == 1, within=60, what="the message with the file"
            )
        finally:
            await a.close()
        assert a.messages(chat_id)[0]["message"]["attachments"] == [attachment_id]
        redirect = await http.get(
            f"{endpoints.api}/attachments/{attachment_id}", headers={"Authorization": f"Bearer {bob.token}"}
        )
        assert redirect.status_code == 302, redirect.text
        got = await http.get(redirect.headers["location"])
        assert got.status_code == 200 and got.content == data
        assert got.headers["content-disposition"].startswith("attachment;")


async def two_users(endpoints: Endpoints) -> tuple[User, User, str]:
    async with httpx.AsyncClient(timeout=20) as http:
        alice = await register_and_login(http, endpoints, "alice")
        bob = await register_and_login(http, endpoints, "bob")
        return alice, bob, await direct_chat(http, endpoints, alice, bob)


@contextlib.asynccontextmanager
async def alice_sending_to_bob(endpoints: Endpoints) -> AsyncIterator[tuple[Sender, User, str]]:
    """Two new users in a direct chat, alice sending to bob all along the block: (the sender, bob,
    the chat). The traffic stops, and its last sends settle, when the block ends."""
    alice, bob, chat_id = await two_users(endpoints)
    sender = Sender(endpoints, alice, chat_id)
    traffic = asyncio.create_task(sender.run())
    try:
        yield sender, bob, chat_id
    finally:
        sender.stop()
        await asyncio.wait_for(traffic, timeout=200)
        await sender.close()


async def all_stored(
    endpoints: Endpoints, reader: User, chat_id: str, sender: Sender
) -> list[dict[str, Any]]:
    """The chat's messages once every accepted one is stored (bounded wait: the consumer may still
    be catching up after a restart)."""
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(timeout=20) as http:
        while True:
            stored = await stored_messages(http, endpoints, reader, chat_id)
            if sender.count(stored).lost == 0 or time.monotonic() > deadline:
                return stored
            await asyncio.sleep(1)


async def replaced(inst: Installation, component: str, old: str, count: int, within: float = 240) -> None:
    """Until `count` pods of the component other than `old` run Ready (the Deployment replaced it)."""
    deadline = time.monotonic() + within
    while True:
        ready = [p for p in inst.pods(component) if p.metadata.name != old and running_and_ready(p)]
        if len(ready) >= count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{component} pod {old} not replaced in {within:.0f}s:\n{describe_pods(inst)}"
            )
        await asyncio.sleep(1)


@pytest.mark.timeout(900)
async def test_deleting_a_socket_pod_and_a_consumer_pod_loses_and_duplicates_nothing(
    installation: Installation,
) -> None:
    inst = installation
    endpoints = inst.endpoints()
    async with alice_sending_to_bob(endpoints) as (sender, bob, chat_id):
        await sender.wait_accepted(30, within=60)
        for component, replicas in (("socket", 2), ("consumer", 1)):
            victim = await asyncio.to_thread(busiest_pod, inst, component)
            inst.core.delete_namespaced_pod(victim.metadata.name, inst.namespace, grace_period_seconds=5)
            await replaced(inst, component, victim.metadata.name, replicas)
            await sender.wait_accepted(30, within=180)
    stored = await all_stored(endpoints, bob, chat_id, sender)
    counts = sender.count(stored)
    print(f"\npod deletion under traffic: {counts}")
    assert counts.sent >= 90
    assert (counts.lost, counts.duplicated) == (0, 0), counts
    assert counts.stored == counts.sent


def busiest_pod(inst: Installation, component: str) -> Any:
    """A Ready pod of the component; of the socket, the one holding the sender's connection (its
    socket_connections gauge, read from the pod's /metrics at its pod IP)."""
    ready = [p for p in inst.pods(component) if running_and_ready(p)]
    assert ready, describe_pods(inst)
    if component != "socket":
        return ready[0]

    def connections(pod: Any) -> float:
        metrics = httpx.get(f"http://{pod.status.pod_ip}:8000/metrics", timeout=5).text
        values = [line.split()[-1] for line in metrics.splitlines() if line.startswith("socket_connections ")]
        return float(values[0]) if values else 0.0

    return max(ready, key=connections)


@dataclass
class RolloutWatch:
    """What an upgrade does, polled every half second: when the new version's migration Job
    completed (the operator removes it once the rollout is done) and when each pod of the new image
    was created."""

    inst: Installation
    job_name: str
    image: str
    job_completed: datetime | None = None
    job_image: str | None = None
    new_pods: dict[str, datetime] = field(default_factory=dict)
    _stopped: bool = False

    def poll(self) -> None:
        batch = kubernetes.client.BatchV1Api(self.inst.api)
        for job in batch.list_namespaced_job(self.inst.namespace).items:
            if job.metadata.name == self.job_name:
                self.job_image = job.spec.template.spec.containers[0].image
                if job.status.succeeded and job.status.completion_time and self.job_completed is None:
                    self.job_completed = job.status.completion_time
        for pod in service_pods(self.inst):
            if any(c.image == self.image for c in pod.spec.containers):
                self.new_pods.setdefault(pod.metadata.name, pod.metadata.creation_timestamp)

    async def run(self) -> None:
        while not self._stopped:
            await asyncio.to_thread(self.poll)
            await asyncio.sleep(0.5)

    def stop(self) -> None:
        self._stopped = True


@pytest.mark.timeout(1200)
async def test_an_upgrade_migrates_first_and_rolls_out_under_traffic_losing_nothing(
    installation: Installation,
) -> None:
    inst = installation
    endpoints = inst.endpoints()
    async with alice_sending_to_bob(endpoints) as (sender, bob, chat_id):
        platforms = Platforms(inst.api, reapply_crd=False)
        next_image = f"{inst.images.services}:{inst.images.next_tag}"
        watch = RolloutWatch(inst, f"{PLATFORM}-migrate-{NEXT_VERSION.replace('.', '-')}", next_image)
        watcher = asyncio.create_task(watch.run())
        try:
            await sender.wait_accepted(20, within=60)
            # This tree's CRD again: the cluster is shared, and a CRD of another tree may have been
            # applied meanwhile (the apiserver would default the platform by that one).
            await asyncio.to_thread(install_crd, inst.api)
            await asyncio.to_thread(
                inst.helm.run,
                "upgrade",
                PLATFORM,
                str(PLATFORM_CHART),
                "-n",
                inst.namespace,
                *inst.platform_values(NEXT_VERSION, inst.images.next_tag),
            )
            await asyncio.to_thread(
                platforms.wait_running, inst.namespace, PLATFORM, NEXT_VERSION, READY_TIMEOUT
            )

            def expected_image(pod: Any) -> str:
                if pod.metadata.labels["app.kubernetes.io/component"] == "gateway":  # Envoy, same release
                    return f"{inst.images.envoy}:{inst.images.next_tag}"
                return next_image

            def rolled_out() -> bool:
                pods = current_pods(inst)
                return bool(pods) and all(
                    running_and_ready(p) and all(c.image == expected_image(p) for c in p.spec.containers)
                    for p in pods
                )

            await asyncio.to_thread(wait_for, rolled_out, 300, "every pod on the new image and Ready", 1.0)
            await sender.wait_accepted(20, within=120)
        finally:
            watch.stop()
            await watcher
    stored = await all_stored(endpoints, bob, chat_id, sender)
    counts = sender.count(stored)
    print(f"\nupgrade under traffic: {counts}")

    # The migration Job of the new version ran (its pod succeeded, with the new image) and was
    # complete before the first pod of the new version was created.
    assert watch.job_image == next_image
    assert watch.job_completed is not None, "the migration Job was never seen complete"
    assert watch.new_pods, "no pod of the new version seen"
    first_new_pod = min(watch.new_pods.values())
    assert first_new_pod >= watch.job_completed, (watch.job_completed, watch.new_pods)
    assert counts.sent >= 40
    assert (counts.lost, counts.duplicated) == (0, 0), counts


@pytest.mark.timeout(600)
def test_uninstall_and_deleting_the_platform_leave_nothing_behind(installation: Installation) -> None:
    inst = installation
    ns = inst.namespace
    platforms = Platforms(inst.api, reapply_crd=False)
    assert platforms.get(ns, PLATFORM) is not None
    inst.helm.run("uninstall", PLATFORM, "-n", ns, "--wait", "--timeout", "300s")
    # The chart's ChatPlatform goes with the release; delete it as a user would if it were left.
    if platforms.get(ns, PLATFORM) is not None:
        platforms.delete(ns, PLATFORM)
    platforms.wait_gone(ns, PLATFORM, timeout=240)

    def nothing_left() -> bool:
        leftovers = objects_in(inst.api, ns)
        return not leftovers

    try:
        wait_for(nothing_left, 240, "the platform's objects to go", interval=1.0)
    except AssertionError as error:
        raise AssertionError(f"{error}: {objects_in(inst.api, ns)}") from error
    # deletionPolicy Delete: the topics, the bucket and the index went with the platform.
    kafka = inst.servers["kafka"]["bootstrap"]
    assert asyncio.run(topic_partitions(kafka, f"{ns}.")) == {}
    assert asyncio.run(buckets_of(inst.servers["s3"], ns)) == []
    assert asyncio.run(indices_of(inst.servers["opensearch"]["url"], ns)) == []

    inst.helm.run(
        "uninstall", "parley-operator", "-n", inst.operator_namespace, "--wait", "--timeout", "180s"
    )
    wait_for(
        lambda: not inst.core.list_namespaced_pod(inst.operator_namespace).items,
        180,
        "the operator's pod to go",
        interval=1.0,
    )
    # The CRD stays (helm never deletes one; other platforms of the cluster live on it).
    assert kubernetes.client.ApiextensionsV1Api(inst.api).read_custom_resource_definition(f"{PLURAL}.{GROUP}")
    assert VERSION == "v1alpha1"


def objects_in(api: Any, namespace: str) -> list[str]:
    """What is left in the namespace besides the Secrets the test made and what Kubernetes itself
    puts in every namespace."""
    core = kubernetes.client.CoreV1Api(api)
    apps = kubernetes.client.AppsV1Api(api)
    batch = kubernetes.client.BatchV1Api(api)
    ours = {"parley-postgresql", "parley-redis", "parley-s3", "parley-opensearch"}
    found = [f"pod/{p.metadata.name}" for p in core.list_namespaced_pod(namespace).items]
    found += [f"deployment/{d.metadata.name}" for d in apps.list_namespaced_deployment(namespace).items]
    found += [f"replicaset/{r.metadata.name}" for r in apps.list_namespaced_replica_set(namespace).items]
    found += [f"job/{j.metadata.name}" for j in batch.list_namespaced_job(namespace).items]
    found += [f"service/{s.metadata.name}" for s in core.list_namespaced_service(namespace).items]
    found += [
        f"configmap/{c.metadata.name}"
        for c in core.list_namespaced_config_map(namespace).items
        if c.metadata.name != "kube-root-ca.crt"
    ]
    found += [
        f"secret/{s.metadata.name}"
        for s in core.list_namespaced_secret(namespace).items
        if s.metadata.name not in ours
    ]
    found += [
        f"serviceaccount/{s.metadata.name}"
        for s in core.list_namespaced_service_account(namespace).items
        if s.metadata.name != "default"
    ]
    return found


async def buckets_of(endpoints: dict[str, str], namespace: str) -> list[str]:
    client = s3.minio_client(dict(endpoints))
    async with client:
        return [b.name for b in await client.list_buckets() if b.name.startswith(f"parley-{namespace}-")]


async def indices_of(url: str, namespace: str) -> list[str]:
    search = AsyncOpenSearch(hosts=[url])
    try:
        found = await search.indices.get(
            index=f"{namespace}.*", expand_wildcards="all", ignore_unavailable=True
        )
        return sorted(found)
    finally:
        await search.close()
