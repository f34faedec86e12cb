"""Rolling maintenance (the kernel-upgrade job): many hosts, a batch at a time.

Runbook: pick the hosts (a list, an aggregate or a zone) -> check each -> approve the
rolling plan -> for each batch: plan its drain on a fresh snapshot, check the rest of the
cloud keeps its free-capacity margin, disable, move, verify empty, wait for "batch done",
enable -> stop starting batches when the window ends -> report.
"""

from __future__ import annotations

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import Refusals, Runbook
from flows.maintenance import drain_request
from flows.names import run_name
from flows.params import RunSettings
from flows.preflight import NOVAFLOW_REASON, check_drainable, check_supported, find_host
from novaflow import gates
from novaflow.errors import BadRequest
from novaflow.gates import host_list
from novaflow.models import Resources, RunReport, Snapshot
from tasks.locks import hosts_claimed


def select_hosts(
    snapshot: Snapshot, hosts: list[str] | None, aggregate: str | None, zone: str | None
) -> list[str]:
    """Exactly one way of naming the hosts, resolved against the cloud."""
    given = [x for x in (hosts, aggregate, zone) if x]
    if len(given) != 1:
        raise BadRequest(
            "name the hosts one way: a list of hosts, an aggregate or a zone",
            "set exactly one of hosts, aggregate, zone",
        )
    if hosts:
        return [find_host(snapshot, h).name for h in hosts]
    picked = [
        h.name
        for h in snapshot.hosts
        if (aggregate and aggregate in h.aggregates) or (zone and h.zone == zone)
    ]
    if not picked:
        what = f"aggregate '{aggregate}'" if aggregate else f"zone '{zone}'"
        raise BadRequest(
            f"{what} holds no compute host",
            "check the name: `openstack aggregate list`, `openstack availability zone list`",
        )
    return sorted(picked)


def free_fraction(snapshot: Snapshot, without: list[str]) -> float:
    """The smallest share of free room over vCPU, RAM and disk once `without` are out."""
    usable, used = Resources(), Resources()
    for h in snapshot.hosts:
        if h.accepts_instances and h.name not in without:
            usable = usable + h.usable
        used = used + h.used if h.is_up else used
    shares = [
        1 - used.vcpus / usable.vcpus if usable.vcpus else 0.0,
        1 - used.ram_mb / usable.ram_mb if usable.ram_mb else 0.0,
        1 - used.disk_gb / usable.disk_gb if usable.disk_gb else 0.0,
    ]
    return min(shares)


def taken_meanwhile(snapshot: Snapshot, batch: list[str]) -> str | None:
    """A host of the batch that someone else disabled after the run began, if any.

    The preflight refuses such a host up front; one disabled later is someone's hold too
    (a failing disk, their own maintenance): novaflow neither overwrites their reason nor
    enables the host at the end of the batch, which would undo it.
    """
    for name in batch:
        host = snapshot.host(name)
        reason = host.disabled_reason or ""
        if host.status == "disabled" and not reason.startswith(NOVAFLOW_REASON):
            return f"{name} was disabled by someone else meanwhile (reason: {reason or 'none'})"
    return None


def drain_batch(runbook: Runbook, batch: list[str], reason: str, margin: float) -> bool:
    """Plan, check the margin, disable, move and verify one batch; False stops the rollout."""
    settings = runbook.settings
    snapshot = runbook.fresh_snapshot()
    taken = taken_meanwhile(snapshot, batch)
    if taken:
        runbook.notes.append(
            f"stopped before {', '.join(batch)}: {taken}; it is left as they set it -> check "
            "with its owner, then run again for the hosts not drained"
        )
        return False
    left = free_fraction(snapshot, batch)
    if left < margin:
        runbook.notes.append(
            f"stopped before {', '.join(batch)}: the rest of the cloud would keep only "
            f"{left:.0%} free (margin {margin:.0%})"
        )
        return False
    plan = runbook.make_plan(snapshot, drain_request(batch, settings))
    if not plan.feasible:
        runbook.notes.append(f"stopped before {', '.join(batch)}: the cloud cannot absorb them")
        return False
    for host in batch:
        runbook.disable(host, f"novaflow: {reason}")
    runbook.finish_leftovers(snapshot, batch, plan.moves)
    runbook.run_moves(snapshot, plan.moves)
    return all(not runbook.left_on(host) for host in batch)


