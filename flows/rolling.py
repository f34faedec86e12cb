"""Rolling maintenance (the kernel-upgrade job): many hosts, a batch at a time, or a
campaign that does the work itself.

Runbook: pick the hosts (a list, an aggregate or a zone) -> check each -> approve the
rolling plan -> for each batch: plan its drain on a fresh snapshot, check the rest of the
cloud keeps its free-capacity margin, disable, move, verify empty, wait for "batch done",
enable -> stop starting batches when the window ends -> report.

With a work step (a command or a deployment) the run is an unattended campaign: after the
one approval, `batch_size` hosts are in flight at once, each on its own: skip check ->
drain (onto hosts already done first) -> work -> prove back in service -> enable if it was
enabled before; the next host starts as soon as one finishes. Each host's state is kept in
a Prefect Variable named after the campaign, so the next window resumes where this one
stopped.
"""

from __future__ import annotations

import queue
import threading
from typing import Literal

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import Refusals, Runbook
from flows.maintenance import drain_request
from flows.names import run_name
from flows.params import RunSettings
from flows.preflight import NOVAFLOW_REASON, check_drainable, check_supported, find_host
from novaflow import gates
from novaflow.campaign import (
    Campaign,
    HostRecord,
    WorkStep,
    hosts_to_do,
    may_start,
    repeat_moves_note,
    tail,
    with_claims,
)
from novaflow.errors import BadRequest
from novaflow.gates import host_list
from novaflow.models import DrainRequest, Outcome, Plan, Resources, RunReport, Snapshot
from novaflow.planner import plan as plan_drain
from novaflow.refusals import Cause
from tasks import live
from tasks.back_in_service import prove_back_in_service
from tasks.campaign_state import CampaignBook
from tasks.emptied import instances_left
from tasks.locks import hosts_claimed
from tasks.reporting import plan_summary, publish_plan
from tasks.skip_check import already_done
from tasks.work import run_work

REPLANS = 2
"""Times a drain plans again the moves Nova refused (NoValidHost: the target filled up or
went out of service between the plan and the move) before the host is reported failed."""

RETRIED_CAUSES = (Cause.NO_VALID_HOST, Cause.GROUP_POLICY, Cause.HOST_UNAVAILABLE)


def refused_in_place(outcome: Outcome) -> bool:
    """A move Nova refused at its target, with the instance unharmed where it was: trying
    another target on a fresh read is safe and may succeed."""
    return (
        outcome.result == "failed"
        and outcome.cause in {str(c) for c in RETRIED_CAUSES}
        and outcome.final_host == outcome.source
        and outcome.final_status in ("ACTIVE", "SHUTOFF")
    )


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


class HostsFailed(Exception):
    """Raised at the end of a campaign run in which hosts failed, so the run is Failed (and
    shows red in the UI) after its report, which names each host and why, was published."""

    def __init__(self, report: RunReport, failed: list[str]) -> None:
        self.report = report
        super().__init__(
            f"{len(failed)} host(s) failed and stay disabled: {', '.join(failed)}. Each "
            "one's reason and the work's output are in the report; fix them, then run the "
            "campaign again with retry_failed."
        )


@task(name="campaign-host", task_run_name="campaign-host-{host}", cache_policy=NO_CACHE)
def service_host(run: CampaignRun, host: str) -> HostRecord:
    """One host's way through the campaign (a task, so the UI shows each host's run)."""
    return run.service(host)


class CampaignRun:
    """One run of a campaign: a dispatcher keeping `batch_size` host pipelines busy, and
    the pipeline each host goes through.

    Drains run side by side, but their plans take turns: each plans on a fresh read of the
    cloud with the room that drains still under way have claimed taken out, then disables
    its host, so two drains never count on the same free room, and instances land on hosts
    already done (or outside the campaign) wherever one fits.
    """

    def __init__(
        self,
        runbook: Runbook,
        book: CampaignBook,
        snapshot: Snapshot,
        selected: list[str],
        work: WorkStep,
        reason: str,
        *,
        batch_size: int,
        margin: float,
        max_per_zone: int | None,
        max_per_aggregate: int | None,
    ) -> None:
        self.runbook = runbook
        self.settings = runbook.settings
        self.book = book
        self.selected = selected
        self.work = work
        self.reason = reason
        self.batch_size = batch_size
        self.margin = margin
        self.max_per_zone = max_per_zone
        self.max_per_aggregate = max_per_aggregate
        self.zone_of = {h.name: h.zone for h in snapshot.hosts}
        self.aggregates_of = {h.name: list(h.aggregates) for h in snapshot.hosts}
        self.drain_turn = threading.Lock()
        """Held while a host's drain is planned and the host disabled: plans take turns."""
        self.claims: dict[str, str] = {}
        """Instance id -> target of every move planned by a drain still under way."""
        self.latest: Snapshot | None = None
        """The last read of the cloud (the margin check uses it while hosts are in flight)."""
        self.stopped: str | None = None
        """Why no new host starts (a failure under on_work_failure=stop, the margin)."""
        self.failed: list[str] = []
        self.busy: set[str] = set()
        """Hosts whose turn is under way (the dispatcher's view, read by the pipelines)."""
        self.waits: set[str] = set()
        """Hosts that gave their turn back to wait for a host in flight to be done."""
        self.started: set[str] = set()
        """Hosts disabled and on their way to done or failed (they never wait again, so a
        host waiting for one of them waits for something that will happen)."""
        self.changes = 0
        """Counts what plans depend on: hosts disabled or given back, drains ended."""
        self.read_at = -1
        """`changes` when `latest` was read."""
        self.drain_turn_guard = threading.Lock()
        self.planned: dict[str, threading.Event] = {}
        """Set once a host's drain is planned (or it gave its turn back): hosts plan in the
        order they start, so an empty host is taken out before the next one plans."""

    # -- the dispatcher ------------------------------------------------------------------
    def run(self, todo: list[str]) -> None:
        """Start hosts in order as room allows, each as soon as another finishes."""
        waiting = list(todo)
        held_back: list[str] = []  # waiting for a host in flight to be done
        in_flight: dict[PrefectFuture, str] = {}
        finished: queue.Queue[PrefectFuture] = queue.Queue()
        while waiting or in_flight or held_back:
            if not in_flight and held_back:  # nothing will be done sooner: go ahead
                waiting, held_back = held_back + waiting, []
            if waiting and (self.stopped or self.runbook.window_closed()):
                why = self.stopped or "the maintenance window ended"
                self.runbook.notes.append(f"{why}: hosts not started: {', '.join(waiting)}")
                waiting = []
            if waiting:
                waiting = self._start_what_fits(waiting, in_flight, finished)
            if not in_flight:
                continue  # nothing will finish: the loop ends, or notes why hosts wait
            future = finished.get()
            host = in_flight.pop(future)
            if host not in self.waits:
                self.changed()
            self.busy.discard(host)
            self.started.discard(host)
            if host in self.waits:
                self.waits.discard(host)
                held_back.append(host)
                continue
            waiting, held_back = held_back + waiting, []
            try:
                future.result()
            except Exception as exc:  # the pipeline itself broke: say so, keep the rest going
                self._fail(
                    self.book.record(host),
                    f"its turn stopped on an error: {exc}; check its compute service",
                )

    def _start_what_fits(
        self,
        waiting: list[str],
        in_flight: dict[PrefectFuture, str],
        finished: queue.Queue[PrefectFuture],
    ) -> list[str]:
        """Start waiting hosts while the run, their zone and aggregates, and the margin allow."""
        held: list[str] = []
        snapshot: Snapshot | None = None
        for i, host in enumerate(waiting):
            if len(in_flight) >= self.batch_size:
                return held + waiting[i:]
            busy = list(in_flight.values())
            if may_start(
                host,
                busy,
                self.zone_of,
                self.aggregates_of,
                max_per_zone=self.max_per_zone,
                max_per_aggregate=self.max_per_aggregate,
            ):
                held.append(host)
                continue
            if snapshot is None:
                # While hosts are in flight the last plan's read will do (hosts finished since
                # count as still out: on the safe side); with none, read the cloud afresh.
                snapshot = self.latest if in_flight and self.latest else self.fresh()
            left = free_fraction(snapshot, [*busy, host])
            if left < self.margin:
                if not in_flight:
                    self.stopped = (
                        f"stopped before {host}: the rest of the cloud would keep only "
                        f"{left:.0%} free (margin {self.margin:.0%})"
                    )
                return held + waiting[i:]
            self.busy.add(host)
            planned = self.planned[host] = threading.Event()
            future = service_host.submit(self, host)
            future.add_done_callback(finished.put)
            future.add_done_callback(lambda _f, e=planned: e.set())  # also if it crashed
            in_flight[future] = host
            planned.wait()  # its plan first: the next host plans with this one taken out
        return held

    def fresh(self) -> Snapshot:
        self.latest = self.runbook.fresh_snapshot()
        self.read_at = self.changes
        return self.latest

    def changed(self) -> None:
        """Something a plan depends on changed: a host disabled or given back, a drain ended."""
        with self.drain_turn_guard:
            self.changes += 1

    def _read(self) -> Snapshot:
        """The cloud as a plan needs it: the last read while nothing changed since (hosts
        waiting for room try again one after the other, each on the same picture; moves of
        drains under way are counted by their claims), else a fresh one."""
        if self.latest is not None and self.read_at == self.changes:
            return self.latest
        return self.fresh()

    # -- one host's turn -----------------------------------------------------------------
    def service(self, host: str) -> HostRecord:
        """Drain -> work -> prove back in service -> enable (if it was enabled before)."""
        try:
            with self.drain_turn:
                record = self.book.record(host)
                why_not = self.stopped or (
                    "the maintenance window ended" if self.runbook.window_closed() else None
                )
                if why_not:
                    self.runbook.notes.append(f"{host} not started: {why_not}")
                    return record
                record, plan, snapshot = self._plan_and_disable(host, record)
        finally:
            self.planned[host].set()
        if plan is None:
            return record
        self._show(plan, host)
        self.runbook.finish_leftovers(snapshot, [host], plan.moves)
        outcomes = self._move_off(host, plan, snapshot)
        moved = sum(1 for o in outcomes if o.result == "moved")
        record = record.model_copy(update={"moves": record.moves + moved})
        left = instances_left(self.settings.cloud, host)
        if left:
            self.runbook.notes.append(f"still on {host}: {', '.join(left[:10])}")
        if self.runbook.window_closed():
            return self._window_ended(record, left)
        if left:
            return self._fail(
                record, f"{len(left)} instance(s) could not be moved off it; left disabled"
            )
        return self._work_and_check(record)

    def _move_off(self, host: str, plan: Plan, snapshot: Snapshot) -> list[Outcome]:
        """Run the drain's moves; moves Nova refused with the instance still in place (its
        target filled up or went out of service meanwhile: Placement and the scheduler decide
        at the moment of the move) are planned again on a fresh read and tried elsewhere."""
        moves = plan.moves
        last: dict[str, Outcome] = {}  # instance id -> how its latest attempt ended
        for attempt in range(REPLANS + 1):
            try:
                got = self.runbook.run_moves(snapshot, moves)
            finally:
                with self.drain_turn:
                    for m in moves:
                        self.claims.pop(m.instance_id, None)
                self.changed()
            last.update({o.instance_id: o for o in got})
            refused = [o for o in got if refused_in_place(o)]
            if not refused or attempt == REPLANS or self.runbook.window_closed():
                break
            ids = {o.instance_id for o in refused}
            with self.drain_turn:
                snapshot = with_claims(self.fresh(), self.claims)
                again = plan_drain(snapshot, self._request(host))
                moves = [m for m in again.moves if m.instance_id in ids]
                self.claims.update({m.instance_id: m.target for m in moves if m.target})
            first = refused[0]
            self.runbook.notes.append(
                f"{host}: Nova refused {len(refused)} move(s) at their target "
                f"({first.instance_name}: {first.nova_reason or first.cause}); planned again "
                f"on a fresh read, {len(moves)} tried elsewhere"
            )
            if not moves:
                break
            retried = {id(o) for o in refused if o.instance_id in {m.instance_id for m in moves}}
            # The report keeps how each move ended, not an attempt that was tried again.
            self.runbook.outcomes[:] = [o for o in self.runbook.outcomes if id(o) not in retried]
        return list(last.values())

    def _request(self, host: str) -> DrainRequest:
        """A drain of `host` onto hosts done first, still-to-do hosts only as a last resort."""
        preferred, last_resort = self.book.targets(self.selected)
        return drain_request([host], self.settings).model_copy(
            update={"prefer_hosts": preferred, "last_resort_hosts": last_resort}
        )

    def _plan_and_disable(
        self, host: str, record: HostRecord
    ) -> tuple[HostRecord, Plan | None, Snapshot | None]:
        """Plan the drain on a fresh read (room claimed by drains under way taken out), claim
        its targets and disable the host; the plan is None when the host does not start."""
        if self._a_target_of_drains_under_way(host):
            return record, None, None
        snapshot = with_claims(self._read(), self.claims)
        enabled_before = record.enabled_before
        if enabled_before is None:
            enabled_before = find_host(snapshot, host).status == "enabled"
        last_resort = self.book.targets(self.selected)[1]
        plan = plan_drain(snapshot, self._request(host))
        if self._better_to_wait(host, plan.moves, last_resort, feasible=plan.feasible):
            return record, None, None
        if not plan.feasible:
            record = record.to(
                "skipped",
                "not started: the rest of the cloud cannot take its instances now "
                f"({plan_summary(plan)})",
            )
            self.book.put(record)
            self.runbook.notes.append(f"{host} skipped: {record.note}")
            return record, None, None
        record = record.model_copy(update={"enabled_before": enabled_before}).to(
            "draining", f"moving {len(plan.moves)} instance(s) off"
        )
        self.book.put(record)
        self.runbook.disable(host, f"novaflow: {self.reason}")
        self.changed()
        self.started.add(host)
        self.claims.update({m.instance_id: m.target for m in plan.moves if m.target})
        return record, plan, snapshot

    def _show(self, plan: Plan, host: str) -> None:
        """The plan a host starts with, as an artifact and in the log (after its turn: the
        next host plans meanwhile)."""
        self.runbook.plan = plan
        live.plan_made(plan)
        publish_plan(plan, self.runbook.scenario, [host])
        self.runbook.log.info("Plan for %s: %s", host, plan_summary(plan))
        for skip in plan.skips:
            self.runbook.log.warning(
                "  %s stays on %s: %s -> %s",
                skip.instance_name,
                skip.host,
                skip.reason,
                skip.remedy,
            )

    def _a_target_of_drains_under_way(self, host: str) -> bool:
        """True when moves of a drain under way go to `host`: disabled now, it would make
        Nova refuse those still queued (a requested host must be enabled), and one already on
        its way would land after its own drain was planned. It waits for that drain."""
        incoming = sum(1 for target in self.claims.values() if target == host)
        if not incoming or not (self.busy & self.started) - {host}:
            return False
        self.waits.add(host)
        self.runbook.log.info(
            "%s waits: %d instance(s) of a drain under way are moving onto it", host, incoming
        )
        return True

    def _better_to_wait(
        self, host: str, moves: list, last_resort: list[str], *, feasible: bool
    ) -> bool:
        """True when the plan puts instances on hosts still to do, or cannot place them at
        all, while another host is on its way to done: they can go there once it is."""
        to_do = set(last_resort)
        if not (self.busy & self.started) - {host}:
            return False
        if feasible and not any(m.target in to_do for m in moves):
            return False
        self.waits.add(host)
        self.runbook.log.info(
            "%s waits: its instances would land on hosts still to do (or find no room); a "
            "host in flight will be done soon and take them instead",
            host,
        )
        return True

    def _work_and_check(self, record: HostRecord) -> HostRecord:
        host = record.host
        record = record.to("working", f"running {self.work.what}")
        self.book.put(record)
        result = run_work(
            host,
            command=self.work.command,
            deployment=self.work.deployment,
            timeout_s=self.work.timeout_s,
        )
        if not result.ok:
            record = record.model_copy(update={"output": tail(result.output)})
            return self._fail(record, f"the work failed: {result.detail}; left disabled")
        record = record.to("checking", f"work ok ({result.detail}); checking it is back")
        self.book.put(record)
        proof = prove_back_in_service(
            self.settings.cloud,
            host,
            work_started_at=result.started_at,
            work_ended_at=result.ended_at,
            timeout_s=self.work.check_timeout_s,
            canary=self.work.canary,
        )
        if not proof.ok:
            record = record.model_copy(update={"output": tail(result.output)})
            return self._fail(record, f"not back in service: {proof.detail}; left disabled")
        if record.enabled_before:
            self.runbook.enable(host)
            after = "enabled again"
        else:
            after = "left disabled, as it was before the campaign"
        record = record.to("done", f"{result.detail}; {proof.detail}; {after}")
        self.book.put(record)
        self.runbook.notes.append(f"{host} done: {record.note}")
        return record

    def _window_ended(self, record: HostRecord, left: list[str]) -> HostRecord:
        """The window closed before the work started: no instance moved -> back as it was;
        otherwise it stays disabled and resumes first in the next window."""
        host = record.host
        if not record.moves:
            if record.enabled_before:
                self.runbook.enable(host)
            record = record.to(
                "pending",
                "the window ended before any instance moved off it: "
                + ("enabled again" if record.enabled_before else "left disabled as it was"),
            )
        else:
            record = record.to(
                "draining",
                f"the window ended while it drained: {record.moves} instance(s) moved "
                f"off, {len(left)} still on it; left disabled, it resumes first next window",
            )
        self.book.put(record)
        self.runbook.notes.append(f"{host}: {record.note}")
        return record

    def _fail(self, record: HostRecord, why: str) -> HostRecord:
        record = record.to("failed", why)
        self.book.put(record)
        self.failed.append(record.host)
        self.runbook.notes.append(f"{record.host} failed: {why}")
        if record.output:
            self.runbook.notes.append(f"{record.host} work output (tail): {record.output[-800:]}")
        if self.work.on_failure == "stop" and not self.stopped:
            self.stopped = f"stopped after {record.host} failed (on_work_failure=stop)"
        return record


