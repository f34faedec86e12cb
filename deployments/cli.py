"""The `novaflow` command: the Prefect-free core commands plus run, serve, demo and slack.

`novaflow/cli.py` holds the commands that need no Prefect (sim, snapshot, plan); this
module adds the ones that run flows, so the library stays importable without Prefect.
`novaflow run SCENARIO` is one subcommand per scenario, each with only the options that
apply to it, plus the options every run shares (cloud, limits, window, approval, output).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from deployments.campaign_cli import campaign_app
from deployments.slack_cli import slack_app
from novaflow.cli import (
    LOAD_STATISTIC,
    LOAD_WINDOW,
    PROMETHEUS_URL,
    RATE_INTERVAL,
    LoadStatistic,
    Strategy,
    app,
    fail,
    load_settings,
    project_id,
)
from novaflow.demo_state import use_demo_clouds
from novaflow.errors import NovaflowError
from novaflow.models import MethodPolicy
from novaflow.output import Format

app.add_typer(slack_app, name="slack")
app.add_typer(campaign_app, name="campaign")
run_app = typer.Typer(
    no_args_is_help=True,
    help=(
        "Run a scenario in the foreground: plan, gate, moves and report, followed live. "
        "Exit 0: every move done; 1: some moves failed; 2: refused (bad input, nothing "
        "changed); 3: a gate was rejected; 130: stopped with Ctrl-C."
    ),
)
app.add_typer(run_app, name="run")


class ApprovalMode(StrEnum):
    cli = "cli"
    ui = "ui"
    slack = "slack"
    none = "none"


class OnTimeout(StrEnum):
    reject = "reject"
    approve = "approve"


# Settings fields as the operator typed them on this command line.
OPTION_OF = {
    "max_parallel": "--max-parallel",
    "live_migration_slots": "--slots",
    "rebuild_slots": "--rebuild-slots",
    "move_timeout_s": "--move-timeout",
    "window_end": "--window-end",
    "window_minutes": "--window-minutes",
    "exclude_hosts": "--exclude",
    "timeout_s": "--approval-timeout",
    "on_timeout": "--on-timeout",
    "mode": "--approval",
    "cloud": "--os-cloud",
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


# -- the options every scenario shares -------------------------------------------------

CLOUD_PANEL = "Cloud and output"
LIMITS_PANEL = "Limits and window"
GATE_PANEL = "Approval"


def _opt(name: str, annotation: Any, option: Any) -> inspect.Parameter:
    kind = inspect.Parameter.KEYWORD_ONLY
    return inspect.Parameter(name, kind, default=option, annotation=annotation)


COMMON = [
    _opt("os_cloud", str, typer.Option(
        "sim", "--os-cloud", "--cloud", envvar="OS_CLOUD", rich_help_panel=CLOUD_PANEL,
        help="clouds.yaml cloud name (--cloud is the old spelling).")),
    _opt("dry_run", bool, typer.Option(
        False, "--dry-run", rich_help_panel=CLOUD_PANEL,
        help="Plan and print the plan; change nothing.")),
    _opt("fmt", Format, typer.Option(
        Format.table, "--format", "-f", rich_help_panel=CLOUD_PANEL,
        help="Report format: table, json, value or yaml (json: the whole report).")),
    _opt("column", list[str], typer.Option(
        [], "--column", "-c", rich_help_panel=CLOUD_PANEL,
        help="Report column to show (repeat for several).")),
    _opt("method", MethodPolicy | None, typer.Option(
        None, rich_help_panel=LIMITS_PANEL, help="live, live-then-cold or cold.")),
    _opt("max_parallel", int | None, typer.Option(
        None, rich_help_panel=LIMITS_PANEL, help="Moves in flight at once.")),
    _opt("move_timeout", int | None, typer.Option(
        None, rich_help_panel=LIMITS_PANEL, help="Seconds before a move is aborted.")),
    _opt("scheduler", bool, typer.Option(
        False, "--scheduler", rich_help_panel=LIMITS_PANEL, help="Let Nova pick destinations.")),
    _opt("exclude", list[str], typer.Option(
        [], rich_help_panel=LIMITS_PANEL, help="Hosts that must not receive instances.")),
    _opt("window_end", datetime | None, typer.Option(
        None, rich_help_panel=LIMITS_PANEL, help="No new move after this time (UTC).")),
    _opt("window_minutes", int | None, typer.Option(
        None, rich_help_panel=LIMITS_PANEL, help="No new move after this many minutes.")),
    _opt("approval", ApprovalMode, typer.Option(
        ApprovalMode.cli, rich_help_panel=GATE_PANEL,
        help="Where gates are answered: cli (prompt here; the UI works too), ui, slack, "
        "or none (no gate).")),
    _opt("yes", bool, typer.Option(
        False, "--yes", "-y", rich_help_panel=GATE_PANEL,
        help="Approve every gate as the local user.")),
    _opt("approval_timeout", int | None, typer.Option(
        None, rich_help_panel=GATE_PANEL, help="Seconds a gate waits for an answer.")),
    _opt("on_timeout", OnTimeout | None, typer.Option(
        None, rich_help_panel=GATE_PANEL, help="What an unanswered gate does: reject or approve.")),
]  # fmt: skip

SLOTS = _opt("slots", int, typer.Option(
    1, rich_help_panel=LIMITS_PANEL, help="Live migrations per node at once (Nova's limit)."
))  # fmt: skip
REBUILD_SLOTS = _opt("rebuild_slots", int | None, typer.Option(
    None, rich_help_panel=LIMITS_PANEL, help="Evacuations per node at once (Nova's builds)."
))  # fmt: skip


def _settings(scenario: str, o: dict[str, Any]):
    from flows.failing import URGENT
    from flows.params import ApprovalSettings, RunSettings

    base = URGENT if scenario == "failing" else RunSettings()
    approval = ApprovalSettings(
        mode="ui" if o["approval"] is ApprovalMode.cli else o["approval"].value,
        timeout_s=_given(o["approval_timeout"], base.approval.timeout_s),
        on_timeout=(o["on_timeout"] or base.approval.on_timeout),
    )
    return RunSettings(
        cloud=o["os_cloud"],
        dry_run=o["dry_run"],
        method=o["method"] or base.method,
        # `is None`, not `or`: a 0 the operator typed must be refused, not replaced.
        max_parallel=_given(o["max_parallel"], base.max_parallel),
        live_migration_slots=o.get("slots", 1),
        rebuild_slots=_given(o.get("rebuild_slots"), base.rebuild_slots),
        move_timeout_s=_given(o["move_timeout"], base.move_timeout_s),
        let_scheduler_choose=o["scheduler"],
        exclude_hosts=o["exclude"],
        window_end=o["window_end"],
        window_minutes=o["window_minutes"],
        approval=approval,
    )


@dataclass
class RunContext:
    """What a scenario's command gets besides its own options."""

    settings: Any  # flows.params.RunSettings (imported late: Prefect is slow to import)
    yes: bool


