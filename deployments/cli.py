"""The `novaflow` command: the Prefect-free core commands plus run, serve, demo and slack.

`novaflow/cli.py` holds the commands that need no Prefect (sim, snapshot, plan); this
module adds the ones that run flows, so the library stays importable without Prefect.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import typer
from pydantic import ValidationError

from deployments.slack_cli import slack_app
from novaflow.cli import app
from novaflow.errors import NovaflowError
from novaflow.models import MethodPolicy

app.add_typer(slack_app, name="slack")


class Scenario(StrEnum):
    maintenance = "maintenance"
    rolling = "rolling"
    failing = "failing"
    evacuate = "evacuate"
    rebalance = "rebalance"


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"novaflow: {message}", fg="red", err=True)
    raise typer.Exit(code)


# Settings fields as the operator typed them on this command line.
OPTION_OF = {
    "max_parallel": "--max-parallel",
    "live_migration_slots": "--slots",
    "move_timeout_s": "--move-timeout",
    "window_end": "--window-end",
    "exclude_hosts": "--exclude",
    "timeout_s": "--approval-timeout",
    "on_timeout": "--on-timeout",
    "mode": "--approval",
    "cloud": "--cloud",
    "method": "--method",
}


def describe_invalid(exc: ValidationError) -> str:
    """Each rejected option with its value and pydantic's rule, e.g. '--max-parallel 0:
    Input should be greater than or equal to 1'."""
    parts = []
    for error in exc.errors():
        msg = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a rule over several options (e.g. hosts named twice)
            parts.append(msg)
            continue
        field = str(error["loc"][-1])
        given = error.get("input")
        shown = "" if isinstance(given, dict) or given is None else f" {given}"
        parts.append(f"{OPTION_OF.get(field, field)}{shown}: {msg}")
    return "; ".join(parts)


def _given(value, default):
    return default if value is None else value


def _flow_and_params(scenario: Scenario, o: dict) -> tuple:
    """The flow for `scenario` and its parameters from the command-line options."""
    from flows.evacuation import evacuate_failed_node
    from flows.failing import URGENT, failing_node
    from flows.maintenance import node_maintenance
    from flows.params import ApprovalSettings, RunSettings
    from flows.rebalance import rebalance
    from flows.rolling import rolling_maintenance

    base = URGENT if scenario is Scenario.failing else RunSettings()
    approval = ApprovalSettings(
        mode=o["approval"],
        timeout_s=_given(o["approval_timeout"], base.approval.timeout_s),
        on_timeout=o["on_timeout"] or base.approval.on_timeout,
    )
    settings = RunSettings(
        cloud=o["cloud"],
        dry_run=o["dry_run"],
        method=o["method"] or base.method,
        # `is None`, not `or`: a 0 the operator typed must be refused, not replaced.
        max_parallel=_given(o["max_parallel"], base.max_parallel),
        live_migration_slots=o["slots"],
        move_timeout_s=_given(o["move_timeout"], base.move_timeout_s),
        let_scheduler_choose=o["scheduler"],
        exclude_hosts=o["exclude"],
        window_end=o["window_end"],
        approval=approval,
    )
    hosts = o["host"]
    one_host = scenario in (Scenario.maintenance, Scenario.failing, Scenario.evacuate)
    if one_host and len(hosts) > 1 and len(set(hosts)) == 1:
        _fail(f"host {hosts[0]} given more than once; '{scenario.value}' takes one --host")
    if one_host and len(hosts) != 1:
        _fail(
            f"'{scenario.value}' takes exactly one --host (got {len(hosts)}): "
            f"run it once per host, or use 'novaflow run rolling' for several"
        )
    if scenario is Scenario.evacuate and o["yes"] and not o["fenced"]:
        _fail(
            "--yes approves the evacuation gate, but the node's fencing is not confirmed: "
            "evacuating a node that still runs its instances corrupts them. Power the node "
            "off, then add --fenced (or leave out --yes and answer the prompt)"
        )
    if scenario is Scenario.maintenance:
        return node_maintenance, dict(
            host=hosts[0],
            reason=o["reason"],
            settings=settings,
            wait_for_done=o["wait_for_done"],
            move_back=o["move_back"],
        )
    if scenario is Scenario.failing:
        return failing_node, dict(host=hosts[0], reason=o["reason"], settings=settings)
    if scenario is Scenario.evacuate:
        return evacuate_failed_node, dict(
            host=hosts[0],
            reserved_hosts=o["reserved"],
            settings=settings,
            shared_storage=o["shared_storage"],
        )
    if scenario is Scenario.rolling:
        return rolling_maintenance, dict(
            hosts=hosts or None,
            aggregate=o["aggregate"],
            zone=o["zone"],
            batch_size=o["batch_size"],
            min_free_fraction=o["min_free"],
            reason=o["reason"],
            wait_for_done=o["wait_for_done"],
            settings=settings,
        )
    return rebalance, dict(
        strategy=o["strategy"],
        max_moves=o["max_moves"],
        disable_emptied=o["disable_emptied"],
        select_project=o["select_project"],
        select_name=o["select_name"],
        target_hosts=o["target_host"] or None,
        target_aggregate=o["target_aggregate"],
        target_zone=o["target_zone"],
        settings=settings,
    )


