"""Planned maintenance of one compute node: drain it, do the work, bring it back.

Runbook: check the host -> plan -> approve -> disable the compute service with the reason
-> move every instance off (live first, cold where live cannot or did not work) -> verify
the host is empty -> report -> "maintenance done" gate -> enable the service -> (optional)
move the instances back home.
"""

from __future__ import annotations

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import Refusals, Runbook
from flows.names import run_name
from flows.params import RunSettings
from flows.preflight import check_drainable, check_supported
from novaflow import gates
from novaflow.models import DrainRequest, Method, Move, RunReport, Snapshot
from tasks.locks import hosts_claimed


def drain_request(hosts: list[str], settings: RunSettings) -> DrainRequest:
    return DrainRequest(
        hosts=hosts,
        policy=settings.method,
        let_scheduler_choose=settings.let_scheduler_choose,
        exclude_hosts=settings.exclude_hosts,
    )


def moves_home(runbook: Runbook, host: str) -> list[Move]:
    """Every instance this run moved off `host`, back onto it (live where it went live)."""
    return [
        Move(
            instance_id=o.instance_id,
            instance_name=o.instance_name,
            source=o.final_host,
            target=host,
            method=Method.LIVE if o.method is Method.LIVE else Method.COLD,
            fallback=Method.COLD if o.method is Method.LIVE else None,
            reason=f"back home to {host} after maintenance",
        )
        for o in runbook.outcomes
        if o.result == "moved" and o.final_host and o.final_host != host
    ]


def drain_and_report(runbook: Runbook, snapshot: Snapshot, host: str, reason: str) -> None:
    """Disable the service, move everything off, and check the host really is empty."""
    runbook.disable(host, reason)
    runbook.finish_leftovers(snapshot, [host], runbook.plan.moves)
    runbook.run_moves(snapshot, runbook.plan.moves)
    left = runbook.left_on(host)
    if not left:
        runbook.notes.append(f"{host} holds no instance; its compute service is disabled")


@flow(
    flow_run_name=run_name,
    name="node-maintenance",
    task_runner=ThreadPoolTaskRunner(max_workers=256),
    validate_parameters=True,
)
def node_maintenance(
    host: str,
    reason: str = "maintenance",
    settings: RunSettings = RunSettings(),
    wait_for_done: bool = True,
    move_back: bool = False,
) -> RunReport:
    """Empty a compute node for maintenance, then bring it back.

    Args:
        host: The compute host to empty (as in `openstack compute service list`).
        reason: Shown as the compute service's disabled reason.
        settings: Cloud, dry run, method policy, limits, timeouts, window and approval.
        wait_for_done: Pause after the drain until the operator says the work is done.
        move_back: After the work, move every instance that left back to this host.
    """
    with Refusals() as refused:
        runbook = Runbook("node-maintenance", [host], settings)
        snapshot = runbook.snapshot()
        check_drainable(snapshot, [host])
        plan = runbook.make_plan(snapshot, drain_request([host], settings))
        runbook.require_feasible(plan)
        check_supported(snapshot, plan)
        if not plan.moves and not plan.skips:
            # Not an error: the host may need the work all the same; it is still taken out of
            # scheduling for it, so nothing lands there meanwhile.
            runbook.notes.append(f"{host} holds no instance: nothing to move")
        if settings.dry_run:
            runbook.notes.append("dry run: nothing was changed")
            return runbook.report(dry_run=True)
        with hosts_claimed([host]):
            gate = gates.maintenance_plan(host, reason, plan, **runbook.timeout)
            if not runbook.gate(gate).approved:
                runbook.notes.append("plan rejected: nothing was changed")
                return runbook.report()
            drain_and_report(runbook, snapshot, host, f"novaflow: {reason}")
            if not wait_for_done:
                runbook.notes.append(f"{host} left disabled for the work")
                return runbook.report()
            done = runbook.gate(gates.maintenance_done(host, move_back, **runbook.timeout))
            if not done.approved:
                runbook.notes.append(f"{host} left disabled: 'maintenance done' was not approved")
                return runbook.report()
            runbook.enable(host)
            runbook.notes.append(f"{host} enabled again after maintenance")
            if move_back:
                runbook.run_moves(runbook.fresh_snapshot(), moves_home(runbook, host))
            return runbook.report()
    return refused.state