def _one_host(scenario: str, hosts: list[str]) -> str:
    if len(hosts) > 1 and len(set(hosts)) == 1:
        fail(f"host {hosts[0]} given more than once; '{scenario}' takes one --host")
    if len(hosts) != 1:
        fail(
            f"'{scenario}' takes exactly one --host (got {len(hosts)}): "
            f"run it once per host, or use 'novaflow run rolling' for several"
        )
    return hosts[0]


def scenario(name: str, extra: list[inspect.Parameter]) -> Callable:
    """Register `fn(run, **own options) -> (flow, params)` as `novaflow run NAME`, with
    the shared options (and `extra` ones) added to its own, grouped in help panels."""

    def register(fn: Callable) -> Callable:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]
        shared = [*extra, *COMMON]
        names = {p.name for p in shared}

        def command(**options: Any) -> None:
            common = {k: v for k, v in options.items() if k in names}
            mine = {k: v for k, v in options.items() if k not in names}
            _run(name, fn, common, mine)

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + shared
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__doc__ = fn.__doc__
        command.__name__ = name
        run_app.command(name)(command)
        return fn

    return register


def _log_file() -> Path:
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return state / "novaflow" / f"run-{stamp}-{os.getpid()}.log"


def _run(name: str, fn: Callable, common: dict[str, Any], mine: dict[str, Any]) -> None:
    if common["fmt"] is not Format.table or common["column"]:
        from deployments.run_cli import REPORT_COLUMNS
        from novaflow.output import UnknownColumn, pick

        try:
            pick(REPORT_COLUMNS, common["column"])
        except UnknownColumn as exc:
            fail(str(exc))
    use_demo_clouds()
    try:
        settings = _settings(name, common)
        flow, params = fn(RunContext(settings, common["yes"]), **mine)
    except (ValidationError, NovaflowError) as exc:
        detail = describe_invalid(exc) if isinstance(exc, ValidationError) else str(exc)
        fail(f"bad parameters: {detail}")
    check_cloud(settings.cloud)
    _run_flow(flow, params, common, settings.approval.on_timeout)


def check_cloud(name: str) -> None:
    """Refuse an unknown cloud or wrong credentials now, in one line, before a Prefect
    server is found or started (that can take a minute for a temporary one)."""
    from novaflow.cloud import Cloud

    try:
        Cloud.connect(name).close()
    except NovaflowError as exc:
        fail(f"refused, nothing was changed: {exc}")


def _run_flow(flow, params: dict[str, Any], o: dict[str, Any], on_timeout: str) -> None:
    from deployments.find_prefect import NoPrefect, prefect_for_cli
    from deployments.run_cli import Terminal, console, prefect_logs_to, print_report, run_followed

    terminal = Terminal(
        mode=o["approval"].value, yes=o["yes"], fenced=o.get("fenced", False), on_timeout=on_timeout
    )
    log = _log_file()
    try:
        with prefect_for_cli(say=lambda m: console.print(m, markup=False)), prefect_logs_to(log):
            finished = run_followed(flow, params, terminal)
    except NoPrefect as exc:
        fail(str(exc))
    report = finished.report
    if report is None:
        console.print(f"Prefect's log of this run: {log}", markup=False, soft_wrap=True)
        raise typer.Exit(1)
    print_report(report, o["fmt"], tuple(o["column"]))
    console.print(f"Prefect's log of this run: {log}", markup=False, soft_wrap=True)
    if finished.cancelled:
        console.print(f"Run {finished.run_name} was stopped and marked Cancelled.")
        raise typer.Exit(130)
    if not report.approved:
        raise typer.Exit(3)
    raise typer.Exit(0 if report.ok else 1)


# -- the scenarios ---------------------------------------------------------------------

HOST = typer.Option([], "--host", "-H", help="The compute host.")


@scenario("maintenance", [SLOTS])
def maintenance(
    run: RunContext,
    host: list[str] = HOST,
    reason: str = typer.Option("maintenance", help="Disabled reason shown on the service."),
    wait_for_done: bool = typer.Option(True, help="Pause until the work on the host is done."),
    move_back: bool = typer.Option(False, help="Move the instances back afterwards."),
):
    """Planned maintenance: drain a node, wait for the work, enable it again."""
    from flows.maintenance import node_maintenance

    return node_maintenance, dict(
        host=_one_host("maintenance", host),
        reason=reason,
        settings=run.settings,
        wait_for_done=wait_for_done,
        move_back=move_back,
    )


@scenario("failing", [SLOTS])
def failing(
    run: RunContext,
    host: list[str] = HOST,
    reason: str = typer.Option("failing hardware", help="What is failing (the disabled reason)."),
):
    """A node about to fail: move everything off now; a short gate that approves on timeout."""
    from flows.failing import failing_node

    return failing_node, dict(host=_one_host("failing", host), reason=reason, settings=run.settings)


