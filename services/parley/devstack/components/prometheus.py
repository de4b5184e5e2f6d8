"""Prometheus, the metrics server of the dev stack: Debian's `prometheus` package (the server and
`promtool`), on loopback, with the platform's recording and alerting rules from the repository
(observability/prometheus/rules).

What it scrapes is not written by hand: the stack writes `prometheus/targets.json` (Prometheus's
file-based discovery, re-read within seconds) from every component that is up and declares
`scrape_targets()`, each target labelled `job=<component>` and, for Parley's services,
`parley_service=<service>` (the label the dashboards and rules use, as on Kubernetes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import httpx
import yaml

from parley.devstack import ports
from parley.devstack.component import Command, Component
from parley.devstack.paths import Paths
from parley.devstack.system import ensure_debian_packages

SERVER = Path("/usr/bin/prometheus")
PROMTOOL = Path("/usr/bin/promtool")
# services/parley/devstack/components/prometheus.py -> the repository's observability/
RULES_DIR = Path(__file__).resolve().parents[4] / "observability" / "prometheus" / "rules"
SCRAPE_INTERVAL = "5s"


def targets_file(paths: Paths) -> Path:
    return paths.data("prometheus") / "targets.json"


def scrape_groups(components: Iterable[Component]) -> list[dict[str, object]]:
    """Prometheus file-discovery groups for these components."""
    groups: list[dict[str, object]] = []
    for comp in components:
        for address, path in comp.scrape_targets():
            labels = {"job": comp.name, "__metrics_path__": path}
            service = getattr(comp, "service", None)
            if isinstance(service, str):
                labels["parley_service"] = service
            groups.append({"targets": [address], "labels": labels})
    return groups


def write_targets(paths: Paths, components: Iterable[Component]) -> None:
    """Written next to the file and renamed: Prometheus never reads half a file."""
    path = targets_file(paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(scrape_groups(components), indent=2) + "\n")
    partial.replace(path)


def config(targets: Path, rules_dir: Path, *, interval: str = SCRAPE_INTERVAL) -> dict[str, object]:
    """A Prometheus configuration: these rules, these file-discovered targets."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules_dir / "*.yaml")],
        "scrape_configs": [
            {
                "job_name": "parley-dev",
                "file_sd_configs": [{"files": [str(targets)], "refresh_interval": "5s"}],
            }
        ],
    }


class Prometheus(Component):
    name = "prometheus"

    @property
    def root(self) -> Path:
        return self.paths.data("prometheus")

    @property
    def config_file(self) -> Path:
        return self.root / "prometheus.yml"

    def ports(self) -> dict[str, int]:
        return {"http": ports.PROMETHEUS}

    def install(self) -> None:
        ensure_debian_packages({"prometheus": str(SERVER)}, self.setup_log)

    def prepare(self) -> None:
        (self.root / "tsdb").mkdir(parents=True, exist_ok=True)
        if not targets_file(self.paths).exists():
            write_targets(self.paths, [self])
        self.config_file.write_text(yaml.safe_dump(config(targets_file(self.paths), RULES_DIR)))

    def command(self) -> Command:
        return Command(
            [
                str(SERVER),
                f"--config.file={self.config_file}",
                f"--storage.tsdb.path={self.root / 'tsdb'}",
                "--storage.tsdb.retention.time=2d",
                f"--web.listen-address={ports.HOST}:{ports.PROMETHEUS}",
                # `POST /-/reload` after a rule file changed.
                "--web.enable-lifecycle",
            ]
        )

    def healthy(self) -> bool:
        return httpx.get(f"http://{ports.HOST}:{ports.PROMETHEUS}/-/ready", timeout=2).status_code == 200

    def scrape_targets(self) -> list[tuple[str, str]]:
        return [(f"{ports.HOST}:{ports.PROMETHEUS}", "/metrics")]

    def endpoints(self) -> dict[str, str]:
        return {"url": f"http://{ports.HOST}:{ports.PROMETHEUS}", "promtool": str(PROMTOOL)}
