"""A fresh start: the stack's data deleted, downloads and builds kept (`parley dev down --wipe`).

Servers leave mounts under their data directories: the kubelet bind-mounts its root directory onto
itself (to make it a shared mount for pod volumes), and the pods' volumes and containerd's
snapshots are mounted below it. `rm -rf` stops at the first with "Device or resource busy", so
those are unmounted first, the deepest first."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from parley.devstack.errors import DevStackError
from parley.devstack.paths import Paths


def _unescape(field: str) -> str:
    """Mount points in /proc/self/mountinfo write space, tab, newline and backslash as octal."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mounts_under(root: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> list[Path]:
    """Mount points at or below `root`, the deepest first (each as often as it is mounted)."""
    root = root.resolve()
    found = []
    for line in mountinfo.read_text().splitlines():
        point = Path(_unescape(line.split()[4]))
        if point == root or root in point.parents:
            found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_under(root: Path) -> None:
    """Unmount everything at or below `root`."""
    for point in mounts_under(root):
        result = subprocess.run(["umount", str(point)], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise DevStackError(f"could not unmount {point}: {result.stderr.strip()}")


def wipe(paths: Paths) -> list[Path]:
    """Delete every component's data directory and pid file (the stack being down); the
    directories deleted."""
    deleted = []
    for target in (paths.state / "data", paths.pids, paths.user_state):
        if target.exists():
            unmount_under(target)
            shutil.rmtree(target)
            deleted.append(target)
    return deleted
