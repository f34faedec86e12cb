"""An unattended maintenance campaign: after its one approval, `batch_size` hosts in flight,
each on its own way through skip check -> drain -> work -> proof it is back -> enable.

Runbook per host: plan its drain on a fresh read of the cloud (onto hosts already done
first, then hosts outside the campaign, hosts still to do only as a last resort), disable it,
move its instances (moves Nova refuses at their target planned again elsewhere), verify it
is empty, run the work, prove its compute service is back, enable it if it was enabled
before. The next host starts as soon as one finishes; no host starts after the window ends.
Each host's state is kept in Prefect (tasks/campaign_state.py), so the next window resumes
where this one stopped. `rolling-maintenance` (flows/rolling.py) runs this when it is given a
work step.
"""

from __future__ import annotations

import queue
import threading

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from flows.common import Runbook
from flows.maintenance import drain_request
from flows.picture import CloudPicture
from flows.preflight import check_drainable, check_supported, find_host
from novaflow import gates
from novaflow.campaign import (
    HostRecord,
    WorkStep,
    hosts_to_do,
    may_start,
    repeat_moves_note,
    tail,
)
from novaflow.cloud.rereads import Rereads
from novaflow.models import (
    DrainRequest,
    Instance,
    Outcome,
    Plan,
    Resources,
    RunReport,
    Snapshot,
)
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


