"""The web client in the dev stack: build frontend/ (npm ci + vite build, both cached), then serve
the build with `parley serve web`."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import httpx

from parley.devstack import process
from parley.devstack.components.service import ServiceProcess
from parley.devstack.errors import DevStackError, MissingToolError

# services/parley/devstack/components/web.py -> the repository's frontend/
FRONTEND = Path(__file__).resolve().parents[4] / "frontend"
# What the build reads; a change to any of them builds again.
BUILD_INPUTS = ("package.json", "package-lock.json", "index.html", "vite.config.ts", "tsconfig.json", "src")
# Vite 8 wants Node 20.19 or later (Debian bookworm's own nodejs is 18: too old).
NODE_MINIMUM = (20, 19)
LOCK_MARK = ".parley-lock.sha256"
BUILD_MARK = ".parley-build.sha256"


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            h.update(str(f.relative_to(FRONTEND)).encode())
            h.update(b"\0")
            h.update(f.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def _check_node() -> None:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        raise MissingToolError("node", f"install Node.js {'.'.join(map(str, NODE_MINIMUM))}+ with npm")
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    version = tuple(int(part) for part in out.strip().lstrip("v").split(".")[:2])
    if version < NODE_MINIMUM:
        raise DevStackError(
            f"Node.js {out.strip()} is too old for the web client's build: "
            f"{'.'.join(map(str, NODE_MINIMUM))} or later is needed"
        )


def _marked(path: Path, digest: str) -> bool:
    return path.is_file() and path.read_text().strip() == digest


def _npm(cache: Path, log_file: Path, *args: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DevStackError("npm is not on PATH")
    env = {
        **os.environ,
        # npm's download cache with the stack's other downloads.
        "npm_config_cache": str(cache / "npm"),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }
    process.run([npm, *args], log_file=log_file, cwd=FRONTEND, env=env)


def install_packages(cache: Path, log_file: Path) -> bool:
    """The client's packages, by `npm ci` when the lock file changed; True when it ran."""
    _check_node()
    lock = _digest([FRONTEND / "package-lock.json"])
    if _marked(FRONTEND / "node_modules" / LOCK_MARK, lock):
        return False
    _npm(cache, log_file, "ci")
    (FRONTEND / "node_modules" / LOCK_MARK).write_text(lock + "\n")
    return True


def build_client(cache: Path, log_file: Path) -> Path:
    """frontend/dist, built again when any of its sources changed since the last build (the dev
    stack serves it; `parley dev images` copies it into the services image)."""
    install_packages(cache, log_file)
    dist = FRONTEND / "dist"
    digest = _digest([FRONTEND / name for name in BUILD_INPUTS])
    if not _marked(dist / BUILD_MARK, digest):
        _npm(cache, log_file, "run", "build")
        (dist / BUILD_MARK).write_text(digest + "\n")
    return dist


class WebClient(ServiceProcess):
    name = "svc-web"
    service = "web"
    requires = ()
    start_timeout = 30.0

    @property
    def dist(self) -> Path:
        return FRONTEND / "dist"

    def install(self) -> None:
        self.ui.step(self.name, "npm ci when the lock file changed")
        install_packages(self.paths.cache, self.setup_log)

    def prepare(self) -> None:
        self.ui.step(self.name, "vite build when a source changed")
        build_client(self.paths.cache, self.setup_log)

    def healthy(self) -> bool:
        # Ready, not only alive: the build is there to serve.
        return httpx.get(f"{self.endpoints()['url']}/readyz", timeout=2).status_code == 200

    def _env(self) -> dict[str, str]:
        return {**super()._env(), "PARLEY_WEB_DIST_DIR": str(self.dist)}
