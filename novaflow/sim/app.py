"""The FastAPI application of the simulated cloud: routers, error shapes, headers, ticker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import format_datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from novaflow.sim import metrics, microversion
from novaflow.sim.api import (
    actions,
    control,
    flavors,
    identity,
    image,
    infra,
    instance_actions,
    migrations,
    placement,
    servers,
    versions,
)
from novaflow.sim.errors import NovaError
from novaflow.sim.state import SimCloud

TICK_SECONDS = 0.05


def create_app(cloud: SimCloud) -> FastAPI:
    """An ASGI app serving `cloud`; run it with uvicorn (see `novaflow.sim.runner`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def tick() -> None:
            # Scheduled events (e.g. a service going down) happen even when nobody asks.
            while True:
                await asyncio.sleep(TICK_SECONDS)
                cloud.advance()

        task = asyncio.create_task(tick())
        try:
            yield
        finally:
            task.cancel()

    app = FastAPI(
        title="novaflow simulated OpenStack",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/sim/openapi.json",
    )
    app.state.cloud = cloud
    for module in (
        identity,
        versions,
        servers,
        actions,
        instance_actions,
        migrations,
        infra,
        flavors,
        placement,
        image,
        control,
        metrics,
    ):
        app.include_router(module.router)

    @app.exception_handler(NovaError)
    async def nova_error(request: Request, exc: NovaError) -> JSONResponse:
        headers = {}
        if exc.code == 401:
            headers["WWW-Authenticate"] = f'Keystone uri="{request.base_url}identity"'
        return JSONResponse(exc.body(), status_code=exc.code, headers=headers)

    @app.middleware("http")
    async def openstack_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        try:
            response = await call_next(request)
        except NovaError as exc:  # raised outside a route's handler chain
            response = JSONResponse(exc.body(), status_code=exc.code)
        service = getattr(request.state, "microversion_service", None)
        version = getattr(request.state, "microversion", None)
        if service and version:
            response.headers.update(microversion.response_headers(service, version))
        # Date is the simulated clock, the same clock as every timestamp in the API, so a
        # client can take it as "now" for changes-since.
        response.headers["Date"] = format_datetime(cloud.time(cloud.now), usegmt=True)
        request_id = f"req-{uuid.uuid4()}"
        response.headers["x-openstack-request-id"] = request_id
        if request.url.path.startswith("/compute"):
            response.headers["x-compute-request-id"] = request_id
        return response

    return app
