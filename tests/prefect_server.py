"""Start a real Prefect server on a free loopback port for tests (and point clients at it)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from deployments.server_settings import SERVER_SETTINGS
from novaflow.sim.process import free_port


def server_env(home: Path, api_url: str, database_url: str | None = None) -> dict[str, str]:
    """SQLite in `home` unless `database_url` names another database (PostgreSQL)."""
    return {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": (
            database_url or f"sqlite+aiosqlite:///{home}/prefect.db"
        ),
        "PREFECT_API_URL": api_url,
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # Free a killed run's concurrency slots within seconds of its lease expiring.
        "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "2",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        # Among them leases on disk: a restarted server still frees the slots of runs that
        # held them (in memory, they would stay taken for good).
        **SERVER_SETTINGS,  # as the README's production set-up has it
    }


_servers: dict[str, tuple[subprocess.Popen, Path, str | None]] = {}
"""Running servers by API URL, so a test can restart one in place."""


def _start(
    home: Path, timeout: float, port: int | None = None, database_url: str | None = None
) -> tuple[subprocess.Popen, str] | None:
    """One attempt on a free port (or `port`); None if another process took the port first."""
    port = port or free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    prefect = str(Path(sys.executable).with_name("prefect"))
    with (home / "server.log").open("a") as log:
        proc = subprocess.Popen(
            [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env(home, api_url, database_url),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                time.sleep(1)  # a server that lost the port race exits by now
                if proc.poll() is None:
                    return proc, api_url
        time.sleep(0.3)
    _stop(proc)
    return None


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_prefect_server(
    home: Path, timeout: float = 180, database_url: str | None = None
) -> Iterator[str]:
    """`prefect server start` in a subprocess; yields its API URL while it runs."""
    from prefect.context import refresh_global_settings_context

    for _ in range(3):
        started = _start(home, timeout, database_url=database_url)
        if started:
            break
    else:
        raise RuntimeError(f"prefect server did not start; see {home / 'server.log'}")
    proc, api_url = started
    _servers[api_url] = (proc, home, database_url)
    prior = os.environ.get("PREFECT_API_URL")
    try:
        # Every thread (the Slack listener's, the flows' workers) must see this server.
        os.environ["PREFECT_API_URL"] = api_url
        refresh_global_settings_context()
        yield api_url
    finally:
        if prior is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = prior
        refresh_global_settings_context()
        _stop(_servers.pop(api_url)[0])


def restart_prefect_server(api_url: str, timeout: float = 180) -> None:
    """Stop the server at `api_url` and start it again on the same port and database."""
    proc, home, database_url = _servers[api_url]
    _stop(proc)
    port = int(api_url.rsplit(":", 1)[1].split("/")[0])
    started = _start(home, timeout, port, database_url)
    if started is None:
        raise RuntimeError(f"prefect server did not come back on {api_url}")
    _servers[api_url] = (started[0], home, database_url)
