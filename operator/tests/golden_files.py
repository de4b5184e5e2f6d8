"""Golden files: rendered manifests compared with committed YAML.

Regenerate after an intended change with `PARLEY_UPDATE_GOLDEN=1 pytest operator/tests`, then read
the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE_ENV = "PARLEY_UPDATE_GOLDEN"


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(objs: list[dict[str, Any]]) -> str:
    return yaml.dump_all(objs, Dumper=_NoAliases, sort_keys=True, width=110)


def check_golden(name: str, objs: list[dict[str, Any]]) -> None:
    path = GOLDEN_DIR / f"{name}.yaml"
    text = dump(objs)
    if os.environ.get(UPDATE_ENV) == "1":
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with {UPDATE_ENV}=1 to create it"
    assert path.read_text() == text, (
        f"{path} differs from the rendering; if intended, run with {UPDATE_ENV}=1"
    )
