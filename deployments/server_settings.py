"""Prefect server settings novaflow's runs want, applied wherever novaflow starts a server
(the demo, the tests, the benchmarks) and listed in the README's production set-up.

Prefect builds task runs on the server from the client's state-change events. Its task run
recorder writes them one event per transaction by default (batch size 1): a run of 1,000
moves makes some 3,000 such writes, and on SQLite they kept the server busy long after the
moves, so the run's own last calls (giving back its slots and host claims) waited behind
them. Written 100 at a time, the server's CPU per move fell from 46 to 22 ms and the run
from 60 to 46 ms per move (bench/overhead.py, 1,000 moves). The cost: with little traffic a
task run's latest state reaches the UI up to FLUSH_S later.
"""

from __future__ import annotations

FLUSH_S = 1  # the recorder reads it as whole seconds; 0 would spin

TASK_RUN_RECORDER = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": str(FLUSH_S),
}
