"""Serve a SimCloud with uvicorn on 127.0.0.1, in the foreground or in a background thread."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from novaflow.sim.app import create_app
from novaflow.sim.resets import ConnectionResets
from novaflow.sim.state import SimCloud

HOST = "127.0.0.1"


def _config(cloud: SimCloud, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        ConnectionResets(create_app(cloud), cloud),
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        date_header=False,
        timeout_graceful_shutdown=1,
    )


def bind(port: int) -> socket.socket:
    """A loopback listening socket; TCP_NODELAY avoids 40 ms delayed-ACK stalls on keep-alive."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((HOST, port))
    return sock


def serve_forever(cloud: SimCloud, port: int) -> None:
    """Block serving the sim until interrupted (Ctrl-C)."""
    sock = bind(port)
    try:
        uvicorn.Server(_config(cloud, port)).run(sockets=[sock])
    finally:
        sock.close()


class BackgroundServer:
    """uvicorn in a daemon thread on a loopback port (0 picks a free one)."""

    def __init__(self, cloud: SimCloud, port: int = 0) -> None:
        self._sock = bind(port)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self._server = uvicorn.Server(_config(cloud, self.port))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            daemon=True,
            name=f"novaflow-sim-{self.port}",
        )

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"simulated cloud did not start on {self.url}")
            time.sleep(0.005)

    def stop(self, wait: bool = False) -> None:
        """Ask uvicorn to exit (it closes the socket); `wait` blocks until it has (~0.2 s)."""
        self._server.should_exit = True
        if wait:
            self._thread.join(timeout=5)
