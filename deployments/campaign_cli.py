"""`novaflow campaign show NAME`: each host's state in a maintenance campaign, as kept in
Prefect between its runs (a table, or JSON for scripts)."""

from __future__ import annotations

import json
import os

import typer
from prefect.context import refresh_global_settings_context
from rich.console import Console
from rich.table import Table

from deployments.find_prefect import NoPrefect, lasting_prefect
from tasks.campaign_state import host_rows, read_campaign, variable_prefix

campaign_app = typer.Typer(
    no_args_is_help=True, help="Maintenance campaigns: where each host stands between windows."
)


@campaign_app.callback()
def campaign() -> None:
    """Maintenance campaigns (a group, so `show` stays a sub-command when mounted)."""


@campaign_app.command("show")
def show(
    name: str = typer.Argument(..., help="The campaign's name (the run's --campaign)."),
    output: str = typer.Option("table", "--format", help="table for people, json for scripts."),
) -> None:
    """Print each host of campaign NAME with its state, since when, and why."""
    if output not in ("table", "json"):
        typer.echo(f"error: --format is {output!r}: give table or json", err=True)
        raise typer.Exit(2)
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
    if output == "json":
        body = {
            "campaign": found.campaign,
            "hosts": [r.model_dump(mode="json") for r in found.hosts],
        }
        typer.echo(json.dumps(body, indent=2))
        return
    counts = ", ".join(f"{n} {s}" for s, n in sorted(found.counts().items()))
    table = Table(title=f"campaign {found.campaign}: {counts}")
    for column in ("host", "state", "since", "moved off", "note"):
        table.add_column(column)
    for row in host_rows(found):
        table.add_row(*row.values())
    Console(width=160).print(table)
