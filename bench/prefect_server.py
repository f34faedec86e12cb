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

from bench.sampling import Every

_running: list[str] = []
database_pid: dict[str, int] = {}
"""The PostgreSQL postmaster's pid behind a benchmark server's API URL (its CPU is reported)."""


@contextlib.contextmanager
def shared_prefect_server(database: str = "sqlite") -> Iterator[str]:
    """The API URL of this process's benchmark Prefect server (started on first use), on
    SQLite in its home or on a private PostgreSQL (`database="postgresql"`, as the README's
    production recipe runs it)."""
    if _running:
        yield _running[-1]
        return
    # Each move's INFO lines would flood the benchmark's output; warnings still show.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from deployments.production.postgres import running_postgres
    from novaflow.sim.process import free_port
    from tests.prefect_server import running_prefect_server

    with contextlib.ExitStack() as stack:
        pg = None
        if database == "postgresql":
            pg = stack.enter_context(running_postgres(free_port()))
        home = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-prefect-"))
        api = stack.enter_context(
            running_prefect_server(Path(home), database_url=pg.url if pg else None)
        )
        if pg:
            database_pid[api] = int((pg.data / "postmaster.pid").read_text().split()[0])
        _running.append(api)
        try:
            yield api
        finally:
            _running.pop()
            database_pid.pop(api, None)
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


UNFINISHED = ["SCHEDULED", "PENDING", "RUNNING"]


def unfinished_task_runs(api: str) -> int:
    """Task runs the server has not recorded as ended (any flow run): while it keeps ahead,
    about the tasks in flight; a server falling behind its event backlog shows it growing."""
    import httpx

    body = {"task_runs": {"state": {"type": {"any_": UNFINISHED}}}}
    return int(httpx.post(f"{api}/task_runs/count", json=body, timeout=60).json())


class ServerWatch(Every):
    """Samples the server's unfinished task runs while a benchmark runs, from a thread."""

    def __init__(self, api: str, every_s: float = 10.0) -> None:
        super().__init__(every_s, "server-watch")
        self.api = api
        self.counts: list[int] = []

    def sample(self) -> None:
        with contextlib.suppress(Exception):  # a busy server: the next sample will do
            self.counts.append(unfinished_task_runs(self.api))

    def drained_within(self, timeout_s: float = 600) -> float | None:
        """Seconds until the server has recorded every task run as ended (None: not within
        `timeout_s`): the backlog left when the flow itself returned."""
        import time

        start = time.perf_counter()
        while time.perf_counter() - start < timeout_s:
            if unfinished_task_runs(self.api) == 0:
                return time.perf_counter() - start
            time.sleep(0.5)
        return None
