"""ChatPlatform resources on the dev cluster, for the operator's live tests and its benchmark: the CRD,
the Secrets a platform points at, creating, changing and waiting for platforms, and removing what a
platform left outside the cluster (topics, bucket, index) whatever its deletion policy."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import kubernetes
import yaml
from aiokafka.admin import AIOKafkaAdminClient
from opensearchpy import AsyncOpenSearch
from parley_operator.api.spec import SERVICE_NAMES
from parley_operator.names import MANAGER as OPERATOR_FIELD_MANAGER

from parley.devstack.components.kube import modulecrds
from parley.testing import s3
from parley.testing.slices import delete_topics
from parley.testing.waiting import TimedOut as TimedOut
from parley.testing.waiting import wait_for as wait_for

GROUP, VERSION, PLURAL = "parley.dev", "v1alpha1", "chatplatforms"
CRD_FILE = Path(__file__).resolve().parents[3] / "crds" / "chatplatform.yaml"
T = TypeVar("T")


def install_crd(api: Any, path: Path = CRD_FILE, field_manager: str = "parley-tests") -> None:
    """Server-side applies the CRD and waits until the apiserver serves it."""
    modulecrds.install(api, [yaml.safe_load(path.read_text())], field_manager=field_manager)


def dry_run_apply(api: Any, obj: dict[str, Any]) -> None:
    """The server-side apply the operator makes of `obj`, as a dry run with strict field validation:
    raises when the apiserver's schema for its kind refuses it."""
    client: Any = kubernetes.dynamic.DynamicClient  # no type hints
    dynamic = client(api)
    resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    dynamic.server_side_apply(
        resource,
        body=obj,
        namespace=obj["metadata"]["namespace"],
        field_manager=OPERATOR_FIELD_MANAGER,
        dry_run="All",
        query_params=[("fieldValidation", "Strict")],
    )


def _secret(name: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def create_infra_secrets(
    api: Any, namespace: str, s3_endpoints: Mapping[str, str], opensearch_url: str
) -> None:
    """The Secrets a platform spec names: the dev stack's S3 and OpenSearch (read by the operator),
    PostgreSQL and Redis (only handed to pods, which kwok never runs)."""
    core: Any = kubernetes.client.CoreV1Api(api)
    secrets = {
        "parley-postgres": {"dsn": "postgresql://parley@127.0.0.1:15432/parley"},
        "parley-redis": {"url": "redis://127.0.0.1:16379/0"},
        "parley-s3": {
            "endpoint": s3_endpoints["endpoint"],
            "accessKey": s3_endpoints["access_key"],
            "secretKey": s3_endpoints["secret_key"],
        },
        "parley-opensearch": {"url": opensearch_url},
    }
    for name, data in secrets.items():
        core.create_namespaced_secret(namespace, _secret(name, data))


def platform_spec(kafka_bootstrap: str, version: str = "1.0.0", **overrides: Any) -> dict[str, Any]:
    """A small platform on the dev stack: one replica per service, one-partition topics."""
    topics = (
        "commands",
        "events",
        "connections",
        "presence",
        "notifications",
        "notificationsDlq",
        "attachmentsJobs",
    )
    spec: dict[str, Any] = {
        "version": version,
        "deletionPolicy": "Delete",
        "services": {name: {"replicas": 1} for name in SERVICE_NAMES},
        "kafka": {
            "bootstrapServers": kafka_bootstrap,
            "topics": {topic: {"partitions": 1, "replicationFactor": 1} for topic in topics},
        },
        "postgres": {"secretName": "parley-postgres"},
        "redis": {"secretName": "parley-redis"},
        "s3": {"secretName": "parley-s3"},
        "opensearch": {"secretName": "parley-opensearch", "numberOfReplicas": 0},
    }
    spec.update(overrides)
    return spec


def pruned_fields(sent: Mapping[str, Any], stored: Mapping[str, Any], path: str = "spec") -> list[str]:
    """Fields of `sent` missing from `stored`: what a CRD schema that does not know them pruned."""
    missing = []
    for key, value in sent.items():
        if key not in stored:
            missing.append(f"{path}.{key}")
        elif isinstance(value, Mapping) and isinstance(stored[key], Mapping):
            missing += pruned_fields(value, stored[key], f"{path}.{key}")
    return missing


def _seen_by_operator(platform: Mapping[str, Any]) -> bool:
    """The operator took the object up: its finalizer (kopf's first write) or a status."""
    return bool(platform.get("status") or (platform.get("metadata") or {}).get("finalizers"))


class Platforms:
    """ChatPlatform objects through the apiserver (as a user with kubectl would change them).

    The CRD is cluster-wide, and others testing against the same cluster may apply an older one
    at any time; its schema would silently prune the fields it lacks. So the CRD is applied again
    just before each create, and a stored spec missing a sent field fails loudly.
    """

    def __init__(self, api: Any, reapply_crd: bool = True) -> None:
        self.api = api
        self.objects: Any = kubernetes.client.CustomObjectsApi(api)
        self.reapply_crd = reapply_crd
        """False where the time of a create is measured (the benchmark installs the CRD once)."""

    def create(self, namespace: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        if self.reapply_crd:
            install_crd(self.api)
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ChatPlatform",
            "metadata": {"name": name},
            "spec": dict(spec),
        }
        created = dict(self.objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body))
        self._check_stored(spec, created)
        return created

    @staticmethod
    def _check_stored(sent: Mapping[str, Any], stored: Mapping[str, Any]) -> None:
        pruned = pruned_fields(sent, stored.get("spec") or {})
        if pruned:
            raise AssertionError(
                f"the apiserver dropped {pruned}: the served ChatPlatform CRD is not this checkout's "
                "(someone applied another version meanwhile)"
            )

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def must_get(self, namespace: str, name: str) -> dict[str, Any]:
        platform = self.get(namespace, name)
        if platform is None:
            raise AssertionError(f"ChatPlatform {namespace}/{name} does not exist")
        return platform

    def patch_spec(self, namespace: str, name: str, spec_patch: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of the spec; returns the object with its new generation."""
        if self.reapply_crd:
            install_crd(self.api)
        patched = dict(
            self.objects.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, {"spec": dict(spec_patch)}
            )
        )
        self._check_stored(spec_patch, patched)
        return patched

    def delete(self, namespace: str, name: str) -> None:
        try:
            self.objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise

    def list(self, namespace: str) -> list[dict[str, Any]]:
        found = self.objects.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        return list(found.get("items") or [])

    def remove_finalizers(self, namespace: str, name: str) -> None:
        """For a teardown whose operator could not finish: lets the object go."""
        try:
            self.objects.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, {"metadata": {"finalizers": None}}
            )
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise

    # -- status --------------------------------------------------------------------------------
    def wait(
        self,
        namespace: str,
        name: str,
        check: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float = 60,
    ) -> dict[str, Any]:
        last: dict[str, Any] = {}
        started = time.monotonic()
        nudges = [3.0, 10.0]

        def ok() -> dict[str, Any] | None:
            nonlocal last
            last = self.get(namespace, name) or {}
            if last and not _seen_by_operator(last) and nudges and time.monotonic() - started > nudges[0]:
                nudges.pop(0)
                self.nudge_namespace(namespace)
            return last if last and check(last) else None

        try:
            return wait_for(ok, timeout, f"ChatPlatform {namespace}/{name}: {what}")
        except TimedOut as error:
            raise TimedOut(f"{error}; last status: {last.get('status')}") from None

    def nudge_namespace(self, namespace: str) -> None:
        """Changes a label of the namespace. An operator watching namespaces by pattern (kopf) can
        miss a namespace created while it starts: kopf lists the namespaces, then starts the watch
        with a second listing whose entries it ignores, so one created between the two is never
        taken up until it changes. This is that change; an operator that saw the namespace
        ignores it."""
        kubernetes.client.CoreV1Api(self.api).patch_namespace(
            namespace, {"metadata": {"labels": {"parley.dev/nudged": str(int(time.time()))}}}
        )

    def wait_ready(self, namespace: str, name: str, timeout: float = 60) -> dict[str, Any]:
        """Ready for the current generation (observedGeneration caught up)."""
        return self.wait(namespace, name, is_current_and_ready, "Ready for its generation", timeout)

    def wait_running(self, namespace: str, name: str, version: str, timeout: float = 60) -> dict[str, Any]:
        """Ready, rolled out to `version` (Ready alone holds while the old version still serves)."""

        def running(platform: dict[str, Any]) -> bool:
            status = platform.get("status") or {}
            return is_current_and_ready(platform) and (status.get("phase"), status.get("version")) == (
                "Running",
                version,
            )

        return self.wait(namespace, name, running, f"Running {version}", timeout)

    def wait_gone(self, namespace: str, name: str, timeout: float = 60) -> None:
        wait_for(lambda: self.get(namespace, name) is None, timeout, f"ChatPlatform {namespace}/{name} gone")


def condition(platform: Mapping[str, Any], type_: str) -> dict[str, Any]:
    for cond in (platform.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def is_current(platform: Mapping[str, Any]) -> bool:
    status = platform.get("status") or {}
    return bool(status.get("observedGeneration") == platform["metadata"]["generation"])


def is_current_and_ready(platform: Mapping[str, Any]) -> bool:
    return is_current(platform) and condition(platform, "Ready").get("status") == "True"


async def remove_external_resources(
    namespace: str, kafka_bootstrap: str, s3_endpoints: Mapping[str, str], opensearch_url: str
) -> None:
    """Every topic, bucket and index of the platforms of `namespace` (names start with it), gone."""
    await delete_topics(kafka_bootstrap, f"{namespace}.")
    client = s3.minio_client(dict(s3_endpoints))
    async with client:
        for bucket in await client.list_buckets():
            if bucket.name.startswith(f"parley-{namespace}-"):
                await s3.remove_bucket(client, bucket.name)
    search = AsyncOpenSearch(hosts=[opensearch_url])
    try:
        await search.indices.delete(index=f"{namespace}.*", expand_wildcards="all", ignore_unavailable=True)
        templates = await search.indices.get_index_template(name=f"{namespace}.*", ignore=[404])
        for template in templates.get("index_templates") or []:
            await search.indices.delete_index_template(name=template["name"])
    finally:
        await search.close()


async def topic_partitions(kafka_bootstrap: str, prefix: str) -> dict[str, int]:
    """Partitions of every topic whose name starts with `prefix`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if not names:
            return {}
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)}
    finally:
        await admin.close()


async def bucket_exists(s3_endpoints: Mapping[str, str], bucket: str) -> bool:
    client = s3.minio_client(dict(s3_endpoints))
    async with client:
        return bool(await client.bucket_exists(bucket))


async def alias_indices(opensearch_url: str, alias: str) -> list[str]:
    """The indices behind `alias` (none when it does not exist)."""
    search = AsyncOpenSearch(hosts=[opensearch_url])
    try:
        if not await search.indices.exists_alias(name=alias):
            return []
        return sorted(await search.indices.get_alias(name=alias))
    finally:
        await search.close()


async def index_template_exists(opensearch_url: str, name: str) -> bool:
    search = AsyncOpenSearch(hosts=[opensearch_url])
    try:
        return bool(await search.indices.exists_index_template(name=name))
    finally:
        await search.close()