@flow(
    flow_run_name=run_name,
    name="rolling-maintenance",
    task_runner=ThreadPoolTaskRunner(max_workers=256),
)
def rolling_maintenance(
    hosts: list[str] | None = None,
    aggregate: str | None = None,
    zone: str | None = None,
    batch_size: int = 1,
    min_free_fraction: float = 0.10,
    reason: str = "rolling maintenance",
    wait_for_done: bool = True,
    settings: RunSettings = RunSettings(),
) -> RunReport:
    """Drain, service and re-enable many hosts, `batch_size` at a time.

    Args:
        hosts: The hosts, in order (or use aggregate / zone).
        aggregate: Every host of this host aggregate.
        zone: Every host of this availability zone.
        batch_size: Hosts drained at once.
        min_free_fraction: Never let free capacity of the rest fall below this share.
        reason: Shown as each compute service's disabled reason.
        wait_for_done: Pause after each batch until the operator says its work is done;
            when off, each batch is enabled again as soon as it is empty.
        settings: Cloud, dry run, method policy, limits, timeouts, window and approval.
    """
    with Refusals() as refused:
        if batch_size < 1:
            raise BadRequest(
                f"batch_size is {batch_size}: a batch must hold at least one host",
                "give batch_size 1 or more (1 drains one host at a time)",
            )
        if not 0 <= min_free_fraction < 1:
            raise BadRequest(
                f"min_free_fraction is {min_free_fraction}: it is a share of capacity",
                "give a value from 0 (no margin) up to, but not including, 1 (0.10 keeps 10% free)",
            )
        runbook = Runbook("rolling-maintenance", [], settings)
        snapshot = runbook.snapshot()
        selected = select_hosts(snapshot, hosts, aggregate, zone)
        runbook.hosts = selected
        check_drainable(snapshot, selected)
        batches = [selected[i : i + batch_size] for i in range(0, len(selected), batch_size)]
        first = runbook.make_plan(snapshot, drain_request(batches[0], settings))
        runbook.require_feasible(first)
        check_supported(snapshot, first)
        if settings.dry_run:
            runbook.notes.append(f"dry run: {len(batches)} batch(es): {batches}")
            return runbook.report(dry_run=True)
        with hosts_claimed(selected):
            gate = gates.rolling_plan(selected, batches, first, **runbook.timeout)
            if not runbook.gate(gate).approved:
                runbook.notes.append("plan rejected: nothing was changed")
                return runbook.report()
            for n, batch in enumerate(batches, start=1):
                if runbook.window_closed():
                    runbook.notes.append(f"window ended: batches not started: {batches[n - 1 :]}")
                    break
                if not drain_batch(runbook, batch, reason, min_free_fraction):
                    rest = batches[n:]
                    if rest:  # say which hosts were never drained, so nothing left goes unreported
                        runbook.notes.append(
                            f"stopped after batch {n} ({', '.join(batch)}): batches not started: "
                            + "; ".join(", ".join(b) for b in rest)
                        )
                    break
                done = gates.batch_done(n, batch, len(batches) - n, **runbook.timeout)
                if wait_for_done and not runbook.gate(done).approved:
                    runbook.notes.append(f"{host_list(batch)} left disabled: batch {n} not done")
                    break
                for host in batch:
                    runbook.enable(host)
                runbook.notes.append(f"batch {n} ({', '.join(batch)}) done and enabled again")
            return runbook.report()
    return refused.state
