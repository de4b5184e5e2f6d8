"""Pictures of the Grafana dashboards without Grafana (AGPL: not used here): every panel's PromQL
is run as a range query against a real Prometheus and plotted with matplotlib, panel by panel in
the dashboard's order, titles and units as in the dashboard. It is not Grafana's rendering: it
shows what each panel's queries return, not how Grafana would draw them.

    .venv/bin/python observability/snapshots.py PROMETHEUS_URL OUT_DIR [--minutes 10]

bench/pipeline.py --pictures DIR runs it at the end of a run, against a Prometheus of its own that
scraped the run's processes every second.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

DASHBOARDS = Path(__file__).resolve().parents[1] / "charts" / "parley" / "dashboards"
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def _legend(fmt: str, labels: dict[str, str]) -> str:
    if not fmt:
        return ",".join(f"{k}={v}" for k, v in labels.items() if k != "__name__") or "value"
    return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), fmt)


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{prometheus}/api/v1/query_range",
        params={"query": expr, "start": start, "end": end, "step": step},
        timeout=30,
    )
    body = response.json()
    if body.get("status") != "success":
        raise ValueError(f"{expr!r}: {body.get('error')}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def render(prometheus: str, out: Path, start: float, end: float, rate_window: str = "30s") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    step = max(1.0, (end - start) / 300)
    written = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        panels = [p for p in dashboard["panels"] if p.get("targets")]
        cols = 2
        rows = (len(panels) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(12, 3.2 * rows), squeeze=False)
        for ax in axes.flat[len(panels) :]:
            ax.axis("off")
        for ax, panel in zip(axes.flat, panels, strict=False):
            unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
            ax.set_title(f"{panel['title']}" + (f"  [{unit}]" if unit else ""), fontsize=10)
            plotted = 0
            for target in panel["targets"]:
                expr = target["expr"].replace("$__rate_interval", rate_window)
                for series in query_range(prometheus, expr, start, end, step):
                    xs = [datetime.fromtimestamp(float(t)) for t, _ in series["values"]]
                    ys = [float(v) for _, v in series["values"]]
                    label = _legend(target.get("legendFormat", ""), series["metric"])
                    if panel["type"] == "stat":
                        ax.text(0.5, 0.5, f"{ys[-1]:g}", ha="center", va="center", fontsize=28)
                        ax.set_xticks([])
                        ax.set_yticks([])
                    else:
                        ax.plot(xs, ys, label=label, linewidth=1.2)
                    plotted += 1
            if plotted == 0:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", color="grey")
            elif panel["type"] != "stat":
                ax.legend(fontsize=7, loc="upper left")
                ax.tick_params(labelsize=7)
                ax.set_ylim(bottom=0)
        fig.suptitle(
            f"{dashboard['title']} (PromQL results plotted with matplotlib, not Grafana)", fontsize=12
        )
        fig.tight_layout()
        target_file = out / f"dashboard-{path.stem}.png"
        fig.savefig(target_file, dpi=80)
        plt.close(fig)
        written.append(target_file)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("prometheus")
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    end = time.time()
    for path in render(args.prometheus, args.out, end - args.minutes * 60, end):
        print(path)


if __name__ == "__main__":
    main()
