"""`novaflow run ...`: run a scenario flow in the foreground with a live progress view.

The flow runs in a worker thread on the configured Prefect API (or an ephemeral one);
this thread watches it through the API, shows progress, and answers each gate at the
prompt (or with --yes) by resuming the paused run with the operator's login, exactly as
the Prefect UI or Slack would.
"""

from __future__ import annotations

import contextvars
import getpass
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import typer
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.flow_runs import resume_flow_run
from rich.console import Console
from rich.live import Live
from rich.table import Table

from novaflow.errors import REFUSALS
from novaflow.models import RunReport

console = Console(stderr=True)

FENCING_GATES = {"approve-evacuation"}


def _find_run(client, name: str):
    runs = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])), limit=1
    )
    return runs[0] if runs else None


def _plan_table(client, flow_run_id) -> Table | None:
    """The run's latest plan artifact as a table, for the prompt."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    arts = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    )
    tables = [a for a in arts if a.type == "table"]
    if not tables:
        return None
    latest = max(tables, key=lambda a: a.created)
    rows = latest.data if isinstance(latest.data, list) else []
    if isinstance(latest.data, str):
        import json

        rows = json.loads(latest.data)
    table = Table(title=latest.description, show_lines=False)
    for col in ("instance", "from", "to", "method", "why"):
        table.add_column(col)
    for row in rows[:200]:
        table.add_row(*(str(row.get(c, "")) for c in ("instance", "from", "to", "method", "why")))
    if len(rows) > 200:
        table.caption = f"... and {len(rows) - 200} more (see the plan artifact)"
    return table


Answer = Callable[[str], "dict[str, Any] | None"]


def prompt_answer(yes: bool, fenced: bool) -> Answer:
    """Answers gates at the terminal (or approves them all with --yes)."""

    def answer(gate: str) -> dict[str, Any]:
        user = getpass.getuser()
        if yes:
            return {
                "approved": True,
                "comment": "--yes",
                "fenced": fenced,
                "approver": user,
                "via": "cli",
            }
        approved = typer.confirm(f"Gate '{gate}': approve?", default=False)
        fence = False
        if approved and gate in FENCING_GATES:
            fence = typer.confirm("Is the node fenced (powered off)?", default=False)
        comment = typer.prompt("Comment", default="", show_default=False)
        return {
            "approved": approved,
            "comment": comment,
            "fenced": fence,
            "approver": user,
            "via": "cli",
        }

    return answer


def _progress(client, run) -> Table:
    task_runs = client.read_task_runs(
        flow_run_filter=FlowRunFilter(id={"any_": [run.id]}), limit=200
    )
    moves = [t for t in task_runs if t.name.split("-")[0] in ("live", "cold", "evacuate")]
    counts: dict[str, int] = {}
    for t in moves:
        state = t.state.name if t.state else "?"
        counts[state] = counts.get(state, 0) + 1
    table = Table(title=f"{run.name}: {run.state.name if run.state else '?'}")
    table.add_column("moves")
    table.add_column("count", justify="right")
    for state, n in sorted(counts.items()):
        table.add_row(state, str(n))
    return table


def watch_run(
    client, find_run: Callable[[], Any], running: Callable[[], bool], answer: Answer, show: bool
) -> None:
    """Follow a flow run until `running()` is false: show progress, answer each gate once."""
    answered: set[str] = set()
    live = Live(console=console, transient=True) if show else None
    if live:
        live.start()
    try:
        while running():
            run = find_run()
            if run is None:
                time.sleep(0.2)
                continue
            if live:
                live.update(_progress(client, run))
            state = run.state
            key = state.state_details.pause_key if state and state.is_paused() else None
            if key and key not in answered:
                answered.add(key)
                if live:
                    live.stop()
                    table = _plan_table(client, run.id)
                    if table is not None:
                        console.print(table)
                reply = answer(key)
                if reply is not None:
                    resume_flow_run(run.id, run_input=reply)
                if live:
                    live.start()
            time.sleep(0.3)
    finally:
        if live:
            live.stop()


def report_of(state) -> RunReport | None:
    """The RunReport a finished run returned (or carried in MovesIncomplete)."""
    result = state.result(raise_on_failure=False)
    if isinstance(result, RunReport):
        return result
    report = getattr(result, "report", None)
    if isinstance(report, RunReport):
        return report
    if isinstance(result, REFUSALS):  # refused before anything moved
        # No markup (a message may hold brackets) and no wrapping (one line per refusal).
        console.print(
            f"novaflow: refused, nothing was changed: {result}",
            style="red",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    console.print(f"[red]{state.name}: {state.message or result}[/red]")
    return None


def run_foreground(
    flow, params: dict[str, Any], answer: Answer, *, show: bool = True
) -> RunReport | None:
    """Run `flow` with `params`, answer each gate with `answer(gate)` (None: leave it
    unanswered, so it expires), and return the run's report."""
    name = f"cli-{uuid.uuid4().hex[:10]}"
    box: dict[str, Any] = {}

    def target() -> None:
        box["state"] = flow.with_options(flow_run_name=name)(**params, return_state=True)

    # Run in a copy of this context so the flow sees the same Prefect settings (API URL).
    worker = threading.Thread(target=contextvars.copy_context().run, args=(target,), daemon=True)
    worker.start()
    with get_client(sync_client=True) as client:
        watch_run(client, lambda: _find_run(client, name), worker.is_alive, answer, show)
    worker.join()
    state = box.get("state")
    return report_of(state) if state is not None else None


def print_report(report: RunReport) -> None:
    table = Table(title=f"{report.scenario} on {', '.join(report.hosts)}")
    for col in (
        "instance",
        "outcome",
        "method",
        "from",
        "now on",
        "status",
        "s",
        "error / next step",
    ):
        table.add_column(col)
    for o in report.outcomes:
        why = " -> ".join(x for x in (o.error, o.remedy) if x)
        secs = f"{o.seconds:.1f}" if o.seconds is not None else ""
        table.add_row(
            o.instance_name,
            o.result,
            o.method.value if o.method else "",
            o.source or "",
            o.final_host or "",
            o.final_status or "",
            secs,
            why,
        )
    console.print(table)
    for g in report.gates:
        d = g.decision
        verdict = "approved" if d.approved else "rejected"
        console.print(f"gate {g.gate}: {verdict} by {d.approver} via {d.via} {d.comment}")
    for note in report.notes:
        console.print(f"- {note}")
