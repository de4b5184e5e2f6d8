"""Machine-level setup the stack needs: Debian packages and the unprivileged service user."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import threading
from pathlib import Path

from parley.devstack.errors import DevStackError, MissingToolError
from parley.devstack.paths import SERVICE_USER

_apt_updated = False
# Installs run in parallel threads; dpkg takes one client at a time.
_apt_lock = threading.Lock()


def ensure_debian_packages(packages: dict[str, str], log_file: Path) -> None:
    """Install each Debian package whose marker file (a path it ships) is missing."""
    missing = [pkg for pkg, marker in packages.items() if not Path(marker).exists()]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise MissingToolError("apt-get", f"install these packages yourself: {' '.join(missing)}")
    if os.geteuid() != 0:
        raise DevStackError(
            f"Debian packages {', '.join(missing)} are missing and installing them needs root: "
            f"run `sudo apt-get install -y {' '.join(missing)}` once, then try again."
        )
    with _apt_lock:
        _apt_install(missing, log_file)


def _apt_install(missing: list[str], log_file: Path) -> None:
    global _apt_updated
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        if not _apt_updated:
            subprocess.run(
                ["apt-get", "update", "-q"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                check=False,
            )
            _apt_updated = True
        result = subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    if result.returncode != 0:
        raise DevStackError(f"apt-get install {' '.join(missing)} failed; see {log_file}")
    # Debian starts a system-wide server on install; ours runs on its own port, so leave it be
    # but never depend on it.


def service_user() -> str | None:
    """The user that servers refusing root run as; None when we are not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
        )
    return SERVICE_USER


def chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.lchown(Path(root) / name, entry.pw_uid, entry.pw_gid)
