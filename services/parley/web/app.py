"""`parley serve web`: the app factory of the web client's static server.

Serves the files `vite build` wrote: content-hashed assets (`assets/…`) with a year-long immutable
cache, everything else with `no-cache` (revalidated each time, so a deploy shows at once), and
index.html for every other path that is no file (the client routes in the browser). No connection
to anything: ready as soon as the build is there.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from parley.common.health import Health, check
from parley.common.service import new_app
from parley.web.settings import WebSettings

INDEX = "index.html"
ASSETS = "assets/"


class ClientFiles(StaticFiles):
    """StaticFiles with the single-page app's fallback and cache headers."""

    def __init__(self, *, directory: os.PathLike[str], asset_max_age: int, csp: str) -> None:
        super().__init__(directory=directory, check_dir=False)
        self.asset_cache = f"public, max-age={asset_max_age}, immutable"
        self.csp = csp

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path in ("", "."):
            path = INDEX
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            # A missing asset or file with an extension is a real 404; any other path is a route
            # of the client.
            if exc.status_code != 404 or path.startswith(ASSETS) or "." in path.rsplit("/", 1)[-1]:
                raise
            path = INDEX
            response = await super().get_response(path, scope)
        if path.startswith(ASSETS):
            response.headers["Cache-Control"] = self.asset_cache
        else:
            response.headers["Cache-Control"] = "no-cache"
        if path == INDEX:
            response.headers["Content-Security-Policy"] = self.csp
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response


def create_app(settings: WebSettings | None = None) -> FastAPI:
    settings = settings or WebSettings()
    dist = settings.web_dist_dir

    async def built() -> None:
        if not (dist / INDEX).is_file():
            raise RuntimeError(f"no {INDEX} in {dist}")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # No server to depend on: ready once the build is there to serve.
        app.state.health = Health(ready=[check("build", built)])
        yield

    app = new_app(
        settings,
        title="Parley web",
        description="The web client's static files.",
        lifespan=lifespan,
    )
    app.openapi_url = None

    app.mount(
        "/",
        ClientFiles(
            directory=dist,
            asset_max_age=settings.web_asset_max_age_seconds,
            csp=settings.web_content_security_policy,
        ),
        name="client",
    )
    return app
