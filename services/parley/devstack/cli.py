"""`parley dev …`: drive the dev stack from a shell."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from parley.devstack.component import State
from parley.devstack.errors import DevStackError
from parley.devstack.registry import COMPONENTS, PROFILES, resolve
from parley.devstack.stack import Stack
from parley.devstack.wipe import wipe

app = typer.Typer(help="Run Parley's real backing servers (and services) on loopback.", no_args_is_help=True)

Targets = Annotated[
    list[str] | None,
    typer.Argument(
        help=f"Profiles ({', '.join(PROFILES)}) or components ({', '.join(COMPONENTS)}); default: all."
    ),
]


def _targets(targets: list[str] | None) -> list[str]:
    return targets or ["all"]


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg="red", err=True)
    return typer.Exit(code=1)


@app.command()
def up(targets: Targets = None) -> None:
    """Install (cached), start and health-check components, then print where to reach them."""
    stack = Stack()
    try:
        stack.up(_targets(targets))
    except (DevStackError, ValueError) as exc:
        raise _fail(exc) from exc
    _print_status(stack, _targets(targets))
    _print_address(stack, _targets(targets))


@app.command()
def down(
    targets: Targets = None,
    wipe_data: Annotated[
        bool,
        typer.Option(
            "--wipe",
            help="Then delete every component's data (what they left mounted is unmounted first): "
            "the next `up` starts fresh. Downloads and builds are kept. Only for the whole stack.",
        ),
    ] = False,
) -> None:
    """Stop components (all by default); data directories are kept unless --wipe."""
    if wipe_data and targets:
        raise _fail(ValueError("--wipe stops and wipes the whole stack: name no components"))
    stack = Stack()
    try:
        stack.down(_targets(targets))
        if wipe_data:
            for path in wipe(stack.paths):
                typer.echo(f"deleted {path}")
    except (DevStackError, ValueError) as exc:
        raise _fail(exc) from exc


@app.command()
def status(
    targets: Targets = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Say, per component, whether it is up and healthy. Exit code 1 when any is not."""
    stack = Stack()
    try:
        statuses = stack.status(_targets(targets))
    except ValueError as exc:
        raise _fail(exc) from exc
    if as_json:
        print(
            json.dumps(
                [
                    {"name": s.name, "state": s.state.value, "pid": s.pid, "endpoints": s.endpoints}
                    for s in statuses
                ],
                indent=2,
            )
        )
    else:
        _print_status(stack, _targets(targets))
    if any(s.state is not State.UP for s in statuses):
        raise typer.Exit(code=1)


@app.command()
def logs(
    component: Annotated[str, typer.Argument(help="Component name.")],
    follow: Annotated[bool, typer.Option("-f", "--follow")] = False,
    lines: Annotated[int, typer.Option("-n", "--lines")] = 50,
) -> None:
    """Show a component's log file."""
    if component not in COMPONENTS:
        raise _fail(ValueError(f"unknown component {component!r}; known: {', '.join(COMPONENTS)}"))
    log = Stack().component(component).log_file
    if not log.exists():
        raise _fail(FileNotFoundError(f"no log yet at {log}"))
    argv = ["tail", "-n", str(lines), *(["-F"] if follow else []), str(log)]
    sys.exit(subprocess.call(argv))


@app.command()
def images(
    tag: Annotated[str, typer.Option("--tag", help="Tag of both images.")] = "dev",
    load: Annotated[
        bool, typer.Option("--load/--no-load", help="Also import them into the real node's containerd.")
    ] = False,
) -> None:
    """Build localhost/parley:TAG and localhost/parley-operator:TAG with podman on a Debian base
    made here (no registry needed); print their sizes and build times."""
    from parley.devstack import images as built

    stack = Stack()
    log = stack.paths.logs / "images.log"
    repo = Path(__file__).resolve().parents[3]
    try:
        timings = built.build_images(stack.paths, repo, tag, log)
        if load:
            stack.load_images([f"localhost/{spec.name}:{tag}" for spec in built.IMAGES])
    except DevStackError as exc:
        raise _fail(exc) from exc
    for name, seconds in timings.items():
        size = built.image_size(stack.paths, f"localhost/{name}:{tag}")
        print(f"localhost/{name}:{tag}  {size / 1e6:.0f} MB  built in {seconds:.0f}s")
    print(f"log: {log}")


@app.command()
def env() -> None:
    """Print the settings (PARLEY_*=…) that point services at the running stack."""
    stack = Stack()
    stack.write_endpoints()
    print((stack.paths.state / "dev.env").read_text(), end="")


def _print_address(stack: Stack, targets: list[str]) -> None:
    """The one address a person opens, last, where it cannot be missed."""
    if "envoy" not in resolve(targets):
        return
    envoy = stack.component("envoy").status()
    if envoy.state is State.UP:
        typer.secho(f"\nParley is up: open {envoy.endpoints['url']}", fg="green", bold=True)


def _print_status(stack: Stack, targets: list[str]) -> None:
    marks = {State.UP: "✔", State.DOWN: "·", State.UNHEALTHY: "✘", State.FOREIGN: "!"}
    for st in stack.status(targets):
        print(f"{marks[st.state]} {st.name:<24} {st.state.value}")
        for key, value in st.endpoints.items():
            print(f"      {key:<14} {value}")
    print(f"\nlogs: {stack.paths.logs}   settings: {stack.paths.state / 'dev.env'}")
