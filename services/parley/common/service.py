"""The FastAPI app every service starts from: error shape, body limit, telemetry, health."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from parley import __version__
from parley.common.errors import ERROR_RESPONSES, install_error_handlers
from parley.common.limits import BodySizeLimit
from parley.common.settings import BaseServiceSettings
from parley.common.telemetry import install_telemetry


def new_app(
    settings: BaseServiceSettings,
    *,
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
) -> FastAPI:
    app = FastAPI(
        title=title,
        description=description,
        version=__version__,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    install_error_handlers(app)
    # Outermost last: request ids and metrics see even a 413 from the body limit.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    install_telemetry(app, settings.service_name)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
