"""`novaflow campaign show NAME`: each host's state in a maintenance campaign, as kept in
Prefect between its runs (a table, or JSON for scripts)."""

from __future__ import annotations

import json
import os

import typer
from prefect.context import refresh_global_settings_context

from deployments.find_prefect import NoPrefect, lasting_prefect
from novaflow.output import Format, UnknownColumn, pick, write_rows
from tasks.campaign_state import host_rows, read_campaign, variable_prefix

COLUMNS = ("host", "state", "since", "moved off", "note")

campaign_app = typer.Typer(
    no_args_is_help=True, help="Maintenance campaigns: where each host stands between windows."
)


@campaign_app.callback()
def campaign() -> None:
    """Maintenance campaigns (a group, so `show` stays a sub-command when mounted)."""


@campaign_app.command("show")
def show(
    name: str = typer.Argument(..., help="The campaign's name (the run's --campaign)."),
    output: Format = typer.Option(
        Format.table,
        "--format",
        "-f",
        help="table for people; json ({campaign, hosts}) , value or yaml for scripts.",
    ),
    column: list[str] = typer.Option([], "--column", "-c", help="Column to show (repeat)."),
) -> None:
    """Print each host of campaign NAME with its state, since when, and why."""
    try:
        pick(COLUMNS, column)
    except UnknownColumn as exc:
        typer.echo(f"novaflow: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        url = lasting_prefect()
    except NoPrefect as exc:
        typer.echo(f"novaflow: {exc}", err=True)
        raise typer.Exit(2) from None
    os.environ["PREFECT_API_URL"] = url
    refresh_global_settings_context()
    found = read_campaign(name)
    if found is None:
        typer.echo(
            f"error: no campaign named {name!r} (no Prefect variable {variable_prefix(name)}*); "
            "a campaign exists once a run with --campaign NAME has started",
            err=True,
        )
        raise typer.Exit(1)
    if output is Format.json:
        body = {
            "campaign": found.campaign,
            "hosts": [r.model_dump(mode="json") for r in found.hosts],
        }
        typer.echo(json.dumps(body, indent=2))
        return
    counts = ", ".join(f"{n} {s}" for s, n in sorted(found.counts().items()))
    write_rows(
        COLUMNS, host_rows(found), output, column, title=f"campaign {found.campaign}: {counts}"
    )
