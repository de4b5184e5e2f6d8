"""Fixtures over the dev stack's real servers.

Session fixtures start (or reuse) one component each, once; function fixtures hand every test its
own slice of it — a fresh database, a Redis key prefix, and so on — so tests never see each other's
data and can run against a stack a developer is also using.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import psycopg
import pytest
import redis.asyncio as aioredis
from miniopy_async.api import Minio
from opensearchpy import AsyncOpenSearch

from parley.devstack.components.kube.build import install_helm
from parley.devstack.components.kube.cluster import api_client
from parley.devstack.stack import Stack
from parley.testing import s3
from parley.testing.mail import MAIL_DOMAIN, Mailbox
from parley.testing.slices import delete_topics, unique


@pytest.fixture(scope="session")
def dev_stack() -> Stack:
    return Stack()


def _component_up(stack: Stack, name: str) -> dict[str, str]:
    return stack.up([name])[name]


@pytest.fixture(scope="session")
def postgres_server(dev_stack: Stack) -> dict[str, str]:
    return _component_up(dev_stack, "postgres")


@pytest.fixture(scope="session")
def redis_server(dev_stack: Stack) -> dict[str, str]:
    return _component_up(dev_stack, "redis")


@pytest.fixture(scope="session")
def s3_server(dev_stack: Stack) -> dict[str, str]:
    return _component_up(dev_stack, "s3")


@pytest.fixture(scope="session")
def clamav_server(dev_stack: Stack) -> dict[str, str]:
    """clamd on the test signatures only (EICAR): `address` is its host:port."""
    return _component_up(dev_stack, "clamav")


@pytest.fixture(scope="session")
def smtp_server(dev_stack: Stack) -> dict[str, str]:
    return _component_up(dev_stack, "smtp")


@pytest.fixture(scope="session")
def kafka_server(dev_stack: Stack) -> dict[str, str]:
    return _component_up(dev_stack, "kafka")


@pytest.fixture(scope="session")
def opensearch_server(dev_stack: Stack) -> dict[str, str]:
    return _component_up(dev_stack, "opensearch")


@pytest.fixture(scope="session")
def zipkin_server(dev_stack: Stack) -> dict[str, str]:
    """The dev stack's trace backend (Zipkin): `url`, `spans` (where services export)."""
    return _component_up(dev_stack, "zipkin")


@pytest.fixture(scope="session")
def prometheus_server(dev_stack: Stack) -> dict[str, str]:
    """The dev stack's Prometheus (scraping every process of the stack): `url`, `promtool`."""
    return _component_up(dev_stack, "prometheus")


@pytest.fixture
def pg_dsn(postgres_server: dict[str, str]) -> Iterator[str]:
    """DSN of a fresh, empty database that is dropped after the test."""
    base = postgres_server["dsn"]
    admin = base.rsplit("/", 1)[0] + "/postgres"
    name = unique("t_")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url(redis_server: dict[str, str]) -> str:
    return redis_server["url"]


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of the test's own; its keys are deleted after the test."""
    prefix = unique("t:") + ":"
    yield prefix
    client = aioredis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def minio_client(s3_server: dict[str, str]) -> AsyncIterator[Minio]:
    """An S3 client for the dev stack's server, its HTTP session closed after the test."""
    client = s3.minio_client(s3_server)
    async with client:  # closes its aiohttp session
        yield client


@pytest.fixture
async def s3_bucket(minio_client: Minio) -> AsyncIterator[str]:
    """A fresh, empty bucket of the test's own; emptied and removed after the test."""
    bucket = unique("t-")
    await minio_client.make_bucket(bucket)
    try:
        yield bucket
    finally:
        await s3.remove_bucket(minio_client, bucket)


@pytest.fixture
def mailbox(smtp_server: dict[str, str]) -> Iterator[Mailbox]:
    """Reads mail the dev SMTP server received; mail to the addresses it tracks is removed after."""
    box = Mailbox(Path(smtp_server["maildir"]))
    try:
        yield box
    finally:
        box.clean()


@pytest.fixture
def mail_recipient(mailbox: Mailbox) -> str:
    """An address no other test uses: send to it, then `await mailbox.wait_for_mail(address)`."""
    return mailbox.track(f"{unique('t-')}@{MAIL_DOMAIN}")


@pytest.fixture
def kafka_bootstrap(kafka_server: dict[str, str]) -> str:
    return kafka_server["bootstrap"]


@pytest.fixture
async def kafka_topic_prefix(kafka_bootstrap: str) -> AsyncIterator[str]:
    """A topic (and consumer group) name prefix of the test's own, ending in `-`; its topics are
    deleted after, also those named from the prefix without its `-` (`Topics(prefix.rstrip("-"))`
    names them `<prefix>.events.v1`)."""
    prefix = unique("t-") + "-"
    yield prefix
    await delete_topics(kafka_bootstrap, prefix.rstrip("-"))


@pytest.fixture
def opensearch_url(opensearch_server: dict[str, str]) -> str:
    return opensearch_server["url"]


@pytest.fixture
async def opensearch_prefix(opensearch_url: str) -> AsyncIterator[str]:
    """An index name prefix of the test's own; `<prefix>*` indices are deleted after the test."""
    prefix = unique("t-") + "-"
    yield prefix
    client = AsyncOpenSearch(hosts=[opensearch_url])
    try:
        await client.indices.delete(index=f"{prefix}*", expand_wildcards="all", ignore_unavailable=True)
    finally:
        await client.close()


@pytest.fixture(scope="session")
def kube_server(dev_stack: Stack) -> dict[str, dict[str, str]]:
    """The whole `kube` profile (etcd, apiserver, controller-manager, scheduler, kwok): endpoints
    by component."""
    return dev_stack.up(["kube"])


@pytest.fixture(scope="session")
def kubeconfig(kube_server: dict[str, dict[str, str]]) -> Path:
    """The admin kubeconfig of the dev cluster."""
    return Path(kube_server["kube-apiserver"]["kubeconfig"])


@pytest.fixture(scope="session")
def helm_bin(kube_server: dict[str, dict[str, str]], dev_stack: Stack) -> Path:
    """The helm binary `up kube` installs (a client, so it has no server of its own); built here
    when an apiserver started before it was (cached: a no-op once built)."""
    helm = Path(kube_server["kube-apiserver"]["helm"])
    if not helm.exists():
        install_helm(dev_stack.paths, dev_stack.paths.logs / "helm.setup.log")
    return helm


@pytest.fixture(scope="session")
def k8s_api(kubeconfig: Path) -> Iterator[Any]:
    """A kubernetes.client.ApiClient acting as the cluster admin."""
    api = api_client(kubeconfig)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def k8s_namespace(k8s_api: Any) -> Iterator[str]:
    """A fresh namespace of the test's own, deleted (with everything in it) after the test."""
    core = kubernetes.client.CoreV1Api(k8s_api)
    name = unique("t-")
    core.create_namespace(
        kubernetes.client.V1Namespace(
            metadata=kubernetes.client.V1ObjectMeta(name=name, labels={"parley.dev/test": "true"})
        )
    )
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name, propagation_policy="Background")
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise
