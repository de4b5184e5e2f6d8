"""The operator's only door to the Kubernetes API (besides kopf's own watching).

The `kubernetes` client is synchronous; each call runs in a worker thread of the client's own pool
so the event loop that kopf and the Kafka/S3/OpenSearch clients share never blocks.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import (
    ConflictError,
    DynamicApiError,
    NotFoundError,
    ResourceNotFoundError,
    UnprocessibleEntityError,
)

from parley_operator.api import API_VERSION, KIND
from parley_operator.names import MANAGER
from parley_operator.provision.errors import InfraError
from parley_operator.prune import ObjectRef


def load_config() -> None:
    """In a pod: its service account; elsewhere: KUBECONFIG or ~/.kube/config."""
    loader: Any = k8s_config  # the client's config module carries no type hints
    try:
        loader.load_incluster_config()
    except ConfigException:
        loader.load_kube_config()


class PodUnreachable(Exception):
    """A pod's HTTP endpoint could not be read through the apiserver."""


def error_body_text(body: object, limit: int = 300) -> str:
    """The apiserver's message from an error body: a Status object's message, else the text."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    try:
        message = json.loads(text).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or text).strip()[:limit]


def api_error_message(error: Exception) -> str:
    """The apiserver's own words (its Status message), else the exception's."""
    body = getattr(error, "body", None)
    if isinstance(body, bytes | str):
        try:
            return str(json.loads(body).get("message") or error)
        except (ValueError, AttributeError):
            pass
    return str(error)


def _kind_gone(error: NotFoundError) -> bool:
    """A 404 for the resource type itself (the apiserver's plain "404 page not found", not a Status
    naming a missing object or namespace)."""
    try:
        details = json.loads(error.body or b"{}").get("details") or {}
    except (ValueError, AttributeError):
        return True
    return not details


# Concurrent API calls. Every pass makes a few dozen, and passes of different platforms run at once;
# asyncio's default pool (cpu count + 4 threads) made 50 platforms queue behind each other.
API_THREADS = 32


def _api_client() -> k8s.ApiClient:
    configuration: Any = k8s.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = API_THREADS  # one connection per thread, kept open
    return k8s.ApiClient(configuration)


# How long a kind found not served (an optional CRD not installed) is taken as such before asking
# the apiserver's discovery again.
UNSERVED_RECHECK_SECONDS = 60.0


class Kube:
    def __init__(self, api_client: k8s.ApiClient | None = None) -> None:
        self._api_client = api_client or _api_client()
        self._threads = ThreadPoolExecutor(max_workers=API_THREADS, thread_name_prefix="kube-api")
        self._dynamic: Any = None  # DynamicClient: untyped, so kept as Any at this one boundary
        self._resources: dict[tuple[str, str], Any] = {}
        self._discovery = threading.Lock()
        self._unserved: dict[tuple[str, str], float] = {}

    def _dyn(self) -> Any:
        # Discovery happens on first use, in a worker thread, not at construction.
        if self._dynamic is None:
            with self._discovery:
                if self._dynamic is None:
                    dynamic_client: Any = DynamicClient
                    self._dynamic = dynamic_client(self._api_client)
        return self._dynamic

    def _resource(self, api_version: str, kind: str) -> Any:
        key = (api_version, kind)
        found = self._resources.get(key)
        if found is not None:
            return found
        dynamic = self._dyn()
        # The discovery cache is not thread-safe: a miss (a kind the cluster does not serve) makes
        # it refresh itself, which breaks a concurrent lookup. One lookup at a time, and a kind
        # found missing is looked up again only after a while.
        with self._discovery:
            found = self._resources.get(key)
            if found is not None:
                return found
            if time.monotonic() < self._unserved.get(key, 0.0):
                raise ResourceNotFoundError(f"{api_version} {kind} is not served (checked recently)")
            try:
                found = dynamic.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                self._unserved[key] = time.monotonic() + UNSERVED_RECHECK_SECONDS
                raise
            self._resources[key] = found
            return found

    def _forget(self, api_version: str, kind: str) -> None:
        """A kind found gone (its CRD deleted after discovery saw it): drop it and the discovery
        cache, and take it as not served until the next check."""
        with self._discovery:
            self._resources.pop((api_version, kind), None)
            self._unserved[(api_version, kind)] = time.monotonic() + UNSERVED_RECHECK_SECONDS
            if self._dynamic is not None:
                self._dynamic.resources.invalidate_cache()

    def _served(self, api_version: str, kind: str) -> bool:
        try:
            self._resource(api_version, kind)
        except ResourceNotFoundError:
            return False
        return True

    async def served(self, api_version: str, kind: str) -> bool:
        """Whether the cluster serves the kind (an optional CRD is installed), as discovery says;
        a kind found not served is asked about again after UNSERVED_RECHECK_SECONDS."""
        return cast(bool, await self._call(self._served, api_version, kind))

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._threads, lambda: fn(*args, **kwargs))

    # -- children --------------------------------------------------------------------------------
    async def apply(self, obj: Mapping[str, Any], manager: str = MANAGER) -> dict[str, Any]:
        """Server-side apply with the operator's field manager, taking over conflicting fields (a
        manual edit of a field the operator owns is drift, and is repaired)."""

        def run() -> dict[str, Any]:
            resource = self._resource(obj["apiVersion"], obj["kind"])
            try:
                result = self._dyn().server_side_apply(
                    resource,
                    body=dict(obj),
                    namespace=obj["metadata"].get("namespace"),
                    field_manager=manager,
                    force_conflicts=True,
                )
            except NotFoundError as error:
                # The namespace is gone, or the kind is (a CRD deleted since discovery saw it).
                if _kind_gone(error):
                    self._forget(obj["apiVersion"], obj["kind"])
                raise
            return cast(dict[str, Any], result.to_dict())

        return cast(dict[str, Any], await self._call(run))

    async def create_if_absent(self, obj: Mapping[str, Any]) -> bool:
        """Creates `obj` unless an object of that name exists (left untouched); True if created."""

        def run() -> bool:
            resource = self._resource(obj["apiVersion"], obj["kind"])
            try:
                self._dyn().create(
                    resource, body=dict(obj), namespace=obj["metadata"]["namespace"], field_manager=MANAGER
                )
            except ConflictError:
                return False
            return True

        return cast(bool, await self._call(run))

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        def run() -> dict[str, Any] | None:
            try:
                found = self._dyn().get(self._resource(api_version, kind), name=name, namespace=namespace)
            except NotFoundError:
                return None
            return cast(dict[str, Any], found.to_dict())

        return cast(dict[str, Any] | None, await self._call(run))

    async def list_if_served(
        self, api_version: str, kind: str, namespace: str, selector: str
    ) -> list[dict[str, Any]]:
        """As `list`, but none when the cluster does not serve the kind (an optional CRD that is not
        installed), or no longer does (its CRD deleted since discovery saw it: the list is a 404)."""

        def run() -> list[dict[str, Any]]:
            try:
                resource = self._resource(api_version, kind)
            except ResourceNotFoundError:
                return []
            try:
                return self._list(resource, api_version, kind, namespace, selector)
            except NotFoundError:
                self._forget(api_version, kind)
                return []

        return cast(list[dict[str, Any]], await self._call(run))

    def _list(
        self, resource: Any, api_version: str, kind: str, namespace: str, selector: str
    ) -> list[dict[str, Any]]:
        found = self._dyn().get(resource, namespace=namespace, label_selector=selector)
        items = found.to_dict().get("items") or []
        # List items come without apiVersion/kind; the pruner needs them.
        return [{"apiVersion": api_version, "kind": kind, **item} for item in items]

    async def list(self, api_version: str, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        """Objects of a kind matching `selector`."""

        def run() -> list[dict[str, Any]]:
            return self._list(self._resource(api_version, kind), api_version, kind, namespace, selector)

        return cast(list[dict[str, Any]], await self._call(run))

    async def delete(self, ref: ObjectRef) -> None:
        def run() -> None:
            with contextlib.suppress(NotFoundError):
                self._dyn().delete(
                    self._resource(ref.api_version, ref.kind),
                    name=ref.name,
                    namespace=ref.namespace,
                    propagation_policy="Background",
                )

        await self._call(run)

    async def read_secret(self, namespace: str, name: str, key: str) -> str:
        secret = await self.get("v1", "Secret", namespace, name)
        if secret is None:
            raise InfraError("secrets", "SecretNotFound", f"Secret {namespace}/{name} not found")
        data = secret.get("data") or {}
        if key not in data:
            raise InfraError("secrets", "SecretKeyNotFound", f"Secret {namespace}/{name} has no key {key!r}")
        try:
            return base64.b64decode(data[key]).decode().strip()
        except (binascii.Error, UnicodeDecodeError) as error:
            message = f"Secret {namespace}/{name} key {key}: {error}"
            raise InfraError("secrets", "SecretUnreadable", message) from error

    # -- pods ------------------------------------------------------------------------------------
    async def pod_get(self, namespace: str, pod: str, port: int, path: str, seconds: float) -> str:
        """GET `path` on a pod's port through the apiserver's pod proxy (pods/proxy): the operator
        needs no route to the pod network. Raises PodUnreachable with the apiserver's words."""

        def run() -> str:
            core: Any = k8s.CoreV1Api(self._api_client)
            try:
                return cast(
                    str,
                    core.connect_get_namespaced_pod_proxy_with_path(
                        f"{pod}:{port}", namespace, path, _request_timeout=seconds
                    ),
                )
            except ApiException as error:
                raise PodUnreachable(
                    f"{error.status} {error.reason}: {error_body_text(error.body)}"
                ) from error
            except (urllib3.exceptions.HTTPError, OSError) as error:
                raise PodUnreachable(f"{type(error).__name__}: {error}") from error

        return cast(str, await self._call(run))

    # -- the ChatPlatform itself -----------------------------------------------------------------
    async def get_platform(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.get(API_VERSION, KIND, namespace, name)

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Merge patch of the status subresource (the operator is its only writer)."""

        def run() -> None:
            resource = self._resource(API_VERSION, KIND)
            # NotFound: deleted meanwhile, nothing left to report on.
            with contextlib.suppress(NotFoundError):
                self._dyn().patch(
                    resource.status,
                    body={"status": dict(status)},
                    name=name,
                    namespace=namespace,
                    content_type="application/merge-patch+json",
                    field_manager=MANAGER,
                )

        await self._call(run)


__all__ = [
    "DynamicApiError",
    "Kube",
    "PodUnreachable",
    "ResourceNotFoundError",
    "UnprocessibleEntityError",
    "api_error_message",
    "load_config",
]
