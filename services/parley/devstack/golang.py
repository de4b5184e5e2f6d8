"""Building Go programs from the Go module proxy into the cache, with one module and build cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from parley.devstack import process
from parley.devstack.errors import DevStackError, MissingToolError
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


def go_installed(paths: Paths, name: str, version: str) -> Path:
    """Where go_install puts a binary (whether or not it is there yet)."""
    return paths.builds / "bin" / f"{name}-{version}" / name


def go_install(
    paths: Paths,
    package: str,
    version: str,
    name: str,
    log_file: Path,
    *,
    ldflags: tuple[str, ...] = (),
    binary: Path | None = None,
) -> Path:
    """`go install package@version` into a versioned bin dir (or `binary`); returns the binary
    (cached)."""
    binary = binary or go_installed(paths, name, version)
    bindir = binary.parent
    if binary.exists():
        return binary
    bindir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **go_env(paths), "GOBIN": str(bindir)}
    flags = ["-ldflags", " ".join(ldflags)] if ldflags else []
    process.run([go_binary(), "install", *flags, f"{package}@{version}"], log_file=log_file, env=env)
    built = bindir / Path(package).name
    if built != binary:
        built.rename(binary)
    return binary


def go_run(paths: Paths, args: list[str], *, cwd: Path, log_file: Path) -> None:
    """Run a `go` subcommand with the cache's environment; a failure names the log file."""
    env = {**os.environ, **go_env(paths)}
    process.run([go_binary(), *args], log_file=log_file, env=env, cwd=cwd)


def go_mod_download(paths: Paths, module: str, version: str, log_file: Path) -> dict[str, str]:
    """Download module@version into the module cache (a no-op when it is there); returns what
    `go mod download -json` says about it, e.g. "Dir" (its source) and "GoMod" (its go.mod)."""
    env = {**os.environ, **go_env(paths)}
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        result = subprocess.run(
            [go_binary(), "mod", "download", "-json", f"{module}@{version}"],
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            check=False,
        )
    info: dict[str, str] = json.loads(result.stdout or b"{}")
    if result.returncode != 0 or "Dir" not in info:
        reason = info.get("Error", f"exit code {result.returncode}")
        raise DevStackError(f"go mod download {module}@{version} failed ({reason}); see {log_file}")
    return info


def wrapper_module(paths: Paths, name: str, go_mod: str) -> Path:
    """A fresh main module under the build cache, for programs `go install` cannot build (their
    go.mod has replace lines, which only take effect in the main module). Callers only come here
    when their binaries are missing, so starting from a clean go.mod costs a `go get` at most."""
    wrapper = paths.builds / "go-wrappers" / name
    wrapper.mkdir(parents=True, exist_ok=True)
    (wrapper / "go.mod").write_text(go_mod)
    (wrapper / "go.sum").unlink(missing_ok=True)
    return wrapper
