"""The Prefect-free `novaflow` commands: the simulated cloud, snapshots and what-if plans.

`deployments/cli.py` adds the commands that run flows (run, serve, demo, slack) to this
same `app`; everything here works without a Prefect server.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console

# typer vendors its own click; its exceptions are the ones raised here.
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperGroup

from novaflow import planner, render
from novaflow.demo_state import running_demo, use_demo_clouds
from novaflow.errors import NovaflowError
from novaflow.models import (
    DrainRequest,
    EvacuateRequest,
    MethodPolicy,
    PlanRequest,
    RebalanceRequest,
    Snapshot,
)
from novaflow.output import Format, UnknownColumn, console, pick, write_rows
from novaflow.sim.cli import sim_app
from novaflow.telemetry import LoadSettings, measure


class OneLineErrors(TyperGroup):
    """A mistyped command line is one line and exit 2, like every other refusal: no usage
    box. (`--help` still shows the whole usage.)"""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            # The program is `novaflow` whatever name it was started under (tests: "root").
            where = " ".join(["novaflow", *ctx.command_path.split()[1:]]) if ctx else "novaflow"
            message = exc.format_message().replace("Value error, ", "")
            err.print(
                f"novaflow: {message} (see {where} --help)",
                style="red",
                markup=False,
                soft_wrap=True,
            )
            sys.exit(exc.exit_code)
        except typer.Abort:
            sys.exit(130)
        sys.exit(code or 0)


app = typer.Typer(
    cls=OneLineErrors,
    no_args_is_help=True,
    help="Move OpenStack instances off compute nodes safely.",
)
app.add_typer(sim_app, name="sim")
plan_app = typer.Typer(no_args_is_help=True, help="What-if plans: nothing on the cloud changes.")
app.add_typer(plan_app, name="plan")

err = Console(stderr=True)


class Strategy(StrEnum):
    consolidate = "consolidate"
    spread = "spread"
    proximity = "proximity"


def fail(message: str, code: int = 2) -> None:
    err.print(f"novaflow: {message}", style="red", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def snapshot_problems(exc: ValidationError, shown: int = 3) -> str:
    """The first few things wrong with a snapshot file, each with where it is."""
    errors = exc.errors()
    parts = []
    for e in errors[:shown]:
        where = ".".join(str(x) for x in e["loc"]) or "the file"
        parts.append(f"{where}: {e['msg']}")
    more = f" (and {len(errors) - shown} more)" if len(errors) > shown else ""
    return "; ".join(parts) + more


def load_snapshot(snapshot_file: Path | None, os_cloud: str | None) -> Snapshot:
    """From a snapshot file (offline what-if) or by reading the cloud."""
    if snapshot_file is not None:
        retake = "take a new one: novaflow snapshot --os-cloud NAME > FILE"
        try:
            text = snapshot_file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read the snapshot file {snapshot_file}: {exc} -> {retake}")
        try:
            return Snapshot.model_validate_json(text)
        except ValidationError as exc:
            fail(
                f"{snapshot_file} is not a novaflow snapshot (schema version 1): "
                f"{snapshot_problems(exc)} -> {retake}"
            )
    from novaflow.cloud import Cloud

    use_demo_clouds()
    try:
        return Cloud.connect(os_cloud).snapshot()
    except NovaflowError as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


def project_id(os_cloud: str | None, project: str) -> str:
    """The ID of the project the operator named (by name or ID), read from Keystone:
    operators name projects (`web`), Nova's servers carry only their project's ID."""
    from novaflow.cloud import Cloud

    use_demo_clouds()
    try:
        conn = Cloud.connect(os_cloud)
        try:
            found = conn.project_id(project)
        finally:
            conn.close()
    except NovaflowError as exc:
        fail(str(exc))
    if found is None:
        where = f"cloud {os_cloud!r}" if os_cloud else "the cloud"
        fail(f"no project {project!r} in {where}: give a project name or ID")
    return found


class LoadStatistic(StrEnum):
    mean = "mean"
    p95 = "p95"


PROMETHEUS_URL = typer.Option(
    None,
    "--prometheus-url",
    envvar="NOVAFLOW_PROMETHEUS_URL",
    help="Read measured CPU load here (libvirt exporter + node_exporter); none: allocation.",
)
LOAD_WINDOW = typer.Option("1h", help="How far back CPU load is read (1h, 30m...).")
LOAD_STATISTIC = typer.Option(
    LoadStatistic.mean, help="mean over the window, or p95 (its busy peaks)."
)
RATE_INTERVAL = typer.Option("5m", help="Range of each rate() over the window.")


def load_settings(
    url: str | None, window: str, statistic: LoadStatistic, rate_interval: str
) -> LoadSettings:
    """The load options of the command line as LoadSettings. No URL given (option or
    NOVAFLOW_PROMETHEUS_URL) beside a running `novaflow demo --keep`: the demo's Prometheus;
    an empty one (`--prometheus-url ""`) plans on allocation."""
    if url is None:
        demo = running_demo()
        url = demo.prometheus_url if demo else None
    return LoadSettings(
        prometheus_url=url or None,
        load_window=window,
        load_statistic=statistic.value,
        rate_interval=rate_interval,
    )


@app.command("snapshot")
def snapshot_cmd(
    os_cloud: str | None = typer.Option(
        None, "--os-cloud", "--cloud", envvar="OS_CLOUD", help="clouds.yaml cloud name."
    ),
    prometheus_url: str | None = PROMETHEUS_URL,
    load_window: str = LOAD_WINDOW,
    load_statistic: LoadStatistic = LOAD_STATISTIC,
    rate_interval: str = RATE_INTERVAL,
) -> None:
    """Print the whole cloud as JSON (a versioned schema) for offline planning; with a
    Prometheus, each instance's and host's measured CPU load too."""
    try:
        load = load_settings(prometheus_url, load_window, load_statistic, rate_interval)
    except ValidationError as exc:
        fail(f"bad load option: {exc.errors()[0]['msg'].removeprefix('Value error, ')}")
    snap = load_snapshot(None, os_cloud)
    if load.prometheus_url:
        snap = measure(snap, load)
        measured = snap.load.source == "prometheus"
        err.print(
            snap.load.note, style="dim" if measured else "yellow", markup=False, soft_wrap=True
        )
    sys.stdout.write(snap.model_dump_json(indent=1) + "\n")


def show(
    request: PlanRequest,
    snapshot_file: Path | None,
    os_cloud: str | None,
    fmt: Format,
    columns: list[str] | None = None,
    load: LoadSettings | None = None,
):
    try:
        pick(render.PLAN_COLUMNS, columns or [])
    except UnknownColumn as exc:
        fail(str(exc))
    snap = load_snapshot(snapshot_file, os_cloud)
    # A snapshot file taken with its load keeps it unless a Prometheus is named now.
    if load is not None and (load.prometheus_url or snap.load is None):
        snap = measure(snap, load)
    if load is not None and snap.load is not None:
        # One line on stderr, so `-f json` output stays the plan alone.
        measured = snap.load.source == "prometheus"
        err.print(
            snap.load.note, style="dim" if measured else "yellow", markup=False, soft_wrap=True
        )
    try:
        plan = planner.plan(snap, request)
    except NovaflowError as exc:
        fail(str(exc))
    if fmt is Format.json and not columns:
        sys.stdout.write(plan.model_dump_json(indent=1) + "\n")
    elif fmt is Format.table and not columns:
        render.print_plan(plan, snap, console())
    else:
        write_rows(render.PLAN_COLUMNS, render.plan_rows(plan), fmt, columns or [])
    raise typer.Exit(0 if plan.feasible else 1)


SNAPSHOT = typer.Option(None, "--snapshot", help="Plan from this snapshot file (offline).")
CLOUD = typer.Option(
    None, "--os-cloud", "--cloud", envvar="OS_CLOUD", help="Or read this cloud now."
)
FORMAT = typer.Option(
    Format.table,
    "--format",
    "-f",
    help="table (the plan), json (the whole plan), or value / yaml (its moves).",
)
COLUMNS = typer.Option([], "--column", "-c", help="Column to show (repeat for several).")


@plan_app.command("drain")
def plan_drain(
    host: list[str] = typer.Option(..., "--host", "-H", help="Host(s) to empty."),
    policy: MethodPolicy = typer.Option(MethodPolicy.LIVE_THEN_COLD, help="Method policy."),
    scheduler: bool = typer.Option(False, "--scheduler", help="Let Nova pick destinations."),
    exclude: list[str] = typer.Option([], help="Hosts that must not receive instances."),
    snapshot_file: Path | None = SNAPSHOT,
    os_cloud: str | None = CLOUD,
    fmt: Format = FORMAT,
    column: list[str] = COLUMNS,
) -> None:
    """Where every instance of the host(s) would go, and how."""
    try:
        request = DrainRequest(
            hosts=host, policy=policy, let_scheduler_choose=scheduler, exclude_hosts=exclude
        )
    except ValidationError as exc:
        fail(f"bad request: {exc.errors()[0]['msg']}")
    show(request, snapshot_file, os_cloud, fmt, column)


@plan_app.command("evacuate")
def plan_evacuate(
    host: str = typer.Option(..., "--host", "-H", help="The failed host."),
    reserved: list[str] = typer.Option([], help="Spare hosts filled first."),
    shared_storage: bool = typer.Option(False, help="Instance disks on shared storage."),
    snapshot_file: Path | None = SNAPSHOT,
    os_cloud: str | None = CLOUD,
    fmt: Format = FORMAT,
    column: list[str] = COLUMNS,
) -> None:
    """Where each instance of a failed host would be rebuilt, by priority."""
    request = EvacuateRequest(host=host, reserved_hosts=reserved, shared_storage=shared_storage)
    show(request, snapshot_file, os_cloud, fmt, column)


@plan_app.command("rebalance")
def plan_rebalance(
    strategy: Strategy = typer.Option(..., help="consolidate, spread or proximity."),
    max_moves: int | None = typer.Option(None, help="Move budget (default: unlimited)."),
    select_project: str | None = typer.Option(
        None, help="proximity: a project, by name or ID (by ID with --snapshot)."
    ),
    select_name: str | None = typer.Option(None, help="proximity: names containing this."),
    target_host: list[str] = typer.Option([], help="proximity: destination hosts."),
    target_aggregate: str | None = typer.Option(None, help="proximity: destination aggregate."),
    target_zone: str | None = typer.Option(None, help="proximity: destination zone."),
    prometheus_url: str | None = PROMETHEUS_URL,
    load_window: str = LOAD_WINDOW,
    load_statistic: LoadStatistic = LOAD_STATISTIC,
    rate_interval: str = RATE_INTERVAL,
    snapshot_file: Path | None = SNAPSHOT,
    os_cloud: str | None = CLOUD,
    fmt: Format = FORMAT,
    column: list[str] = COLUMNS,
) -> None:
    """Consolidate, spread or proximity moves, within a budget, on measured CPU load."""
    if select_project and snapshot_file is None:
        select_project = project_id(os_cloud, select_project)
    try:
        load = load_settings(prometheus_url, load_window, load_statistic, rate_interval)
    except ValidationError as exc:
        fail(f"bad load option: {exc.errors()[0]['msg'].removeprefix('Value error, ')}")
    try:
        request = RebalanceRequest(
            strategy=strategy.value,
            max_moves=max_moves,
            select_project=select_project,
            select_name=select_name,
            target_hosts=target_host,
            target_aggregate=target_aggregate,
            target_zone=target_zone,
        )
    except ValidationError as exc:
        fail(f"bad request: {exc.errors()[0]['msg']}")
    show(request, snapshot_file, os_cloud, fmt, column, load)


if __name__ == "__main__":
    app()
