"""A flow run in its own process, forked from a server that imported the flows once.

The crash cells SIGKILL these processes; every cell runs its flows here so that the test
process (which hosts the simulated clouds) is not also the one running every flow.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from pathlib import Path
from typing import Any

# Imported here so that the fork server holds them: a child starts in milliseconds.
import flows.evacuation
import flows.failing
import flows.maintenance
import flows.rebalance
import flows.rolling  # noqa: F401

_context: Any = None


def context() -> Any:
    """The fork-server context, preloading this module (and with it Prefect and the flows)."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload([__name__])
    return _context


def run_flow(flow_name: str, params: dict[str, Any], run_name: str, env: dict, out: str) -> None:
    """Run one flow; write its RunReport (or the error that ended it) as JSON to `out`."""
    os.environ.update(env)
    log = os.open(f"{out}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    from prefect.context import refresh_global_settings_context

    from novaflow.models import RunReport
    from tests.reliability.outcome import RunResult

    refresh_global_settings_context()
    module, _, name = flow_name.partition(":")
    flow = getattr(__import__(module, fromlist=[name]), name)
    try:
        state = flow.with_options(flow_run_name=run_name)(**params, return_state=True)
    except Exception as exc:  # the run could not even start (e.g. Prefect's API refused it)
        ended = RunResult(state="NotStarted", error=f"{type(exc).__name__}: {exc}")
    else:
        result = state.result(raise_on_failure=False)
        report = result if isinstance(result, RunReport) else getattr(result, "report", None)
        error = None if isinstance(report, RunReport) else f"{type(result).__name__}: {result}"
        ended = RunResult(state=state.name, report=report, error=error)
    # Pickled, not JSON: the report's computed fields would not validate back in.
    Path(out).write_bytes(pickle.dumps(ended))


def start(flow_name: str, params: dict[str, Any], run_name: str, out: Path) -> Any:
    env = {k: v for k, v in os.environ.items() if k.startswith(("PREFECT_", "OS_"))}
    # Logs go to the run's log file only: shipping every line to the shared server would
    # make it the bottleneck of a hundred concurrent runs (states, gates, limits, variables,
    # artifacts and events still go through it).
    env["PREFECT_LOGGING_TO_API_ENABLED"] = "false"
    proc = context().Process(
        target=run_flow, args=(flow_name, params, run_name, env, str(out)), daemon=True
    )
    proc.start()
    return proc
