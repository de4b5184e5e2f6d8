"""One socket-scaling pass of a ChatPlatform: read every ready socket pod's open connections, decide,
set the Deployment's replicas, report in status.socketScaling.

The replicas are applied by a field manager of their own, so the reconcile pass (which leaves
`replicas` out of an autoscaled Deployment) and the scaler never undo each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from parley_operator.api.spec import ChatPlatformSpec, SocketAutoscaling, parse_spec
from parley_operator.api.status import SocketScalingStatus
from parley_operator.kube import Kube, PodUnreachable
from parley_operator.names import HTTP_PORT, MANAGER, Installation
from parley_operator.scaling.connections import open_connections
from parley_operator.scaling.decision import Policy, Reading, Recommendation, ScaleDecision, decide
from parley_operator.status.conditions import now_rfc3339

SCALER_MANAGER = f"{MANAGER}-socket-scaler"
SCRAPE_TIMEOUT_SECONDS = 5.0
SCRAPE_CONCURRENCY = 8
METRICS_PATH = "metrics"

log = logging.getLogger(__name__)


def socket_policy(spec: ChatPlatformSpec) -> Policy | None:
    """The scaling policy when the spec asks the operator to scale socket on connections."""
    scaling = spec.services.socket.autoscaling
    if not isinstance(scaling, SocketAutoscaling) or scaling.target_connections_per_pod is None:
        return None
    return Policy(scaling.min_replicas, scaling.max_replicas, scaling.target_connections_per_pod)


def wants_socket_scaling(raw_spec: Mapping[str, Any]) -> bool:
    try:
        return socket_policy(parse_spec(raw_spec)) is not None
    except ValidationError:
        return False


def ready_pods(pods: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of the pods that serve: Running, Ready, not being deleted (only they hold connections
    worth counting; a starting pod has none yet)."""
    names = []
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        if status.get("phase") == "Running" and ready and not meta.get("deletionTimestamp"):
            names.append(meta["name"])
    return sorted(names)


async def read_pod(kube: Kube, namespace: str, pod: str) -> Reading:
    try:
        text = await kube.pod_get(namespace, pod, HTTP_PORT, METRICS_PATH, SCRAPE_TIMEOUT_SECONDS)
        return Reading(pod, open_connections(text))
    except (PodUnreachable, ValueError) as error:
        return Reading(pod, None, str(error))


async def read_pods(kube: Kube, namespace: str, pods: Sequence[str]) -> list[Reading]:
    limit = asyncio.Semaphore(SCRAPE_CONCURRENCY)

    async def one(pod: str) -> Reading:
        async with limit:
            return await read_pod(kube, namespace, pod)

    return list(await asyncio.gather(*(one(pod) for pod in pods)))


@dataclass(frozen=True)
class ScalePass:
    decision: ScaleDecision
    status: dict[str, Any]


def _selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in labels.items())


async def scale_sockets(
    kube: Kube, platform: Mapping[str, Any], history: Sequence[Recommendation], now: float
) -> ScalePass | None:
    """None when there is nothing to scale: no connection target, or no socket Deployment yet."""
    try:
        spec = parse_spec(platform["spec"])
    except ValidationError:
        return None  # the reconcile pass reports an invalid spec
    policy = socket_policy(spec)
    if policy is None:
        return None
    meta = platform["metadata"]
    inst = Installation(meta["namespace"], meta["name"])
    name = inst.service("socket")
    deployment = await kube.get("apps/v1", "Deployment", inst.namespace, name)
    if deployment is None or deployment["metadata"].get("deletionTimestamp"):
        return None
    current = int((deployment.get("spec") or {}).get("replicas", 1))
    pods = ready_pods(await kube.list("v1", "Pod", inst.namespace, _selector(inst.selector("socket"))))
    decision = decide(current, await read_pods(kube, inst.namespace, pods), policy, history, now)
    previous = (platform.get("status") or {}).get("socketScaling") or {}
    last_scale = previous.get("lastScaleTime")
    if decision.replicas != current:
        log.info("socket of %s/%s: %s", inst.namespace, inst.name, decision.message)
        await kube.apply(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": inst.namespace},
                "spec": {"replicas": decision.replicas},
            },
            manager=SCALER_MANAGER,
        )
        last_scale = now_rfc3339()
    status = SocketScalingStatus(
        replicas=decision.replicas,
        recommended_replicas=decision.recommended,
        open_connections=decision.connections,
        pods=decision.pods,
        pods_reporting=decision.reporting,
        target_connections_per_pod=policy.target_per_pod,
        reason=decision.reason,
        message=decision.message,
        last_check_time=now_rfc3339(),
        last_scale_time=last_scale,
    ).model_dump(by_alias=True, mode="json")
    await kube.patch_status(inst.namespace, inst.name, {"socketScaling": status})
    return ScalePass(decision, status)
