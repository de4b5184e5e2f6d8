"""A Prometheus server of a test's own (Debian's binary, as the dev stack's): its own port, data
directory and short scrape and evaluation interval, scraping the processes the test started, with
the platform's rules. Stopping it, or what it scrapes, disturbs nobody else."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from parley.testing.waiting import free_port

SERVER = "/usr/bin/prometheus"
RULES_DIR = Path(__file__).resolve().parents[3] / "observability" / "prometheus" / "rules"


class PrometheusProcess:
    def __init__(
        self,
        work_dir: Path,
        targets: Sequence[tuple[str, str, Mapping[str, str]]],
        *,
        interval: str = "1s",
        rules_dir: Path | None = RULES_DIR,
        server: str = SERVER,
    ) -> None:
        """`targets`: (host:port, metrics path, labels) of each process to scrape."""
        self.work_dir = work_dir
        self.port = free_port("127.0.0.1")
        self.server = server
        self.log_path = work_dir / f"prometheus-{self.port}.log"
        self.config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(rules_dir / "*.yaml")] if rules_dir is not None else [],
            "scrape_configs": [
                {
                    "job_name": f"t{index}",
                    "metrics_path": path,
                    "static_configs": [{"targets": [address], "labels": dict(labels)}],
                }
                for index, (address, path, labels) in enumerate(targets)
            ],
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> PrometheusProcess:
        config = self.work_dir / f"prometheus-{self.port}.yml"
        config.write_text(yaml.safe_dump(self.config))
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.server,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.work_dir / f'tsdb-{self.port}'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"prometheus not ready after {timeout} s")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result (raises when Prometheus refuses the expression)."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise ValueError(f"{promql!r}: {body.get('errorType')}: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def alerts(self, name: str) -> list[dict[str, Any]]:
        """The alerts of that name now: each with `state` pending or firing, and its labels."""
        body = httpx.get(f"{self.url}/api/v1/alerts", timeout=10).json()
        return [a for a in body["data"]["alerts"] if a["labels"].get("alertname") == name]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
