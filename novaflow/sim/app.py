"""The FastAPI application of the simulated cloud: routers, error shapes, headers, ticker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from email.utils import format_datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class OpenStackHeaders:
    """Headers every OpenStack answer carries: the microversion answered, a request id, and
    Date on the simulated clock (the clock of every timestamp in the API, so a client can
    take it as "now" for changes-since).

    Plain ASGI: Starlette's `@app.middleware("http")` runs each request through a task and a
    memory stream, a third of the sim's CPU per Placement inventory read."""

    def __init__(self, app: ASGIApp, cloud: SimCloud) -> None:
        self.app = app
        self.cloud = cloud

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        compute = scope["path"].startswith("/compute")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                service, version = state.get("microversion_service"), state.get("microversion")
                if service and version:
                    headers.update(microversion.response_headers(service, version))
                headers["Date"] = format_datetime(self.cloud.time(self.cloud.now), usegmt=True)
                request_id = f"req-{uuid.uuid4()}"
                headers["x-openstack-request-id"] = request_id
                if compute:
                    headers["x-compute-request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except NovaError as exc:  # raised outside a route's handler chain
            await JSONResponse(exc.body(), status_code=exc.code)(scope, receive, send_with_headers)


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

    app.add_middleware(OpenStackHeaders, cloud=cloud)
    return app
