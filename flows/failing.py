"""A node that still runs but will fail soon: move everything off, fast.

Runbook: check the host -> plan (live first, cold where live cannot) -> a short approval
gate whose default, if nobody answers, is to go ahead -> disable the service, clearly
marked as failing -> move everything with high parallelism -> verify -> report. The node
stays disabled for the hardware team.
"""

from __future__ import annotations

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import Refusals, Runbook
from flows.maintenance import drain_and_report, drain_request
from flows.names import run_name
from flows.params import ApprovalSettings, RunSettings
from flows.preflight import check_drainable, check_supported
from novaflow import gates
from novaflow.models import MethodPolicy, RunReport
from tasks.locks import hosts_claimed

URGENT = RunSettings(
    method=MethodPolicy.LIVE_THEN_COLD,
    max_parallel=32,
    move_timeout_s=900,
    approval=ApprovalSettings(timeout_s=300, on_timeout="approve"),
)


@flow(
    flow_run_name=run_name, name="failing-node", task_runner=ThreadPoolTaskRunner(max_workers=256)
)
def failing_node(
    host: str, reason: str = "failing hardware", settings: RunSettings = URGENT
) -> RunReport:
    """Move every instance off a node that is about to fail; leave it disabled.

    Args:
        host: The failing compute host.
        reason: What is failing (shown as the service's disabled reason).
        settings: Defaults are urgent: 32 moves at once, a 5-minute gate that approves
            when nobody answers, live-then-cold.
    """
    with Refusals() as refused:
        runbook = Runbook("failing-node", [host], settings)
        snapshot = runbook.snapshot()
        check_drainable(snapshot, [host])
        plan = runbook.make_plan(snapshot, drain_request([host], settings))
        check_supported(snapshot, plan)
        if not plan.moves and not plan.skips:
            runbook.notes.append(f"{host} holds no instance: nothing to move")
        if not plan.feasible:
            runbook.notes.append("the cloud cannot take every instance: moving what fits first")
        if settings.dry_run:
            runbook.notes.append("dry run: nothing was changed")
            return runbook.report(dry_run=True)
        with hosts_claimed([host]):
            if not runbook.gate(gates.failing_node(host, reason, plan, **runbook.timeout)).approved:
                runbook.notes.append("plan rejected: nothing was changed")
                return runbook.report()
            drain_and_report(runbook, snapshot, host, f"novaflow: FAILING: {reason}")
            runbook.notes.append(f"{host} left disabled and marked 'FAILING: {reason}'")
            return runbook.report()
    return refused.state
