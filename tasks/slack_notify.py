"""The Slack side of a run: the gate message, its verdict, progress and the report thread.

Used when a run's approval mode is `slack`. Every gate of the run gets its own message;
progress and the final report go into the thread of the run's first gate message.
"""

from __future__ import annotations

from prefect import get_run_logger
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_UI_URL

from novaflow.gates import Gate
from novaflow.models import ApprovalDecision, Outcome, Plan, RunReport
from novaflow.slack import SlackGate, SlackSettings
from tasks.notify import Notifier


def run_url() -> tuple[str, str]:
    """(flow run id, its address in the Prefect UI)."""
    ctx = FlowRunContext.get()
    run_id = str(ctx.flow_run.id) if ctx and ctx.flow_run else ""
    base = (PREFECT_UI_URL.value() or "").rstrip("/")
    return run_id, f"{base}/runs/flow-run/{run_id}" if base else run_id


class SlackRunNotifier(Notifier):
    """Posts a run's gates to Slack and keeps its thread up to date."""

    def __init__(self, scenario: str, cloud: str, hosts: list[str]) -> None:
        self.scenario, self.cloud, self.hosts = scenario, cloud, hosts
        # Fails at once, naming the missing variable, before any gate opens.
        self.gate = SlackGate.from_settings(SlackSettings())
        self.messages: dict[str, str] = {}
        self.thread: str | None = None

    def gate_opened(self, gate: Gate, plan: Plan | None) -> None:
        run_id, url = run_url()
        hosts = gate.hosts or self.hosts
        ts = self.gate.post_gate(
            self.scenario,
            self.cloud,
            hosts,
            plan or _empty_plan(hosts),
            run_id,
            url,
            gate.needs_fencing,
            gate_key=gate.key,
            gate=gate,
        )
        self.messages[gate.key] = ts
        self.thread = self.thread or ts

    def gate_decided(self, gate: Gate, decision: ApprovalDecision) -> None:
        ts = self.messages.get(gate.key)
        if ts is None:
            return
        if decision.via == "timeout":
            self.gate.mark_expired(ts, decision.comment)
        elif decision.via != "slack":  # the listener already updated Slack's own clicks
            self.gate.mark_decided(ts, decision, run_url()[1])

    def move_finished(self, outcome: Outcome) -> None:
        if self.thread and outcome.result not in ("moved", "already-done"):
            self.gate.post_progress(
                self.thread,
                f":warning: {outcome.instance_name}: {outcome.error or outcome.result}. "
                f"{getattr(outcome, 'next_step', None) or outcome.remedy or ''}",
            )

    def finished(self, report: RunReport, markdown: str) -> None:
        if not self.thread:
            return
        try:
            decisions = [(g.gate, g.decision) for g in report.gates]
            self.gate.post_report(self.thread, report.outcomes, decisions=decisions)
            for note in report.notes:
                self.gate.post_progress(self.thread, note)
        except Exception as exc:  # the report artifact exists; Slack is a courtesy here
            get_run_logger().warning("could not post the report to Slack: %s", type(exc).__name__)


def _empty_plan(hosts: list[str]) -> Plan:
    from novaflow.models import DrainRequest

    return Plan(request=DrainRequest(hosts=hosts or ["-"]))
