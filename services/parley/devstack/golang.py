"""Building Go programs from the Go module proxy into the cache, with one module and build cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from parley.devstack import process
from parley.devstack.errors import MissingToolError
from parley.devstack.paths import Paths


def go_binary() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if found is None:
        raise MissingToolError("go", "install the Go toolchain (https://go.dev/doc/install) and retry")
    return found


def go_env(paths: Paths) -> dict[str, str]:
    """Module and build caches under ~/.cache/parley so a cold start is one place to delete."""
    return {
        "GOMODCACHE": str(paths.cache / "go" / "mod"),
        "GOCACHE": str(paths.cache / "go" / "build"),
        "GOPATH": str(paths.cache / "go" / "path"),
        "GOFLAGS": "-mod=mod",
        "CGO_ENABLED": os.environ.get("CGO_ENABLED", "0"),
    }


def go_install(paths: Paths, package: str, version: str, name: str, log_file: Path) -> Path:
    """`go install package@version` into a versioned bin dir; returns the binary (cached)."""
    bindir = paths.builds / "bin" / f"{name}-{version}"
    binary = bindir / name
    if binary.exists():
        return binary
    bindir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **go_env(paths), "GOBIN": str(bindir)}
    process.run([go_binary(), "install", f"{package}@{version}"], log_file=log_file, env=env)
    built = bindir / Path(package).name
    if built != binary:
        built.rename(binary)
    return binary
