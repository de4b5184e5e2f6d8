"""`parley`: one CLI for every role this package runs in."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from parley.devstack.cli import app as dev_app
from parley.serve import SERVICES

app = typer.Typer(help="Parley chat platform.", no_args_is_help=True)
app.add_typer(dev_app, name="dev")


@app.command()
def serve(
    service: Annotated[str | None, typer.Argument(help="Service to run; omit to list them.")] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
) -> None:
    """Run one service (an ASGI app from its factory) under uvicorn."""
    if service is None:
        print("services:", ", ".join(SERVICES) or "(none built yet)")
        return
    if service not in SERVICES:
        typer.secho(
            f"error: unknown service {service!r}; known: {', '.join(SERVICES) or 'none'}",
            fg="red",
            err=True,
        )
        raise typer.Exit(code=2)
    import uvicorn

    module, factory = SERVICES[service].split(":")
    importlib.import_module(module)
    uvicorn.run(f"{module}:{factory}", factory=True, host=host, port=port)


def main() -> None:
    app()
