"""Prefect server settings novaflow's runs want, applied wherever novaflow starts a server
(the demo, the tests, the benchmarks) and listed in the README's production set-up.

Every task state change reaches the server as an event, and two of its services write them
to the database: the task run recorder (task runs and their states) and the event persister
(the event feed). By default the recorder writes one event per transaction and the persister
20 (read one at a time, flushed every 5 s). A run of 1,000 moves sends some 4,000 events; on
SQLite those writes kept the server busy long after the moves, so the run's own last calls
(giving back its slots and host claims) waited behind them.

- Recorder, 100 at a time: the server's CPU per move fell from 46 to 22 ms and the run from
  60 to 46 ms per move (bench/overhead.py, 1,000 moves). The cost: with little traffic a
  task run's latest state reaches the UI up to RECORDER_FLUSH_S later.
- Persister, up to 200 per transaction, read 100 at a time, flushed every 2 s: the server's
  CPU per move fell from 15-20 to 12-13 ms and the run from 30.5-42.0 to 25.1-28.4 ms per
  move (three runs each, same bench). With little traffic an event is in the feed within
  PERSISTER_FLUSH_S, sooner than Prefect's default 5 s; automations do not wait for it (they
  read the event stream).
"""

from __future__ import annotations

RECORDER_FLUSH_S = 1  # the recorder reads it as whole seconds; 0 would spin
PERSISTER_FLUSH_S = 2

TASK_RUN_RECORDER = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": str(RECORDER_FLUSH_S),
}

EVENT_PERSISTER = {
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_READ_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": str(PERSISTER_FLUSH_S),
}

SERVER_SETTINGS = {**TASK_RUN_RECORDER, **EVENT_PERSISTER}
"""Everything above, as environment variables for `prefect server start`."""
