"""Tells people what a run is doing: nothing extra for UI gates, a Slack thread for Slack.

Flows call the same hooks whatever the approval mode; only `mode == "slack"` posts, so
a flow never needs to know whether Slack is configured.
"""

from __future__ import annotations

from novaflow.gates import Gate
from novaflow.models import ApprovalDecision, Outcome, Plan, RunReport


class Notifier:
    """No-op notifier: the Prefect UI (artifacts, logs, events) already shows everything."""

    @staticmethod
    def for_run(mode: str, scenario: str, cloud: str, hosts: list[str]) -> Notifier:
        if mode == "slack":
            from tasks.slack_notify import SlackRunNotifier

            return SlackRunNotifier(scenario, cloud, hosts)
        return Notifier()

    def gate_opened(self, gate: Gate, plan: Plan | None) -> None:
        """A gate is about to pause the run."""

    def gate_decided(self, gate: Gate, decision: ApprovalDecision) -> None:
        """Someone (or the timeout) answered the gate."""

    def move_finished(self, outcome: Outcome) -> None:
        """One move ended, well or badly."""

    def finished(self, report: RunReport, markdown: str) -> None:
        """The run published its report."""
