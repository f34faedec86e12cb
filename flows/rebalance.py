"""Rebalance the cloud: consolidate (power), spread (hot spots) or proximity (latency).

Runbook: snapshot -> plan with the chosen strategy and move budget -> approve -> move ->
report load before and after -> (consolidate) disable the hosts now empty, if asked.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import Refusals, Runbook
from flows.names import run_name
from flows.params import RunSettings
from flows.preflight import check_supported
from novaflow import gates
from novaflow.models import Host, Plan, RebalanceRequest, RunReport, Snapshot
from tasks.inventory import measure_load
from tasks.leftovers import leftover_hosts
from tasks.locks import hosts_claimed


def load(host: Host) -> float:
    """The busiest resource's share of what the host may hand out (0..1+)."""
    usable = host.usable
    shares = [
        host.used.vcpus / usable.vcpus if usable.vcpus else 0.0,
        host.used.ram_mb / usable.ram_mb if usable.ram_mb else 0.0,
        host.used.disk_gb / usable.disk_gb if usable.disk_gb else 0.0,
    ]
    return max(shares)


def load_summary(snapshot: Snapshot) -> str:
    """Allocation over the hosts that take instances: hottest, mean, std, empty hosts."""
    loads = [load(h) for h in snapshot.hosts if h.accepts_instances]
    if not loads:
        return "no host accepts instances"
    empty = sum(
        1 for h in snapshot.hosts if h.accepts_instances and not snapshot.instances_on(h.name)
    )
    return f"{_stats(loads)}, {empty} empty host(s)"


def cpu_summary(snapshot: Snapshot, plan: Plan) -> str:
    """Measured CPU load over the hosts that take instances, before and as planned after."""
    names = [h.name for h in snapshot.hosts if h.accepts_instances]
    before = [plan.load_before[n] for n in names if n in plan.load_before]
    after = [plan.load_after[n] for n in names if n in plan.load_after]
    if not before:
        return "no host accepts instances"
    return f"{_stats(before)}; planned after: {_stats(after or before)}"


def _stats(loads: list[float]) -> str:
    mean = sum(loads) / len(loads)
    std = (sum((x - mean) ** 2 for x in loads) / len(loads)) ** 0.5
    return f"hottest {max(loads):.0%}, mean {mean:.0%}, std {std:.0%}"


@flow(flow_run_name=run_name, name="rebalance", task_runner=ThreadPoolTaskRunner(max_workers=256))
def rebalance(
    strategy: Literal["consolidate", "spread", "proximity"] = "spread",
    max_moves: int | None = 20,
    min_gain: float = 0.005,
    cpu_ceiling: float = 0.8,
    disable_emptied: bool = False,
    select_project: str | None = None,
    select_metadata: dict[str, str] | None = None,
    select_name: str | None = None,
    target_hosts: list[str] | None = None,
    target_aggregate: str | None = None,
    target_zone: str | None = None,
    settings: RunSettings = RunSettings(),
) -> RunReport:
    """Move instances to consolidate, spread or bring them near their resources.

    Args:
        strategy: consolidate (empty hosts to save power), spread (cool hot spots),
            proximity (move selected instances to target hosts, an aggregate or a zone).
        max_moves: Move budget; empty for unlimited.
        min_gain: spread: each move must lower the hottest host's load by this much
            (hysteresis: tiny gains do not cost a migration).
        cpu_ceiling: consolidate: no host is filled past this CPU load (busy / threads).
        disable_emptied: consolidate: disable the compute service of hosts left empty.
        select_project: proximity: instances of this project.
        select_metadata: proximity: instances with these metadata key/values.
        select_name: proximity: instances whose name contains this.
        target_hosts: proximity: where they go.
        target_aggregate: proximity: where they go.
        target_zone: proximity: where they go.
        settings: Cloud, dry run, method policy, limits, timeouts and approval.
    """
    with Refusals() as refused:
        runbook = Runbook(f"rebalance-{strategy}", [], settings)
        snapshot = measure_load(runbook.snapshot(), settings.load)
        runbook.notes.append(snapshot.load.note)
        request = RebalanceRequest(
            strategy=strategy,
            max_moves=max_moves,
            min_gain=min_gain,
            cpu_ceiling=cpu_ceiling,
            policy=settings.method,
            exclude_hosts=settings.exclude_hosts,
            select_project=select_project,
            select_metadata=select_metadata or {},
            select_name=select_name,
            target_hosts=target_hosts or [],
            target_aggregate=target_aggregate,
            target_zone=target_zone,
        )
        plan = runbook.make_plan(snapshot, request)
        check_supported(snapshot, plan)
        if plan.load_basis == "cpu":
            runbook.notes.append(f"CPU load before: {cpu_summary(snapshot, plan)}")
        runbook.notes.append(f"allocation load before: {load_summary(snapshot)}")
        # Hosts a crashed run was emptying: its moves are finished (and their locks released)
        # even when the new plan no longer touches them.
        unfinished = set() if settings.dry_run else leftover_hosts(settings.cloud, snapshot)
        if settings.dry_run or not (plan.moves or unfinished):
            runbook.notes.append(
                "dry run: nothing was changed" if settings.dry_run else "nothing to do"
            )
            return runbook.report(dry_run=settings.dry_run)
        touched = sorted(
            {m.source for m in plan.moves} | {m.target for m in plan.moves if m.target} | unfinished
        )
        runbook.hosts = touched
        with hosts_claimed(touched):
            gate = gates.rebalance(strategy, touched, plan, **runbook.timeout)
            if not runbook.gate(gate).approved:
                runbook.notes.append("plan rejected: nothing was changed")
                return runbook.report()
            runbook.finish_leftovers(snapshot, touched, plan.moves)
            runbook.run_moves(snapshot, plan.moves)
            after = runbook.fresh_snapshot()
            runbook.notes.append(f"allocation load after: {load_summary(after)}")
            for name in plan.emptied_hosts:
                if after.instances_on(name):
                    runbook.notes.append(f"{name} was meant to end empty but still holds instances")
                elif disable_emptied:
                    runbook.disable(name, "novaflow: emptied by consolidation")
                    runbook.notes.append(f"{name} is empty and its compute service was disabled")
                else:
                    runbook.notes.append(f"{name} is empty (service left enabled)")
            return runbook.report()
    return refused.state