def run_campaign(
    runbook: Runbook,
    snapshot: Snapshot,
    selected: list[str],
    book: CampaignBook,
    work: WorkStep,
    *,
    reason: str,
    batch_size: int,
    margin: float,
    skip_check: str | None,
    retry_failed: bool,
    max_per_zone: int | None,
    max_per_aggregate: int | None,
) -> RunReport:
    """Everything after the hosts are known: skip checks, order, one approval, the run."""
    settings = runbook.settings
    book.include(selected)
    if skip_check:
        for host in selected:
            record = book.record(host)
            if record.state not in ("done", "failed") and already_done(host, skip_check):
                book.put(record.to("done", "the skip check says it is already done: untouched"))
    counts = {h.name: len(snapshot.instances_on(h.name)) for h in snapshot.hosts}
    todo = hosts_to_do(book.campaign, selected, counts, retry_failed=retry_failed)
    failed_before = [h for h in selected if book.record(h).state == "failed"]
    if not todo:
        runbook.notes.append(
            f"campaign {book.name}: nothing to do: {len(selected) - len(failed_before)} of "
            f"{len(selected)} host(s) done"
            + (
                f", {len(failed_before)} failed ({', '.join(failed_before)}; "
                "run with retry_failed to try them again)"
                if failed_before
                else ""
            )
        )
        book.publish()
        return runbook.report()
    check_drainable(snapshot, todo)
    preferred, last_resort = book.targets(selected)
    first = runbook.make_plan(
        snapshot,
        drain_request([todo[0]], settings).model_copy(
            update={"prefer_hosts": preferred, "last_resort_hosts": last_resort}
        ),
    )
    runbook.require_feasible(first)
    check_supported(snapshot, first)
    if settings.dry_run:
        runbook.notes.append(f"dry run: campaign {book.name} would take, in order: {todo}")
        return runbook.report(dry_run=True)
    with hosts_claimed(todo):
        gate = gates.campaign_plan(book.name, todo, batch_size, work.what, first, **runbook.timeout)
        if not runbook.gate(gate).approved:
            runbook.notes.append("plan rejected: nothing was changed")
            return runbook.report()
        run = CampaignRun(
            runbook,
            book,
            snapshot,
            selected,
            work,
            reason,
            batch_size=batch_size,
            margin=margin,
            max_per_zone=max_per_zone,
            max_per_aggregate=max_per_aggregate,
        )
        run.run(todo)
        counts_now = ", ".join(f"{n} {s}" for s, n in sorted(book.campaign.counts().items()))
        runbook.notes.append(f"campaign {book.name}: {counts_now}")
        runbook.notes.append(repeat_moves_note(runbook.outcomes))
        book.publish()
        report = runbook.report()
        if run.failed:
            raise HostsFailed(report, run.failed)
        return report


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
        canary: Also boot a small instance on the host before enabling it.
        skip_check: A command with {host}; exit 0 means the host is already done.
        retry_failed: Try hosts that failed in an earlier run of the campaign again.
        max_per_zone: Hosts of one availability zone in maintenance at once.
        max_per_aggregate: Hosts of one aggregate (a rack, say) in maintenance at once.
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
