"""Rolling maintenance (the kernel-upgrade job): many hosts, a batch at a time, or a
campaign that does the work itself.

Runbook: pick the hosts (a list, an aggregate or a zone) -> check each -> approve the
rolling plan -> for each batch: plan its drain on a fresh snapshot, check the rest of the
cloud keeps its free-capacity margin, disable, move, verify empty, wait for "batch done",
enable -> stop starting batches when the window ends -> report.

With a work step (a command or a deployment) the run is an unattended campaign
(flows/campaign.py): after the one approval, `batch_size` hosts are in flight at once, each
on its own: skip check -> drain (onto hosts already done first) -> work -> prove back in
service -> enable if it was enabled before; the next host starts as soon as one finishes.
Each host's state is kept in a Prefect Variable named after the campaign, so the next window
resumes where this one stopped.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows.campaign import free_fraction, run_campaign
from flows.common import Refusals, Runbook
from flows.maintenance import drain_request
from flows.names import run_name
from flows.params import RunSettings
from flows.preflight import NOVAFLOW_REASON, check_drainable, check_supported, find_host
from novaflow import gates
from novaflow.campaign import Campaign, WorkStep
from novaflow.errors import BadRequest
from novaflow.gates import host_list
from novaflow.models import RunReport, Snapshot
from tasks.campaign_state import CampaignBook
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
    campaign: str | None = None,
    work_command: str | None = None,
    work_deployment: str | None = None,
    work_timeout_s: float = 3600,
    on_work_failure: Literal["stop", "skip"] = "stop",
    check_timeout_s: float = 1800,
    canary: bool = False,
    skip_check: str | None = None,
    retry_failed: bool = False,
    max_per_zone: int | None = None,
    max_per_aggregate: int | None = None,
    max_moved_twice: float = 0.03,
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
        campaign: Name of the campaign: each host's state is kept under it, so a later run
            (next window) skips hosts done and resumes the rest.
        work_command: The work on each empty host, a command with {host} (e.g.
            `ssh {host} sudo reboot`), run by the worker; replaces the batch-done gate.
        work_deployment: The work as a Prefect deployment "flow/deployment", run with
            `host` as its parameter; its final state decides.
        work_timeout_s: Work still running after this has failed.
        on_work_failure: stop: no new host starts after a host fails; skip: go on.
        check_timeout_s: How long a host has to report back in service after its work.
        canary: Also run a small instance on the host (booted elsewhere, moved onto it by a
            forced live migration while it is still disabled) before enabling it.
        skip_check: A command with {host}; exit 0 means the host is already done.
        retry_failed: Try hosts that failed in an earlier run of the campaign again.
        max_per_zone: Hosts of one availability zone in maintenance at once.
        max_per_aggregate: Hosts of one aggregate (a rack, say) in maintenance at once.
        max_moved_twice: Share of the campaign's instances that may land on a host still to
            do, and so move again later, so that `batch_size` hosts keep going; past it, a
            host whose instances fit nowhere else waits for a host in flight to be done.
            0 keeps every instance to one move wherever capacity allows, and early in a
            campaign, when few hosts are done, leaves most of the batch waiting.
    """
    with Refusals() as refused:
        if work_command and work_deployment:
            raise BadRequest(
                "both work_command and work_deployment are given: the work is one or the other",
                "give work_command (a command with {host}) or work_deployment (flow/deployment)",
            )
        for name, value in (
            ("max_per_zone", max_per_zone),
            ("max_per_aggregate", max_per_aggregate),
        ):
            if value is not None and value < 1:
                raise BadRequest(
                    f"{name} is {value}: at least one host must be allowed at a time",
                    f"give {name} 1 or more, or leave it empty for no limit",
                )
        if not 0 <= max_moved_twice <= 1:
            raise BadRequest(
                f"max_moved_twice is {max_moved_twice}: it is a share of the instances",
                "give a value from 0 (every instance moves once) to 1 (0.03 lets 3% move twice)",
            )
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
        work = WorkStep(
            command=work_command,
            deployment=work_deployment,
            timeout_s=work_timeout_s,
            on_failure=on_work_failure,
            check_timeout_s=check_timeout_s,
            canary=canary,
        )
        if work.given:
            book = (
                CampaignBook.open(campaign)
                if campaign
                else CampaignBook(Campaign(campaign="unnamed"), persist=False)
            )
            book.persist = book.persist and not settings.dry_run
            with book:  # host states are saved by a writer of their own (see CampaignBook)
                return run_campaign(
                    runbook,
                    snapshot,
                    selected,
                    book,
                    work,
                    reason=reason,
                    batch_size=batch_size,
                    margin=min_free_fraction,
                    skip_check=skip_check,
                    retry_failed=retry_failed,
                    max_per_zone=max_per_zone,
                    max_per_aggregate=max_per_aggregate,
                    max_moved_twice=max_moved_twice,
                )
        if campaign:
            runbook.notes.append(
                f"campaign {campaign} not recorded: host states are kept for runs with a work "
                "step (work_command or work_deployment); this run waits at batch-N-done gates"
            )
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
