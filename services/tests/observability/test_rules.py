"""The platform's Prometheus rules are valid, and its alerts do what their unit tests say
(`promtool check rules`, `promtool test rules`: Debian's promtool, which the dev stack's
prometheus component installs)."""

from __future__ import annotations

import subprocess
from pathlib import Path

RULES = Path(__file__).resolve().parents[3] / "observability" / "prometheus"


def _promtool(prometheus_server: dict[str, str], *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [prometheus_server["promtool"], *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_rule_files_are_valid(prometheus_server: dict[str, str]) -> None:
    files = sorted(str(p) for p in (RULES / "rules").glob("*.yaml"))
    assert files
    out = _promtool(prometheus_server, "check", "rules", *files, cwd=RULES)
    assert "SUCCESS" in out


def test_the_alerts_fire_and_resolve_as_their_unit_tests_say(prometheus_server: dict[str, str]) -> None:
    tests = sorted(str(p) for p in (RULES / "tests").glob("*.test.yaml"))
    assert tests
    out = _promtool(prometheus_server, "test", "rules", *tests, cwd=RULES / "tests")
    assert "SUCCESS" in out and "FAILED" not in out


def test_a_broken_alert_test_fails(prometheus_server: dict[str, str], tmp_path: Path) -> None:
    """promtool really checks: an expectation that does not hold makes it fail."""
    broken = (
        (RULES / "tests" / "alerts.test.yaml").read_text().replace("severity: critical", "severity: info", 1)
    )
    (tmp_path / "rules").symlink_to(RULES / "rules")
    sub = tmp_path / "tests"
    sub.mkdir()
    (sub / "broken.test.yaml").write_text(broken)
    result = subprocess.run(
        [prometheus_server["promtool"], "test", "rules", "broken.test.yaml"],
        cwd=sub,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr
