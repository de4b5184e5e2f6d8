"""`parley`: one CLI for every role this package runs in."""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from parley.serve import OWN_SERVER, SERVICES

app = typer.Typer(help="Parley chat platform.", no_args_is_help=True)

try:
    from parley.devstack.cli import app as dev_app
except ImportError as missing:  # the production image: no dev stack, none of its dependencies
    _dev_missing = missing

    @app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )
    def dev() -> None:
        """The local dev stack: not in this installation (install `parley[dev]` from a checkout)."""
        typer.secho(
            "error: `parley dev` needs the dev stack, which this installation does not have (the "
            "production image leaves it out). From a checkout of the repository run `make dev`, or "
            f"install the package with its `dev` extra: parley[dev]. ({_dev_missing})",
            fg="red",
            err=True,
        )
        raise typer.Exit(code=2)

else:
    app.add_typer(dev_app, name="dev")
auth_app = typer.Typer(help="Tools of the auth service.", no_args_is_help=True)
app.add_typer(auth_app, name="auth")
search_app = typer.Typer(help="Tools of the search service.", no_args_is_help=True)
app.add_typer(search_app, name="search")


@app.command()
def serve(
    service: Annotated[str | None, typer.Argument(help="Service to run; omit to list them.")] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
) -> None:
    """Run one service: an ASGI app from its factory under uvicorn, or a service's own server."""
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
    from parley.common.logs import configure_logging
    from parley.common.settings import BaseServiceSettings
    from parley.common.tracing import setup_tracing

    # The services' own loggers (parley.*) at PARLEY_LOG_LEVEL, as JSON lines with the trace id
    # unless PARLEY_LOG_FORMAT=text; uvicorn configures only its own. Traces when configured.
    base = BaseServiceSettings()
    configure_logging(base.log_level, base.log_format)
    setup_tracing(base, service)
    module, target = SERVICES[service].split(":")
    if service in OWN_SERVER:
        getattr(importlib.import_module(module), target)(host=host, port=port)
        return
    import uvicorn

    importlib.import_module(module)
    uvicorn.run(f"{module}:{target}", factory=True, host=host, port=port)


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    sql: Annotated[bool, typer.Option(help="Print the SQL instead of running it.")] = False,
) -> None:
    """Bring the database schema to REVISION (database from PARLEY_POSTGRES_DSN or its _FILE).

    Safe to run again and from several processes at once; the operator runs it as a Job
    before a version rolls out."""
    from parley.common.settings import BaseServiceSettings
    from parley.migrations import runner

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    runner.upgrade(BaseServiceSettings().postgres_dsn.get_secret_value(), revision, sql=sql)


@auth_app.command()
def keygen(
    directory: Annotated[Path, typer.Argument(help="Signing-keys directory (PARLEY_AUTH_SIGNING_KEYS_DIR).")],
    kid: Annotated[str | None, typer.Option(help="Key id; default: from the current UTC time.")] = None,
    activate: Annotated[bool, typer.Option(help="Also make it the signing key (active-kid).")] = False,
) -> None:
    """Write a new RSA signing key as DIRECTORY/<kid>.pem (see docs/auth.md for rotation)."""
    from parley.auth.keys import ACTIVE_KID_FILE, generate_pem, load_pem, new_kid

    kid = kid or new_kid()
    pem = generate_pem()
    load_pem(kid, pem, "new key")  # validates the kid
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{kid}.pem"
    if path.exists():
        typer.secho(f"error: {path} exists", fg="red", err=True)
        raise typer.Exit(code=1)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    if activate:
        (directory / ACTIVE_KID_FILE).write_text(kid + "\n")
    print(kid)


@search_app.command()
def reindex(
    keep_old: Annotated[bool, typer.Option(help="Keep the previous generation after the swap.")] = False,
) -> None:
    """Build a new messages index from PostgreSQL, catch it up from Kafka, swap the alias (no downtime).

    Settings as `parley serve search` takes them (PARLEY_OPENSEARCH_URL, PARLEY_POSTGRES_DSN, the
    Kafka settings); see docs/search.md."""
    import asyncio

    from parley.search.cli import run_reindex

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(asyncio.run(run_reindex(keep_old=keep_old)))


def main() -> None:
    app()
