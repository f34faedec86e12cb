"""One real `prefect server start` per benchmark process, shared by every flow benchmark.

Prefect's client keeps process-wide workers (events, logs) bound to the server they first
talked to; a second server later in the same process leaves them sending to a dead one, which
slows every run after it. So `make bench` starts one server for all its sections, and a
benchmark run alone starts its own.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_running: list[str] = []


@contextlib.contextmanager
def shared_prefect_server() -> Iterator[str]:
    """The API URL of this process's benchmark Prefect server (started on first use)."""
    if _running:
        yield _running[-1]
        return
    # Each move's INFO lines would flood the benchmark's output; warnings still show.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from tests.prefect_server import running_prefect_server

    with (
        tempfile.TemporaryDirectory(prefix="bench-prefect-") as home,
        running_prefect_server(Path(home)) as api,
    ):
        _running.append(api)
        try:
            yield api
        finally:
            _running.pop()
            _send_pending_events()


@contextlib.contextmanager
def clouds_yaml_restored() -> Iterator[None]:
    """Put OS_CLIENT_CONFIG_FILE back as it was: each benchmark row points it at its own sim."""
    prior = os.environ.get("OS_CLIENT_CONFIG_FILE")
    try:
        yield
    finally:
        if prior is None:
            os.environ.pop("OS_CLIENT_CONFIG_FILE", None)
        else:
            os.environ["OS_CLIENT_CONFIG_FILE"] = prior


def _send_pending_events() -> None:
    """Deliver the events still queued for the server before it stops; otherwise the
    process's exit waits on them, retrying a server that is gone."""
    from prefect.events.worker import EventsWorker

    with contextlib.suppress(Exception):
        EventsWorker.drain_all(timeout=60)
