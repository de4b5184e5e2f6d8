"""A Go build that fails tells the person which log file holds the compiler's output."""

from __future__ import annotations

from pathlib import Path

import pytest
from parley.devstack.components.kube.build import build_into
from parley.devstack.errors import DevStackError
from parley.devstack.paths import Paths


def test_failed_build_raises_naming_its_log(tmp_path: Path) -> None:
    module = tmp_path / "broken"
    module.mkdir()
    (module / "go.mod").write_text("module parley.test/broken\n\ngo 1.26\n")
    (module / "main.go").write_text("package main\n\nfunc main() { undefinedName() }\n")
    log = tmp_path / "broken.setup.log"
    bindir = tmp_path / "bin" / "broken"

    with pytest.raises(DevStackError) as failed:
        build_into(Paths.from_env(), module, ["."], bindir, {}, [], log)

    assert str(log) in str(failed.value)
    assert "undefined: undefinedName" in log.read_text()
    assert not bindir.exists()
    assert not bindir.with_name("broken.partial").exists()
