"""How fast the operator brings ChatPlatforms up, and what it costs, on the dev stack.

    .venv/bin/python bench/kube_operator.py [--count 50] [--single 3] [--json]

Starts (or reuses) the dev cluster, Kafka, the S3 server and OpenSearch, runs the operator as its
own process with its default timings, and prints:
  - seconds from creating one ChatPlatform to Ready (median of --single runs, each one alone; the
    namespace and its Secrets are made before the clock starts);
  - for --count ChatPlatforms created at once (one namespace each): seconds until the first and
    the last is Ready, the operator's resident memory before, at its peak and after, and the CPU
    seconds it used;
  - seconds to delete them all (deletionPolicy Delete: topics, bucket and index removed).
Everything the benchmark makes is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import kubernetes
from parley.devstack.components.kube.cluster import api_client
from parley.devstack.stack import Stack
from parley.testing.chatplatforms import (
    Platforms,
    condition,
    create_infra_secrets,
    install_crd,
    is_current_and_ready,
    platform_spec,
    remove_external_resources,
    wait_for,
)
from parley.testing.operator_process import OperatorProcess

# Small pods: 50 installations of nine services must fit the fake nodes.
SERVICE = {"replicas": 1, "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}
READY_TIMEOUT = 600.0
# The operator watches the benchmark's namespaces by a glob: it starts watching each new namespace
# when it sees it. The namespaces (and their Secrets) are the benchmark's preparation: the clock
# starts once they are watched, with each ChatPlatform's creation.
WATCH_SETTLE_SECONDS = 5.0


class Memory:
    """Samples the operator's resident memory (and its CPU seconds) in the background."""

    def __init__(self, operator: OperatorProcess, every: float = 0.2) -> None:
        self.operator = operator
        self.every = every
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, self.operator.memory_kib()[0])
            self._stop.wait(self.every)

    def __enter__(self) -> Memory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds(operator: OperatorProcess) -> float:
    assert operator.process is not None
    fields = Path(f"/proc/{operator.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / 100.0  # USER_HZ


class Bench:
    def __init__(self, api: Any, endpoints: dict[str, dict[str, str]], prefix: str) -> None:
        self.api = api
        self.core: Any = kubernetes.client.CoreV1Api(api)
        self.platforms = Platforms(api, reapply_crd=False)
        self.kafka = endpoints["kafka"]["bootstrap"]
        self.s3 = endpoints["s3"]
        self.opensearch = endpoints["opensearch"]["url"]
        self.prefix = prefix
        self.namespaces: list[str] = []

    def namespace(self) -> str:
        name = f"{self.prefix}{len(self.namespaces):03d}"
        self.core.create_namespace({"metadata": {"name": name, "labels": {"parley.dev/bench": "true"}}})
        create_infra_secrets(self.api, name, self.s3, self.opensearch)
        self.namespaces.append(name)
        return name

    def spec(self) -> dict[str, Any]:
        spec = platform_spec(self.kafka)
        spec["services"] = {name: dict(SERVICE) for name in spec["services"]}
        return spec

    def ready(self, namespace: str) -> bool:
        platform = self.platforms.get(namespace, "chat")
        return platform is not None and is_current_and_ready(platform)

    def one(self) -> float:
        namespace = self.namespace()
        time.sleep(WATCH_SETTLE_SECONDS)
        start = time.monotonic()
        self.platforms.create(namespace, "chat", self.spec())
        wait_for(lambda: self.ready(namespace), READY_TIMEOUT, f"{namespace}/chat Ready", interval=0.05)
        return time.monotonic() - start

    def many(self, count: int) -> tuple[list[float], float]:
        """(seconds to Ready of each, seconds for them all)."""
        namespaces = [self.namespace() for _ in range(count)]
        spec = self.spec()
        time.sleep(WATCH_SETTLE_SECONDS)
        start = time.monotonic()
        for namespace in namespaces:
            self.platforms.create(namespace, "chat", spec)
        done: dict[str, float] = {}

        def all_ready() -> bool:
            for namespace in namespaces:
                if namespace not in done and self.ready(namespace):
                    done[namespace] = time.monotonic() - start
            return len(done) == len(namespaces)

        wait_for(all_ready, READY_TIMEOUT, f"{count} platforms Ready", interval=0.5)
        return sorted(done.values()), time.monotonic() - start

    def reporting_lag(self) -> list[float]:
        """Per platform: seconds from its last Deployment becoming Available (the cluster's part:
        scheduler, kwok, controllers) to its Ready condition (the operator noticing). One-second
        resolution, from the objects' own condition times."""
        apps: Any = kubernetes.client.AppsV1Api(self.api)
        lags = []
        for namespace in self.namespaces:
            platform = self.platforms.get(namespace, "chat")
            if platform is None:
                continue
            ready = condition(platform, "Ready").get("lastTransitionTime")
            available = [
                c.last_transition_time
                for dep in apps.list_namespaced_deployment(namespace).items
                for c in dep.status.conditions or []
                if c.type == "Available" and c.status == "True"
            ]
            if ready and available:
                lags.append((datetime.fromisoformat(ready) - max(available)).total_seconds())
        return sorted(lags)

    def delete_all(self) -> float:
        start = time.monotonic()
        for namespace in self.namespaces:
            self.platforms.delete(namespace, "chat")
        for namespace in self.namespaces:
            self.platforms.wait_gone(namespace, "chat", timeout=READY_TIMEOUT)
        return time.monotonic() - start

    def clean(self) -> None:
        """While the operator runs: it finalizes (Delete policy); whatever is left goes by hand."""
        present = [ns for ns in self.namespaces if self.platforms.get(ns, "chat") is not None]
        for namespace in present:
            self.platforms.delete(namespace, "chat")
        for namespace in present:
            try:
                self.platforms.wait_gone(namespace, "chat", timeout=60)
            except AssertionError:
                self.platforms.remove_finalizers(namespace, "chat")
        for namespace in self.namespaces:
            asyncio.run(remove_external_resources(namespace, self.kafka, self.s3, self.opensearch))
            self.core.delete_namespace(namespace, propagation_policy="Background")


@contextmanager
def running_operator(kubeconfig: Path, prefix: str, log: Path) -> Iterator[OperatorProcess]:
    # The defaults of a real deployment: a full resync every 300s, socket scaling every 15s.
    operator = OperatorProcess(kubeconfig, [f"{prefix}*"], log, resync_seconds=300, scale_seconds=15)
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--count", type=int, default=50, help="platforms created at once (default 50)")
    parser.add_argument("--single", type=int, default=3, help="single-platform runs (default 3)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    endpoints = Stack().up(["kube", "kafka", "s3", "opensearch"])
    kubeconfig = Path(endpoints["kube-apiserver"]["kubeconfig"])
    prefix = f"bench-{uuid.uuid4().hex[:6]}-"
    log = Path(tempfile.mkdtemp(prefix="parley-bench-")) / "operator.log"
    results: dict[str, Any] = {}
    with api_client(kubeconfig) as api:
        install_crd(api)
        bench = Bench(api, endpoints, prefix)
        with running_operator(kubeconfig, prefix, log) as operator:
            try:
                singles = [bench.one() for _ in range(args.single)]
                results["single_apply_to_ready_seconds"] = [round(s, 2) for s in singles]
                results["single_median_seconds"] = round(statistics.median(singles), 2)
                idle_kib = operator.memory_kib()[0]
                cpu_before = cpu_seconds(operator)
                with Memory(operator) as memory:
                    each, total = bench.many(args.count)
                lags = bench.reporting_lag()
                results["many"] = {
                    "count": args.count,
                    "first_ready_seconds": round(each[0], 2),
                    "median_ready_seconds": round(statistics.median(each), 2),
                    "all_ready_seconds": round(total, 2),
                    "operator_rss_before_mib": round(idle_kib / 1024, 1),
                    "operator_rss_peak_mib": round(memory.peak_kib / 1024, 1),
                    "operator_rss_after_mib": round(operator.memory_kib()[0] / 1024, 1),
                    "operator_cpu_seconds": round(cpu_seconds(operator) - cpu_before, 1),
                    "last_deployment_available_to_ready_seconds": {
                        "median": statistics.median(lags) if lags else None,
                        "max": max(lags) if lags else None,
                    },
                }
                results["delete_all_seconds"] = round(bench.delete_all(), 2)
            finally:
                bench.clean()
    results["operator_log"] = str(log)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        many = results["many"]
        print(
            f"one ChatPlatform, apply -> Ready: {results['single_median_seconds']} s (median of "
            f"{results['single_apply_to_ready_seconds']})"
        )
        print(
            f"{many['count']} ChatPlatforms at once: first Ready {many['first_ready_seconds']} s, "
            f"median {many['median_ready_seconds']} s, all Ready {many['all_ready_seconds']} s"
        )
        print(
            f"operator memory (RSS): {many['operator_rss_before_mib']} MiB before, "
            f"{many['operator_rss_peak_mib']} MiB peak, {many['operator_rss_after_mib']} MiB after; "
            f"CPU {many['operator_cpu_seconds']} s"
        )
        lag = many["last_deployment_available_to_ready_seconds"]
        print(
            f"from a platform's last Deployment Available to its Ready condition: median {lag['median']} s, "
            f"max {lag['max']} s (the rest of the time is the cluster's: scheduling, kwok, controllers)"
        )
        deleted = results["delete_all_seconds"]
        print(f"deleting all {many['count']} (topics, buckets, indices removed): {deleted} s")
        print(f"operator log: {log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