@scenario("evacuate", [REBUILD_SLOTS])
def evacuate(
    run: RunContext,
    host: list[str] = HOST,
    fenced: bool = typer.Option(False, "--fenced", help="With --yes: the node is fenced."),
    reserved: list[str] = typer.Option([], help="Spare hosts filled first."),
    shared_storage: bool = typer.Option(False, help="Instance disks on shared storage."),
    pack_targets: bool = typer.Option(False, help="Fill reserved hosts one at a time."),
    priority_key: str = typer.Option(
        "evacuation_priority", help="Instance metadata key; higher goes first."
    ),
):
    """A failed node: rebuild its instances elsewhere (needs the node fenced)."""
    from flows.evacuation import evacuate_failed_node

    one = _one_host("evacuate", host)
    if run.yes and not fenced:
        fail(
            "--yes approves the evacuation gate, but the node's fencing is not confirmed: "
            "evacuating a node that still runs its instances corrupts them. Power the node "
            "off, then add --fenced (or leave out --yes and answer the prompt)"
        )
    return evacuate_failed_node, dict(
        host=one,
        reserved_hosts=reserved,
        shared_storage=shared_storage,
        pack_targets=pack_targets,
        priority_key=priority_key,
        settings=run.settings,
    )


class WorkFailure(StrEnum):
    stop = "stop"
    skip = "skip"


@scenario("rolling", [SLOTS])
def rolling(
    run: RunContext,
    host: list[str] = typer.Option([], "--host", "-H", help="Hosts, in order."),
    aggregate: str | None = typer.Option(None, help="Every host of an aggregate."),
    zone: str | None = typer.Option(None, help="Every host of an availability zone."),
    batch_size: int = typer.Option(1, help="Hosts drained at once."),
    min_free: float = typer.Option(0.10, help="Free-capacity margin to keep (fraction)."),
    reason: str = typer.Option("rolling maintenance", help="Disabled reason on the services."),
    wait_for_done: bool = typer.Option(True, help="Pause after each batch until its work is done."),
    campaign: str | None = typer.Option(
        None, help="Name of a resumable campaign: done hosts are skipped in later windows."
    ),
    work_command: str | None = typer.Option(
        None, help="The work, run once a host is empty: a command with {host}."
    ),
    work_deployment: str | None = typer.Option(
        None, help="The work as a Prefect deployment (flow/deployment) taking `host`."
    ),
    work_timeout: float = typer.Option(3600, help="Seconds the work may take."),
    on_work_failure: WorkFailure = typer.Option(
        WorkFailure.stop, help="stop: no new host starts; skip: go on with the others."
    ),
    check_timeout: float = typer.Option(
        1800, help="Seconds a host has to come back in service after its work."
    ),
    canary: bool = typer.Option(
        False, help="Run a small instance on the host (still disabled) before enabling it."
    ),
    skip_check: str | None = typer.Option(
        None, help="A command with {host}; exit 0 marks the host done untouched."
    ),
    retry_failed: bool = typer.Option(False, help="Try hosts that failed earlier again."),
    max_per_zone: int | None = typer.Option(None, help="Hosts of one zone out at once."),
    max_per_aggregate: int | None = typer.Option(
        None, help="Hosts of one aggregate (a rack) out at once."
    ),
    max_moved_twice: float = typer.Option(
        0.03,
        help="Share of the instances that may land on a host still to do (and move again) "
        "so the batch keeps going; 0: every instance moves once, hosts wait instead.",
    ),
):
    """Maintenance of many hosts, a batch at a time, keeping capacity free; with a work
    step, an unattended campaign (drain, work, prove back in service, enable)."""
    from flows.rolling import rolling_maintenance

    if campaign and not (work_command or work_deployment):
        fail(
            "--campaign keeps host states for runs with a work step: add --work-command or "
            "--work-deployment"
        )
    if campaign:
        from deployments.find_prefect import NoPrefect, lasting_prefect

        try:
            lasting_prefect()
        except NoPrefect as exc:
            fail(str(exc))
    return rolling_maintenance, dict(
        hosts=host or None,
        aggregate=aggregate,
        zone=zone,
        batch_size=batch_size,
        min_free_fraction=min_free,
        reason=reason,
        wait_for_done=wait_for_done,
        settings=run.settings,
        campaign=campaign,
        work_command=work_command,
        work_deployment=work_deployment,
        work_timeout_s=work_timeout,
        on_work_failure=on_work_failure.value,
        check_timeout_s=check_timeout,
        canary=canary,
        skip_check=skip_check,
        retry_failed=retry_failed,
        max_per_zone=max_per_zone,
        max_per_aggregate=max_per_aggregate,
        max_moved_twice=max_moved_twice,
    )


