"""How many socket pods: enough that open connections per pod stay under the target (pure).

The rule follows the HorizontalPodAutoscaler's: scale up at once, scale down only to the highest
recommendation of the last `scale_down_window` seconds (dropping a socket pod moves every
connection it holds), and never leave minReplicas..maxReplicas. Pods whose metrics could not be
read count as empty when deciding to scale up and as full when deciding to scale down, so missing
data never causes a scale-down.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

SCALE_DOWN_WINDOW_SECONDS = 300.0


@dataclass(frozen=True)
class Reading:
    pod: str
    connections: int | None
    """None when the pod's metrics could not be read."""
    error: str = ""


@dataclass(frozen=True)
class Policy:
    min_replicas: int
    max_replicas: int
    target_per_pod: int
    scale_down_window: float = SCALE_DOWN_WINDOW_SECONDS

    def bounded(self, replicas: int) -> int:
        return max(self.min_replicas, min(self.max_replicas, replicas))


@dataclass(frozen=True)
class Recommendation:
    at: float
    """Seconds (any clock that only moves forward, the same for every call)."""
    replicas: int


@dataclass(frozen=True)
class ScaleDecision:
    replicas: int
    """What the Deployment should have now."""
    recommended: int
    """What the connections alone ask for, within the bounds, before the scale-down window."""
    connections: int | None
    """Open connections on the pods that answered; None when none did."""
    reporting: int
    pods: int
    reason: str
    message: str
    history: tuple[Recommendation, ...]
    """Recommendations still inside the window: pass them to the next decision."""


def needed(connections: int, target: int) -> int:
    return math.ceil(connections / target)


def _raw(current: int, known: Sequence[int], missing: int, target: int) -> int:
    total = sum(known)
    up = needed(total, target)
    if up > current:
        return up
    return min(current, needed(total + missing * target, target))


def decide(
    current: int,
    readings: Sequence[Reading],
    policy: Policy,
    history: Sequence[Recommendation],
    now: float,
) -> ScaleDecision:
    """`current`: the Deployment's spec.replicas; `readings`: one per ready socket pod."""
    bounded = policy.bounded(current)
    known = [r.connections for r in readings if r.connections is not None]
    missing = len(readings) - len(known)
    raw = _raw(current, known, missing, policy.target_per_pod) if known else bounded
    recommended = policy.bounded(raw)
    # A new operator (or platform) has no history: it waits a whole window before scaling down.
    recent = [r for r in history if now - r.at < policy.scale_down_window] or [Recommendation(now, bounded)]
    window = (*recent, Recommendation(now, recommended))
    # Up at once; down no further than the highest recent recommendation.
    replicas = recommended if recommended >= bounded else min(bounded, max(r.replicas for r in window))
    total = sum(known) if known else None
    reason, message = _explain(current, replicas, raw, recommended, readings, total, policy)
    return ScaleDecision(replicas, recommended, total, len(known), len(readings), reason, message, window)


def _explain(
    current: int,
    replicas: int,
    raw: int,
    recommended: int,
    readings: Sequence[Reading],
    total: int | None,
    policy: Policy,
) -> tuple[str, str]:
    bounds = f"minReplicas {policy.min_replicas}, maxReplicas {policy.max_replicas}"
    moved = f"{current} -> {replicas} replicas" if replicas != current else f"{replicas} replicas"
    if not readings:
        return "NoReadyPods", f"no ready socket pod to read; {moved} ({bounds})"
    if total is None:
        errors = sorted({r.error for r in readings if r.error})
        detail = f": {errors[0]}" if errors else ""
        return (
            "MetricsUnavailable",
            f"no socket pod's metrics could be read{detail}; {moved} ({bounds})",
        )
    reporting = sum(1 for r in readings if r.connections is not None)
    load = (
        f"{total} open connections on {reporting}/{len(readings)} pods, "
        f"target {policy.target_per_pod} per pod"
    )
    if replicas > current:
        return "ScaledUp", f"{load}: {moved}"
    if replicas < current:
        return "ScaledDown", f"{load}: {moved}"
    if raw > policy.max_replicas:
        return "AtMaxReplicas", f"{load}: {raw} replicas needed, maxReplicas is {policy.max_replicas}"
    if recommended < replicas:
        return (
            "ScaleDownDelayed",
            f"{load}: {recommended} replicas would do; keeping {replicas} until the need has been "
            f"lower for {policy.scale_down_window:.0f}s",
        )
    return "WithinTarget", f"{load}: {moved}"
