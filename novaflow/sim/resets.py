"""Connection resets: close a client's connection before Nova sees a request, or after it acted.

Works at the ASGI level, around the whole app, because only there is the connection itself
reachable: uvicorn's `send` is a bound method of the request cycle that owns the transport.
"""

from __future__ import annotations

import asyncio
from typing import Any

from novaflow.sim.state import SimCloud

Scope = dict[str, Any]
FAULTED_PREFIXES = ("/compute", "/identity", "/placement", "/image")


def _drop(send: Any) -> None:
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()  # no answer, not even an error: the client sees the socket close


class ConnectionResets:
    """ASGI wrapper that applies the fault plan's `reset_rate` and `lost_reply_rate`."""

    def __init__(self, app: Any, cloud: SimCloud) -> None:
        self.app = app
        self.cloud = cloud

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(FAULTED_PREFIXES):
            await self.app(scope, receive, send)
            return
        with self.cloud.lock:
            fault = self.cloud.faults.connection_fault()
            if fault:
                self.cloud.injected_resets += 1
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault == "reset":
            _drop(send)
            await asyncio.sleep(0)  # let uvicorn notice the disconnect before we return
            return

        dropped = False

        async def swallow(message: dict[str, Any]) -> None:
            nonlocal dropped
            if not dropped:
                dropped = True
                _drop(send)

        await self.app(scope, receive, swallow)
        await asyncio.sleep(0)
