"""`helm lint --strict` of both charts, with the default values and every values file under ci/."""

from __future__ import annotations

from pathlib import Path

import pytest
from chartkit import OPERATOR_CHART, PLATFORM_CHART, Helm, values_files, values_id

CASES = [(chart, values) for chart in (OPERATOR_CHART, PLATFORM_CHART) for values in values_files(chart)]


@pytest.mark.kube
@pytest.mark.parametrize(("chart", "values"), CASES, ids=[f"{c.name}-{values_id(v)}" for c, v in CASES])
def test_lint_strict(helm: Helm, chart: Path, values: Path | None) -> None:
    result = helm.run("lint", "--strict", str(chart), *Helm.value_args(values), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout


@pytest.mark.kube
def test_lint_catches_a_broken_chart(helm: Helm, tmp_path: Path) -> None:
    """The linter is not a rubber stamp: a template that renders invalid YAML fails."""
    broken = tmp_path / "broken"
    (broken / "templates").mkdir(parents=True)
    (broken / "Chart.yaml").write_text("apiVersion: v2\nname: broken\nversion: 0.1.0\n")
    (broken / "values.yaml").write_text("a: 1\n")
    (broken / "templates" / "cm.yaml").write_text("kind: ConfigMap\nmetadata:\n  name: {{ .Values.a }\n")
    result = helm.run("lint", "--strict", str(broken), check=False)
    assert result.returncode != 0
