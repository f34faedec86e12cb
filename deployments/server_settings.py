"""Prefect server settings novaflow's runs want, applied wherever novaflow starts a server
(the demo, the tests, the benchmarks) and listed in the README's production set-up.

Prefect builds task runs on the server from the client's state-change events. Its task run
recorder writes them one event per transaction by default (batch size 1): a run of 1,000
moves makes some 3,000 such writes, and on SQLite they kept the server busy long after the
moves, so the run's own last calls (giving back its slots and host claims) waited behind
them. Written 100 at a time, the server's CPU per move fell from 46 to 22 ms and the run
from 60 to 46 ms per move (bench/overhead.py, 1,000 moves). The cost: with little traffic a
task run's latest state reaches the UI up to FLUSH_S later.

Batching the event persister as well (200 events per transaction, read 100 at a time,
flushed every 2 s) showed no gain: in three interleaved pairs of runs of the same bench the
run took 48.9 / 44.0 / 41.9 ms per move without it and 48.7 / 51.0 / 50.5 with it. (A first
comparison, made half an hour after the runs it was set against, had shown a large gain:
the machine had been faster then.)
"""

from __future__ import annotations

FLUSH_S = 1  # the recorder reads it as whole seconds; 0 would spin

TASK_RUN_RECORDER = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": str(FLUSH_S),
}

LEASE_STORAGE = {
    # Keep concurrency-slot leases across server restarts: in memory (the default), a
    # restarted server forgets them and the slots of runs that were moving stay taken.
    "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": (
        "prefect.server.concurrency.lease_storage.filesystem"
    ),
}

SERVER_SETTINGS = {**TASK_RUN_RECORDER, **LEASE_STORAGE}
"""Everything above, as environment variables for `prefect server start`: the README's
production recipe exports exactly these (tests/deploy/test_server_settings.py checks it)."""

WORK_POOL = "novaflow"
"""The process work pool prefect.yaml's deployments go to and the workers poll."""


def database_url(user: str, host: str, port: int, database: str, password: str = "") -> str:
    """The PREFECT_SERVER_DATABASE_CONNECTION_URL of a PostgreSQL-backed server."""
    secret = f":{password}" if password else ""
    return f"postgresql+asyncpg://{user}{secret}@{host}:{port}/{database}"
