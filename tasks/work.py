"""The campaign's work step on one empty host: a command run here, or a Prefect deployment run.

Work is not idempotent (a reboot, a firmware flash), so the task is never retried by Prefect:
a failure is reported and the campaign's `on_work_failure` decides what happens next.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import get_client, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.states import Cancelling

from novaflow.campaign_work import WorkResult, run_command, seconds, tail
from novaflow.errors import BadRequest


@task(name="work-on-host", cache_policy=NO_CACHE, retries=0)
def run_work(
    host: str, *, command: str | None, deployment: str | None, timeout_s: float
) -> WorkResult:
    """Do the maintenance work on `host`: exactly one of `command` and `deployment` is given.

    `command` is a template with `{host}` (see novaflow.campaign_work); `deployment` is
    "flow-name/deployment-name", run with `host` as its parameter, its final state deciding.
    """
    if (command is None) == (deployment is None):
        raise BadRequest(
            "the work step needs exactly one of a work command and a work deployment",
            "set work_command (e.g. 'ssh {host} sudo reboot') or work_deployment (flow/name)",
        )
    logger = get_run_logger()
    if command is not None:
        logger.info("Work on %s: running %r (timeout %s)", host, command, seconds(timeout_s))
        result = run_command(command, host, timeout_s)
    else:
        assert deployment is not None
        logger.info("Work on %s: running deployment %s (timeout %s)", host, deployment, timeout_s)
        result = run_work_deployment(deployment, host, timeout_s)
    log = logger.info if result.ok else logger.error
    log("Work on %s %s: %s", host, "done" if result.ok else "FAILED", result.detail)
    return result


def run_work_deployment(name: str, host: str, timeout_s: float) -> WorkResult:
    """Run deployment `name` for `host` and wait for its final state, cancelling it at the
    timeout so it cannot go on working on a host the campaign has reported failed."""
    if name.count("/") != 1:
        raise BadRequest(
            f"work deployment {name!r} is not of the form flow-name/deployment-name",
            "give it as `prefect deployment ls` shows it, e.g. reboot-host/default",
        )
    started = datetime.now(UTC)
    run: FlowRun = run_deployment(name, parameters={"host": host}, timeout=timeout_s)
    ended = datetime.now(UTC)
    state = run.state
    if state is None or not state.is_final():
        _cancel(run)
        what = state.name if state else "no state"
        return WorkResult(
            ok=False,
            started_at=started,
            ended_at=ended,
            output=(state.message or "") if state else "",
            detail=(
                f"deployment run {run.name} did not finish within {seconds(timeout_s)} "
                f"({what}); asked to cancel it"
            ),
        )
    message = state.message or ""
    detail = f"deployment run {run.name} ended {state.name}"
    if message and not state.is_completed():
        detail += f": {message.splitlines()[0]}"
    elif state.is_completed():
        detail += f" in {seconds((ended - started).total_seconds())}"
    return WorkResult(
        ok=state.is_completed(),
        started_at=started,
        ended_at=ended,
        output=tail(message),
        detail=detail,
    )


def _cancel(run: FlowRun) -> None:
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run.id, Cancelling(message="work timed out"), force=True)
