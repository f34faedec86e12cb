"""Which Prefect server a `novaflow run` talks to, found the way an operator expects.

In order: PREFECT_API_URL when set (it must answer); the server a `novaflow demo --keep`
left running; otherwise one temporary server of this command's own, on a free loopback
port, stopped and deleted when the command ends. Prefect's own "ephemeral" server is never
used: under load it raced itself for one port, printed tracebacks, and stayed behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from deployments.processes import stop_group
from deployments.server_settings import SERVER_SETTINGS
from novaflow.demo_state import running_demo

START_TIMEOUT_S = 180.0
"""A cold `prefect server start` (migrations, 2 shared cores) takes 10-60 s."""


_on_leave: list[Callable[[], None]] = []


def leave_now(code: int) -> None:
    """Exit at once (a second Ctrl-C), still stopping the temporary server if there is one."""
    for stop in reversed(_on_leave):
        with contextlib.suppress(Exception):
            stop()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _leave_on(signum: int, _frame: object) -> None:
    leave_now(128 + signum)


class NoPrefect(Exception):
    """No Prefect server could be reached or started; the message says what to do."""


def answers(api_url: str, timeout: float = 5.0) -> bool:
    """Whether a Prefect API answers its health check at `api_url`."""
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout).status_code == 200
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _send_what_is_queued(timeout: float = 10.0) -> None:
    """Send the run's last log lines and events before the server they go to stops (else
    Prefect prints "Error logging to API" on the way out)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=timeout)


@contextlib.contextmanager
def temporary_server(timeout: float = START_TIMEOUT_S) -> Iterator[str]:
    """One `prefect server start` of our own; yields its API URL, then leaves nothing."""
    home = Path(tempfile.mkdtemp(prefix="novaflow-prefect-"))
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **SERVER_SETTINGS,
    }
    prefect = str(Path(sys.executable).with_name("prefect"))
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C at the terminal is ours to handle, not the server's
    )

    def stop() -> None:
        stop_group(proc)
        log.close()
        shutil.rmtree(home, ignore_errors=True)

    _on_leave.append(stop)
    # Killed (SIGTERM) or its terminal closed (SIGHUP): still stop the server first.
    before = {sig: signal.signal(sig, _leave_on) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        deadline = time.monotonic() + timeout
        while not answers(api_url, timeout=2):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (home / "server.log").read_text()[-300:].strip().splitlines()
                raise NoPrefect(
                    f"could not start a temporary Prefect server "
                    f"({tail[-1] if tail else 'no output'}); set PREFECT_API_URL to a running "
                    "one, or start the demo: make demo DEMO_ARGS=--keep"
                )
            time.sleep(0.3)
        yield api_url
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        _on_leave.remove(stop)
        _send_what_is_queued()
        stop()


def lasting_prefect() -> str:
    """The API URL of a Prefect server that outlives this command (PREFECT_API_URL, or the
    demo's): what keeps a campaign's host states from one window to the next."""
    given = os.environ.get("PREFECT_API_URL")
    if given:
        if not answers(given):
            raise NoPrefect(
                f"the Prefect server at PREFECT_API_URL={given} does not answer; start it"
            )
        return given
    demo = running_demo()
    if demo is not None and answers(demo.prefect_api_url):
        return demo.prefect_api_url
    raise NoPrefect(
        "a campaign's host states are kept in Prefect, and no lasting Prefect server is "
        "known: set PREFECT_API_URL (the server your deployments use), or start the demo "
        "with `make demo DEMO_ARGS=--keep`"
    )


@contextlib.contextmanager
def prefect_for_cli(say=print) -> Iterator[str]:
    """The API URL this command uses, set in this process's environment and settings."""
    from prefect.context import refresh_global_settings_context

    given = os.environ.get("PREFECT_API_URL")
    if given:
        if not answers(given):
            raise NoPrefect(
                f"the Prefect server at PREFECT_API_URL={given} does not answer; start it, "
                "or unset PREFECT_API_URL to use a temporary one"
            )
        yield given
        return
    demo = running_demo()
    with contextlib.ExitStack() as stack:
        if demo is not None and answers(demo.prefect_api_url):
            url = demo.prefect_api_url
            say(f"Using the demo's Prefect server: {url.removesuffix('/api')}")
        else:
            say("No PREFECT_API_URL and no running demo: starting a temporary Prefect server")
            url = stack.enter_context(temporary_server())
        os.environ["PREFECT_API_URL"] = url
        refresh_global_settings_context()
        try:
            yield url
        finally:
            os.environ.pop("PREFECT_API_URL", None)
            refresh_global_settings_context()
