"""The work step of a campaign: a command run by the worker, or a Prefect deployment run.

A minimal version written by the campaign engine to the interface it shares with the
`workstep` part (which replaces this module at merge): the command is a template with
`{host}` substituted, split like a shell would (shlex) but run without a shell.
"""

from __future__ import annotations

import shlex
import subprocess
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from novaflow.campaign_work import WorkResult

OUTPUT_TAIL = 4096


@task(name="work-on-host", cache_policy=NO_CACHE)
def run_work(
    host: str, *, command: str | None, deployment: str | None, timeout_s: float
) -> WorkResult:
    """Do the maintenance work on an empty `host`; its exit status (or final state) decides."""
    started = datetime.now(UTC)
    if command:
        argv = shlex.split(command.replace("{host}", host))
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or "") + (exc.stderr or "")
            out = out.decode() if isinstance(out, bytes) else out
            return WorkResult(
                ok=False,
                started_at=started,
                ended_at=datetime.now(UTC),
                output=out[-OUTPUT_TAIL:],
                detail=f"timed out after {timeout_s:g} s",
            )
        except OSError as exc:
            return WorkResult(
                ok=False,
                started_at=started,
                ended_at=datetime.now(UTC),
                output=str(exc),
                detail=f"could not start {argv[0]}: {exc.strerror or exc}",
            )
        ended = datetime.now(UTC)
        return WorkResult(
            ok=done.returncode == 0,
            started_at=started,
            ended_at=ended,
            output=(done.stdout + done.stderr)[-OUTPUT_TAIL:],
            detail=f"exit {done.returncode} in {(ended - started).total_seconds():.0f} s",
        )
    if deployment:
        from prefect.deployments import run_deployment

        run = run_deployment(deployment, parameters={"host": host}, timeout=timeout_s)
        state = run.state
        ok = bool(state and state.is_completed())
        name = state.name if state else "unknown"
        message = (state.message or "") if state else ""
        return WorkResult(
            ok=ok,
            started_at=started,
            ended_at=datetime.now(UTC),
            output=message[-OUTPUT_TAIL:],
            detail=f"deployment run {run.name} ended {name}" + (f": {message}" if message else ""),
        )
    raise ValueError("run_work needs a command or a deployment")
