"""A node that has failed: make sure it is really down, then rebuild its instances elsewhere.

Runbook: check the host -> plan (priorities first, reserved hosts first) -> approval gate
that requires "the node is fenced" -> force the compute service down -> evacuate every
instance (resetting those stuck in a task from the crash, as Nova requires) -> verify each
is back in its prior power state elsewhere with the same UUID, name and addresses -> report.
"""

from __future__ import annotations

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import Refusals, Runbook
from flows.names import run_name
from flows.params import RunSettings
from flows.preflight import check_evacuable
from novaflow import gates
from novaflow.models import EvacuateRequest, RunReport, Snapshot
from tasks.locks import hosts_claimed


def verify_evacuated(runbook: Runbook, snapshot: Snapshot, host: str) -> None:
    """Each instance: same UUID, name and addresses, prior power state, on another host."""
    before = {i.id: i for i in snapshot.instances_on(host)}
    after = {i.id: i for i in runbook.fresh_snapshot().instances}
    for iid, old in before.items():
        new = after.get(iid)
        if new is None:
            runbook.notes.append(f"{old.label} no longer exists")
        elif new.in_down_cell:
            # Listed by Nova with status UNKNOWN: neither gone nor known to be anywhere.
            runbook.notes.append(
                f"{old.label} is in a cell that does not answer: where it is cannot be told; "
                "check it when the cell is back"
            )
        elif new.host == host:
            runbook.notes.append(f"{old.label} is still on the failed host {host} ({new.status})")
        elif new.name != old.name or new.addresses != old.addresses:
            runbook.notes.append(f"{old.label} was rebuilt but its name or addresses changed")
        elif old.status in ("ACTIVE", "SHUTOFF") and new.status != old.status:
            runbook.notes.append(
                f"{old.label} is {new.status} on {new.host}; it was {old.status} before"
            )


@flow(
    flow_run_name=run_name,
    name="evacuate-failed-node",
    task_runner=ThreadPoolTaskRunner(max_workers=256),
)
def evacuate_failed_node(
    host: str,
    reserved_hosts: list[str] | None = None,
    priority_key: str = "evacuation_priority",
    shared_storage: bool = False,
    pack_targets: bool = False,
    settings: RunSettings = RunSettings(),
) -> RunReport:
    """Rebuild every instance of a failed compute node on other nodes.

    Args:
        host: The failed compute host.
        reserved_hosts: Spare hosts to fill first.
        priority_key: Instance metadata key; higher values are evacuated first.
        shared_storage: Instance disks are on shared storage (local disks survive).
        pack_targets: Fill reserved hosts one at a time, keeping others free for the next
            failure, at the cost of a slower recovery.
        settings: Cloud, dry run, limits, timeouts and approval (fencing is always asked).
    """
    with Refusals() as refused:
        runbook = Runbook("evacuate-failed-node", [host], settings)
        snapshot = runbook.snapshot()
        check_evacuable(snapshot, host, settings.approval.mode)
        request = EvacuateRequest(
            host=host,
            reserved_hosts=reserved_hosts or [],
            priority_key=priority_key,
            let_scheduler_choose=settings.let_scheduler_choose,
            exclude_hosts=settings.exclude_hosts,
            shared_storage=shared_storage,
            pack_targets=pack_targets,
        )
        plan = runbook.make_plan(snapshot, request)
        if settings.dry_run:
            runbook.notes.append("dry run: nothing was changed")
            return runbook.report(dry_run=True)
        with hosts_claimed([host]):
            gate = gates.evacuation(host, snapshot.host(host).is_up, plan, **runbook.timeout)
            if not runbook.gate(gate).approved:
                runbook.notes.append("evacuation not approved: nothing was changed")
                return runbook.report()
            if not snapshot.host(host).forced_down:
                runbook.force_down(host)
            else:
                runbook.left_disabled[host] = "compute service forced down (it already was)"
            runbook.notes.append(f"{host}'s compute service is forced down")
            for move in plan.moves:
                if move.needs_state_reset:
                    runbook.notes.append(f"{move.instance_name}: {move.reason}")
            runbook.finish_leftovers(snapshot, [host], plan.moves)
            runbook.run_moves(snapshot, plan.moves)
            verify_evacuated(runbook, snapshot, host)
            return runbook.report()
    return refused.state
