"""The FastAPI app every service starts from: error shape, body limit, telemetry, health.

Health: the service's lifespan puts a `parley.common.health.Health` (its named checks) in
`app.state.health`; `/healthz` runs its liveness checks, `/readyz` its readiness checks, each answering
503 with the failed check's name and reason.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from parley import __version__
from parley.common.errors import ERROR_RESPONSES, install_error_handlers
from parley.common.health import NOT_STARTED, Health, Report
from parley.common.limits import BodySizeLimit
from parley.common.settings import BaseServiceSettings
from parley.common.telemetry import install_telemetry
from parley.common.tracing import instrument_app
from parley.common.worker import Worker

log = logging.getLogger(__name__)


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
    # The app's Prometheus registry: a service's lifespan adds its own metrics to it.
    app.state.metrics = install_telemetry(app, settings.service_name)
    instrument_app(app)

    def answer(report: Report) -> JSONResponse:
        return JSONResponse(report.body(), status_code=report.status_code)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        health: Health | None = getattr(app.state, "health", None)
        return answer(await health.liveness() if health is not None else Report({}, ()))

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        health: Health | None = getattr(app.state, "health", None)
        return answer(await health.readiness() if health is not None else NOT_STARTED)

    return app


@contextlib.asynccontextmanager
async def running(
    *workers: Worker, then_close: Sequence[Callable[[], Awaitable[object]]] = ()
) -> AsyncIterator[None]:
    """A lifespan's background loops: started in the order given, stopped in the reverse order
    when the block ends (those that depend on others first); then its clients closed, each of
    `then_close` in order, every one even if one before failed."""
    started: list[Worker] = []
    try:
        for worker in workers:
            worker.start()
            started.append(worker)
        yield
    finally:
        for worker in reversed(started):
            await worker.stop()
        for close in then_close:
            try:
                await close()
            except Exception:
                log.exception("closing %s failed", getattr(close, "__qualname__", close))