@scenario("rebalance", [SLOTS])
def rebalance_cmd(
    run: RunContext,
    strategy: Strategy = typer.Option(Strategy.spread, help="consolidate, spread or proximity."),
    max_moves: int | None = typer.Option(20, help="Move budget."),
    min_gain: float = typer.Option(
        0.005, help="spread: least drop of the hottest host's load per move (hysteresis)."
    ),
    cpu_ceiling: float = typer.Option(
        0.8, help="consolidate: fill no host past this CPU load (busy / physical threads)."
    ),
    disable_emptied: bool = typer.Option(False, help="consolidate: disable emptied hosts."),
    select_project: str | None = typer.Option(None, help="proximity: a project, name or ID."),
    select_name: str | None = typer.Option(None, help="proximity: names containing this."),
    select_metadata: list[str] = typer.Option(
        [], help="proximity: instance metadata KEY=VALUE (repeat: all must match)."
    ),
    target_host: list[str] = typer.Option([], help="proximity: destination hosts."),
    target_aggregate: str | None = typer.Option(None, help="proximity: destination aggregate."),
    target_zone: str | None = typer.Option(None, help="proximity: destination zone."),
    prometheus_url: str | None = PROMETHEUS_URL,
    load_window: str = LOAD_WINDOW,
    load_statistic: LoadStatistic = LOAD_STATISTIC,
    rate_interval: str = RATE_INTERVAL,
):
    """Consolidate, spread or gather (proximity) instances, within a move budget."""
    from flows.rebalance import rebalance

    proximity_only = {
        "--select-project": select_project,
        "--select-name": select_name,
        "--select-metadata": select_metadata,
        "--target-host": target_host,
        "--target-aggregate": target_aggregate,
        "--target-zone": target_zone,
    }
    if strategy is not Strategy.proximity:
        given = [opt for opt, value in proximity_only.items() if value]
        if given:
            fail(f"{', '.join(given)}: only with --strategy proximity (not {strategy.value})")
    if disable_emptied and strategy is not Strategy.consolidate:
        fail(f"--disable-emptied: only with --strategy consolidate (not {strategy.value})")
    try:
        load = load_settings(prometheus_url, load_window, load_statistic, rate_interval)
    except ValidationError as exc:
        fail(f"bad load option: {exc.errors()[0]['msg'].removeprefix('Value error, ')}")
    settings = run.settings.model_copy(update={"load": load})
    return rebalance, dict(
        strategy=strategy.value,
        max_moves=max_moves,
        min_gain=min_gain,
        cpu_ceiling=cpu_ceiling,
        disable_emptied=disable_emptied,
        select_project=project_id(run.settings.cloud, select_project) if select_project else None,
        select_name=select_name,
        select_metadata=metadata_pairs(select_metadata) or None,
        target_hosts=target_host or None,
        target_aggregate=target_aggregate,
        target_zone=target_zone,
        settings=settings,
    )


def metadata_pairs(given: list[str]) -> dict[str, str]:
    """KEY=VALUE options as a dict; a pair without '=' is refused."""
    bad = [g for g in given if "=" not in g]
    if bad:
        fail(f"--select-metadata {bad[0]}: give KEY=VALUE, e.g. --select-metadata app=batch")
    return dict(g.split("=", 1) for g in given)


# -- serving and the demo ----------------------------------------------------------------


@app.command("serve")
def serve(
    os_cloud: str = typer.Option(
        "sim", "--os-cloud", "--cloud", envvar="OS_CLOUD", help="clouds.yaml cloud name."
    ),
    schedules: bool = typer.Option(
        False, "--schedules/--no-schedules", help="Activate the cron schedules (windows, watch)."
    ),
) -> None:
    """Serve every novaflow deployment from this process (Prefect's `serve`)."""
    from prefect import serve as prefect_serve

    from deployments.catalog import to_deployments

    prefect_serve(*to_deployments(os_cloud, schedules_active=schedules))


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