@app.command("run")
def run(
    scenario: Scenario = typer.Argument(..., help="Which runbook to run."),
    host: list[str] = typer.Option([], "--host", "-H", help="Compute host(s)."),
    cloud: str = typer.Option("sim", envvar="OS_CLOUD", help="clouds.yaml cloud name."),
    reason: str = typer.Option("maintenance", help="Disabled reason shown on the service."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan only; change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Approve every gate as the local user."),
    fenced: bool = typer.Option(False, "--fenced", help="With --yes: the node is fenced."),
    method: MethodPolicy | None = typer.Option(None, help="live, live-then-cold or cold."),
    max_parallel: int | None = typer.Option(None, help="Moves in flight at once."),
    slots: int = typer.Option(1, help="Live migrations per node at once (Nova's limit)."),
    move_timeout: int | None = typer.Option(None, help="Seconds before a move is aborted."),
    scheduler: bool = typer.Option(False, "--scheduler", help="Let Nova pick destinations."),
    exclude: list[str] = typer.Option([], help="Hosts that must not receive instances."),
    window_end: datetime | None = typer.Option(None, help="No new move after this (UTC)."),
    approval: str = typer.Option("ui", help="Gate mode: ui (prompt here / UI), slack, none."),
    approval_timeout: int | None = typer.Option(None, help="Seconds a gate waits."),
    on_timeout: str | None = typer.Option(None, help="reject or approve when a gate expires."),
    wait_for_done: bool = typer.Option(True, help="Pause until the work on the host is done."),
    move_back: bool = typer.Option(False, help="maintenance: move instances back afterwards."),
    reserved: list[str] = typer.Option([], help="evacuate: spare hosts filled first."),
    shared_storage: bool = typer.Option(False, help="evacuate: disks on shared storage."),
    aggregate: str | None = typer.Option(None, help="rolling: every host of an aggregate."),
    zone: str | None = typer.Option(None, help="rolling: every host of a zone."),
    batch_size: int = typer.Option(1, help="rolling: hosts drained at once."),
    min_free: float = typer.Option(0.10, help="rolling: free-capacity margin to keep."),
    strategy: str = typer.Option("spread", help="rebalance: consolidate, spread, proximity."),
    max_moves: int | None = typer.Option(20, help="rebalance: move budget."),
    disable_emptied: bool = typer.Option(False, help="rebalance: disable emptied hosts."),
    select_project: str | None = typer.Option(None, help="proximity: instances of a project."),
    select_name: str | None = typer.Option(None, help="proximity: names containing this."),
    target_host: list[str] = typer.Option([], help="proximity: destination hosts."),
    target_aggregate: str | None = typer.Option(None, help="proximity: destination aggregate."),
    target_zone: str | None = typer.Option(None, help="proximity: destination zone."),
) -> None:
    """Run a scenario in the foreground; exit 0 only when every planned move succeeded."""
    from deployments.run_cli import print_report, prompt_answer, run_foreground

    options = dict(locals())
    try:
        flow, params = _flow_and_params(scenario, options)
    except (ValidationError, NovaflowError) as exc:
        detail = describe_invalid(exc) if isinstance(exc, ValidationError) else str(exc)
        _fail(f"bad parameters: {detail}")
    report = run_foreground(flow, params, prompt_answer(yes, fenced))
    if report is None:
        raise typer.Exit(1)
    print_report(report)
    if not report.approved:
        raise typer.Exit(3)
    raise typer.Exit(0 if report.ok else 1)


@app.command("serve")
def serve(
    cloud: str = typer.Option("sim", envvar="OS_CLOUD", help="clouds.yaml cloud name."),
    schedules: bool = typer.Option(
        False, "--schedules/--no-schedules", help="Activate the cron schedules (windows, watch)."
    ),
) -> None:
    """Serve every novaflow deployment from this process (Prefect's `serve`)."""
    from prefect import serve as prefect_serve

    from deployments.catalog import to_deployments

    prefect_serve(*to_deployments(cloud, schedules_active=schedules))


@app.command("demo")
def demo(
    keep: bool = typer.Option(False, "--keep", help="Leave everything running to explore."),
    hosts: int = typer.Option(8, help="Simulated compute hosts."),
    instances: int = typer.Option(120, help="Simulated instances."),
    seed: int = typer.Option(1, help="Seed of the simulated cluster."),
    time_scale: float = typer.Option(0.01, help="Real seconds per simulated second."),
) -> None:
    """Run a node maintenance end to end on a local Prefect and the simulated cloud."""
    from deployments.demo import local_stack, run_maintenance

    with local_stack(hosts, instances, seed, time_scale, keep=keep) as env:
        code = run_maintenance(env)
    raise typer.Exit(code)
