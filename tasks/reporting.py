"""What the operator sees in Prefect: the plan, live progress and the final report.

Artifacts are keyed by scenario and host so the Prefect UI's Artifacts page shows the
history of every host's maintenance runs side by side.
"""

from __future__ import annotations

import re
import time
from collections import Counter

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.events import emit_event

from novaflow.gates import host_list
from novaflow.models import ApprovalDecision, Outcome, Plan
from novaflow.render import counts_line, plan_rows, report_markdown, request_title


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")[:120]


def plan_summary(plan: Plan) -> str:
    """One line of plain text: how many moves by method, skips, capacity, warnings."""
    by_method = Counter(m.method.value for m in plan.moves)
    parts = [f"{n} {method}" for method, n in sorted(by_method.items())] or ["no moves"]
    text = f"{len(plan.moves)} moves ({', '.join(parts)}), {len(plan.skips)} skipped."
    if plan.capacity and not plan.capacity.fits:
        short = plan.capacity.needed.shortfall(plan.capacity.free)
        text += " NOT ENOUGH ROOM: short by " + ", ".join(f"{v:g} {k}" for k, v in short.items())
    for w in plan.warnings:
        text += f" Warning: {w}"
    return text


def plan_title(plan: Plan, scenario: str, hosts: list[str]) -> str:
    """Plain text (artifact descriptions show no markdown): 'node-maintenance plan for
    cmp-1: 4 moves ...'; a plan made before its hosts are known names its request."""
    what = host_list(hosts) if hosts else request_title(plan)
    return f"{scenario} plan for {what}: {plan_summary(plan)}"


def publish_plan(plan: Plan, scenario: str, hosts: list[str]) -> None:
    create_table_artifact(
        key=artifact_key("plan", scenario, *hosts[:8]),
        table=plan_rows(plan),
        description=plan_title(plan, scenario, hosts),
    )


def publish_report(
    scenario: str,
    hosts: list[str],
    outcomes: list[Outcome],
    decisions: list[tuple[str, ApprovalDecision]],
    notes: list[str],
    left_disabled: dict[str, str] | None = None,
) -> str:
    """The final report: failures first with Nova's reason and the next step, hosts left
    disabled, who approved what, then every instance; returns its markdown."""
    title = f"{scenario}: {host_list(hosts)}"
    markdown = report_markdown(title, outcomes, decisions, notes, left_disabled)
    create_markdown_artifact(
        key=artifact_key("report", scenario, *hosts[:8]),
        markdown=markdown,
        description=f"{title} report, instances: {counts_line(outcomes)}",
    )
    return markdown


class Progress:
    """A progress artifact updated as moves finish, at most once per `every_s` (and at 100%).

    The dispatcher updates it between moves, so one API call per move would hold up starting
    the next ones (~10 ms each on a busy server, a second per hundred near-instant moves).
    """

    def __init__(self, total: int, scenario: str, every_s: float = 1.0) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.every_s = every_s
        self._shown = 0
        self._shown_at = time.monotonic()
        self.artifact_id = create_progress_artifact(
            progress=0.0, description=f"{scenario}: moves finished"
        )

    def advance(self) -> None:
        self.done += 1
        if self.done >= self.total or time.monotonic() - self._shown_at >= self.every_s:
            self.flush()

    def flush(self) -> None:
        """Show the count now (the dispatcher calls it when it stops, done or not)."""
        if self._shown != self.done:
            self._shown, self._shown_at = self.done, time.monotonic()
            update_progress_artifact(self.artifact_id, progress=100.0 * self.done / self.total)


def emit_move_event(outcome: Outcome) -> None:
    emit_event(
        event=f"novaflow.move.{outcome.result}",
        resource={
            "prefect.resource.id": f"novaflow.instance.{outcome.instance_id}",
            "prefect.resource.name": outcome.instance_name,
        },
        payload=outcome.model_dump(mode="json"),
    )