def free_fraction(snapshot: Snapshot, without: list[str]) -> float:
    """The smallest share of free room over vCPU, RAM and disk once `without` are out: the
    free-capacity margin a campaign keeps while it starts hosts (rolling batches keep it too)."""
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
        second_moves: int = 0,
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
        self.second_moves = second_moves
        """Instances that may still be put on hosts still to do (and move again) rather than
        their host waiting for one in flight to be done (max_moved_twice)."""
        self.zone_of = {h.name: h.zone for h in snapshot.hosts}
        self.aggregates_of = {h.name: list(h.aggregates) for h in snapshot.hosts}
        self.drain_turn = threading.Lock()
        """Held while a host's drain is planned and the host disabled: plans take turns."""
        self.claims: dict[str, str] = {}
        """Instance id -> target of every move planned by a drain still under way."""
        again = Rereads()
        self.picture = CloudPicture(
            lambda: runbook.reread(again), runbook.log, host_changed=again.host_changed
        )
        """The newest read of the cloud and the campaign's changes since (flows/picture.py)."""
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
        self.planned: dict[str, threading.Event] = {}
        """Set once a host's drain is planned (or it gave its turn back): hosts plan in the
        order they start, so an empty host is taken out before the next one plans."""

    # -- the dispatcher ------------------------------------------------------------------
    def run(self, todo: list[str]) -> None:
        """Start hosts in order as room allows, each as soon as another finishes."""
        with self.picture:
            self._dispatch(todo)

    def _dispatch(self, todo: list[str]) -> None:
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
                self.picture.changed()
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
                    f"its turn stopped on an error: {str(exc) or type(exc).__name__}; "
                    "check its compute service",
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
        read_now = False  # `snapshot` was read in this call, not taken from a plan's turn
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
                # While hosts are in flight the newest read will do; with none, a fresh one.
                if in_flight and self.picture.latest is not None:
                    snapshot = self.picture.now({}, moving=False)
                else:
                    snapshot, read_now = self.picture.fresh(), True
            left = free_fraction(snapshot, [*busy, host])
            if left < self.margin and not read_now:
                # The newest read may predate what the picture does not correct (instances
                # booted or removed since, another run's holds): decide on a fresh one before
                # holding a host back, or the run would shrink to what a stale read allows.
                snapshot, read_now = self.picture.fresh(), True
                left = free_fraction(snapshot, [*busy, host])
            if left < self.margin:
                self.runbook.log.info(
                    "%s waits for room: with it out, the rest of the cloud would keep %.1f%% "
                    "free (margin %.0f%%); %d host(s) in flight",
                    host,
                    100 * left,
                    100 * self.margin,
                    len(in_flight),
                )
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
                record, plan, snapshot = self._plan(host, record)
        finally:
            self.planned[host].set()
        if plan is None:
            return record
        try:  # after the turn: the next host's plan leaves this one out (see _request)
            self.book.put(record)
            self.runbook.disable(host, f"novaflow: {self.reason}")
        except Exception:
            with self.drain_turn:
                for m in plan.moves:
                    self.claims.pop(m.instance_id, None)
            raise
        self._show(plan, host)
        self.runbook.finish_leftovers(snapshot, [host], plan.moves)
        outcomes, left = self._move_off(host, plan, snapshot)
        moved = sum(1 for o in outcomes if o.result == "moved")
        record = record.model_copy(update={"moves": record.moves + moved})
        if left:
            shown = ", ".join(f"{i.label} ({i.status})" for i in left[:10])
            self.runbook.notes.append(f"still on {host}: {shown}")
        if self.runbook.window_closed():
            return self._window_ended(record, left)
        if left:
            return self._fail(
                record, f"{len(left)} instance(s) could not be moved off it; left disabled"
            )
        return self._work_and_check(record)

    def _move_off(
        self, host: str, plan: Plan, snapshot: Snapshot
    ) -> tuple[list[Outcome], list[Instance]]:
        """Run the drain's moves, then plan again on a fresh read what is still to move: moves
        Nova refused with the instance still in place (its target filled up or went out of
        service meanwhile: Placement and the scheduler decide at the moment of the move), and
        instances that arrived during the drain (a move whose target the scheduler chose
        lands on any host enabled at that moment, this one included). Returns how each move
        ended and the instances still on the host, read once the last moves ended."""
        moves = plan.moves
        tried = {m.instance_id for m in moves}
        last: dict[str, Outcome] = {}  # instance id -> how its latest attempt ended
        for attempt in range(REPLANS + 1):
            try:
                got = self.runbook.run_moves(snapshot, moves)
            finally:
                with self.drain_turn:
                    for m in moves:
                        self.claims.pop(m.instance_id, None)
                self.picture.drain_ended((m.instance_id, m.target) for m in moves if m.target)
            last.update({o.instance_id: o for o in got})
            left = instances_left(self.settings.cloud, host)
            if attempt == REPLANS or self.runbook.window_closed():
                break
            refused = [o for o in got if refused_in_place(o)]
            arrived = [i.id for i in left if i.id not in tried]
            if not refused and not arrived:
                break
            ids = {o.instance_id for o in refused} | set(arrived)
            with self.drain_turn:
                self.picture.fresh()
                snapshot = self.picture.now(self.claims)
                again = plan_drain(snapshot, self._request(host))
                moves = [m for m in again.moves if m.instance_id in ids]
                self.claims.update({m.instance_id: m.target for m in moves if m.target})
            tried |= ids
            self.runbook.notes.append(self._again_note(host, refused, arrived, moves))
            if not moves:
                break
            retried = {id(o) for o in refused if o.instance_id in {m.instance_id for m in moves}}
            # The report keeps how each move ended, not an attempt that was tried again.
            self.runbook.outcomes[:] = [o for o in self.runbook.outcomes if id(o) not in retried]
        return list(last.values()), left

    @staticmethod
    def _again_note(host: str, refused: list[Outcome], arrived: list[str], moves: list) -> str:
        parts = []
        if refused:
            first = refused[0]
            parts.append(
                f"Nova refused {len(refused)} move(s) at their target ({first.instance_name}: "
                f"{first.nova_reason or first.cause})"
            )
        if arrived:
            parts.append(f"{len(arrived)} instance(s) arrived on it during its drain")
        return (
            f"{host}: {'; '.join(parts)}; planned again on a fresh read, "
            f"{len(moves)} tried elsewhere"
        )

    def _request(self, host: str) -> DrainRequest:
        """A drain of `host` onto hosts done first, still-to-do hosts only as a last resort."""
        preferred, last_resort = self.book.targets(self.selected)
        request = drain_request([host], self.settings)
        # Hosts started are out, even where the read predates their disabling.
        out = sorted((self.started - {host}) - set(request.exclude_hosts))
        return request.model_copy(
            update={
                "prefer_hosts": preferred,
                "last_resort_hosts": last_resort,
                "exclude_hosts": [*request.exclude_hosts, *out],
            }
        )

    def _plan(
        self, host: str, record: HostRecord
    ) -> tuple[HostRecord, Plan | None, Snapshot | None]:
        """Plan the drain (room claimed by drains under way taken out) and claim its targets;
        the plan is None when the host does not start. The host is disabled after the turn."""
        if self._a_target_of_drains_under_way(host):
            return record, None, None
        snapshot = self.picture.now(self.claims)
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
        again = sum(1 for m in moves if m.target in to_do)
        if feasible and not again:
            return False
        if feasible and again <= self.second_moves:
            self.second_moves -= again
            note = (
                f"{host} went ahead rather than wait for a host in flight: {again} "
                f"instance(s) landed on hosts still to do and move again when those are done "
                f"(max_moved_twice: {self.second_moves} more allowed)"
            )
            self.runbook.log.info(note)
            self.runbook.notes.append(note)
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
            self.picture.back_in_service(host)
            after = "enabled again"
        else:
            after = "left disabled, as it was before the campaign"
        record = record.to("done", f"{result.detail}; {proof.detail}; {after}")
        self.book.put(record)
        self.runbook.notes.append(f"{host} done: {record.note}")
        return record

    def _window_ended(self, record: HostRecord, left: list[Instance]) -> HostRecord:
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
    max_moved_twice: float = 0.0,
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
            second_moves=int(max_moved_twice * sum(counts[h] for h in todo)),
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
