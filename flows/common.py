"""The runbook every scenario follows: snapshot -> plan -> show -> gate -> act -> verify -> report.

A scenario flow creates a `Runbook`, then calls its steps in the order the operator's
runbook lists them; this class keeps the gates' decisions, the outcomes and the notes
that end up in the report artifact, the Slack thread and the flow's return value.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from prefect import get_run_logger
from prefect.futures import PrefectFuture
from prefect.states import Failed

from flows.params import RunSettings
from novaflow.cloud.rereads import Rereads
from novaflow.errors import REFUSALS, BadRequest
from novaflow.gates import Gate
from novaflow.models import ApprovalDecision, GateRecord, Move, Outcome, Plan, RunReport, Snapshot
from tasks import live
from tasks.gates import approval_gate
from tasks.inventory import make_plan, read_cloud, reread_cloud, take_snapshot
from tasks.leftovers import find_leftovers
from tasks.moves import Dispatcher, cloud_limit_name, ensure_slot_limits
from tasks.notify import Notifier
from tasks.prefect_api import quick_retries_for_this_run
from tasks.reporting import Progress, plan_summary, publish_plan, publish_report
from tasks.services import disable_service, enable_service, force_down

PLAN_LOG_LINES = 200
"""Moves of a plan listed one per line in the run's log (every skip always is). A node's
drain fits; the rest of a bigger plan is in its artifact, a table the UI can search, and the
log of a 1,000-move plan would be 1,000 lines the server writes before the gate."""


REFUSED = "Refused"
"""The name of the Failed state a refused run ends in. Prefect has no state type for "said no
before acting"; a Failed state with its own name shows in the runs list as 'Refused', next to
'Failed' (a run that acted and did not finish) and 'Crashed' (its process died)."""


class Refusals:
    """Within: a refusal (bad input, an unknown host, a host another run holds) is caught and
    `state` becomes a Failed state named 'Refused' with the refusal as its message; the flow
    returns it, so that is the run's final state. The exception stays the state's result, so
    callers see the same error as before. A flow's body reads:

        with Refusals() as refused:
            ...the runbook...
            return runbook.report()
        return refused.state
    """

    state: Any = None

    def __enter__(self) -> Refusals:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> bool:
        if not isinstance(exc, REFUSALS):
            return False
        get_run_logger().error("Refused, nothing was changed: %s", exc)
        self.state = Failed(name=REFUSED, message=f"refused, nothing was changed: {exc}", data=exc)
        return True


class MovesIncomplete(Exception):
    """Raised at the end of a run whose moves did not all succeed, so the run is Failed
    (and can be retried from the UI) after its report was published."""

    def __init__(self, report: RunReport) -> None:
        self.report = report
        names = ", ".join(f"{o.instance_name} ({o.result})" for o in report.unfinished[:10])
        more = len(report.unfinished) - 10
        super().__init__(
            f"{len(report.unfinished)} instance(s) not moved: {names}"
            + (f" and {more} more" if more > 0 else "")
            + ". Each one's reason and next step is in the report artifact."
        )


class Runbook:
    """Shared state and steps of one scenario run."""

    def __init__(self, scenario: str, hosts: list[str], settings: RunSettings) -> None:
        self.scenario = scenario
        self.hosts = hosts
        self.settings = settings
        self.gates: list[GateRecord] = []
        self.outcomes: list[Outcome] = []
        self.notes: list[str] = []
        self.plan: Plan | None = None
        self.left_disabled: dict[str, str] = {}
        """Hosts this run took out of service and has not given back, with the reason."""
        self.moving: set[str] = set()
        """Instances this run gave to the mover: locked by this run, never a leftover."""
        self.trailing: list[PrefectFuture] = []
        """Move task runs whose moves ended but whose end Prefect may still be recording."""
        self.limits_set: dict[str, int] = {}
        self._limits_lock = threading.Lock()
        """Prefect concurrency limits this run created or resized, and to what."""
        self.log = get_run_logger()
        quick_retries_for_this_run()
        self.notifier = Notifier.for_run(settings.approval.mode, scenario, settings.cloud, hosts)

    # -- read and plan -------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return take_snapshot(self.settings.cloud, self.settings.live_migration_slots)

    def fresh_snapshot(self) -> Snapshot:
        return read_cloud(self.settings.cloud, self.settings.live_migration_slots)

    def reread(self, again: Rereads) -> Snapshot:
        """The cloud read again at the cost of what changed (novaflow/cloud/rereads.py)."""
        return reread_cloud(self.settings.cloud, self.settings.live_migration_slots, again)

    def make_plan(self, snapshot: Snapshot, request) -> Plan:
        plan = make_plan(snapshot, request)
        self.plan = plan
        live.plan_made(plan)
        publish_plan(plan, self.scenario, self.hosts)
        self.log.info("Plan: %s", plan_summary(plan))
        for move in plan.moves[:PLAN_LOG_LINES]:
            self.log.info(
                "  %s: %s -> %s by %s (%s)",
                move.instance_name,
                move.source,
                move.target or "scheduler",
                move.method.value,
                move.reason,
            )
        if len(plan.moves) > PLAN_LOG_LINES:
            self.log.info(
                "  ... and %d more moves: every move is in the plan artifact (Artifacts tab)",
                len(plan.moves) - PLAN_LOG_LINES,
            )
        for skip in plan.skips:
            self.log.warning(
                "  %s stays on %s: %s -> %s",
                skip.instance_name,
                skip.host,
                skip.reason,
                skip.remedy,
            )
        return plan

    def require_feasible(self, plan: Plan) -> None:
        """Refuse before anything moves when the cloud cannot absorb the plan."""
        if not plan.feasible:
            raise BadRequest(
                f"the rest of the cloud cannot absorb {', '.join(self.hosts)}: "
                + plan_summary(plan),
                "free capacity (or enable hosts), exclude fewer hosts, or drain fewer at once",
            )

    # -- gates ---------------------------------------------------------------------------
    def gate(self, gate: Gate) -> ApprovalDecision:
        """Pause at `gate` (its form says what approving does) and record the decision."""
        stop = live.stop_requested()
        if stop:  # a stopped run asks nobody and goes no further
            decision = ApprovalDecision(
                approved=False, via="none", approver="novaflow", comment=f"not asked: {stop}"
            )
            self.gates.append(GateRecord(gate=gate.key, decision=decision))
            return decision
        live.gate_opened(gate.key, gate.question)
        decision = approval_gate(
            gate,
            self.settings.approval,
            on_open=lambda: self.notifier.gate_opened(gate, self.plan),
            on_decided=lambda d: self.notifier.gate_decided(gate, d),
        )
        self.gates.append(GateRecord(gate=gate.key, decision=decision))
        return decision

    @property
    def timeout(self) -> dict:
        """The gate timeout settings, as the novaflow.gates builders take them."""
        return {
            "timeout_s": self.settings.approval.timeout_s,
            "on_timeout": self.settings.approval.on_timeout,
        }

    def window_closed(self) -> bool:
        end = self.settings.window_end
        return end is not None and datetime.now(UTC) >= end

    # -- act -----------------------------------------------------------------------------
    def disable(self, host: str, reason: str) -> None:
        """Disable `host`'s compute service with `reason`; the report names it until enabled."""
        disable_service(self.settings.cloud, host, reason)
        self.left_disabled[host] = f"compute service disabled ('{reason}')"

    def enable(self, host: str) -> None:
        enable_service(self.settings.cloud, host)
        self.left_disabled.pop(host, None)

    def force_down(self, host: str) -> None:
        """Tell Nova the failed node is down (it requires it before an evacuation)."""
        force_down(self.settings.cloud, host)
        self.left_disabled[host] = "compute service forced down: the node failed and was evacuated"

    def finish_leftovers(self, snapshot: Snapshot, hosts: list[str], planned: list[Move]) -> None:
        """Finish moves a crashed run left on `hosts` that the plan does not cover."""
        theirs = [i for i in snapshot.instances if i.locked and i.id not in self.moving]
        if not theirs:
            # Leftovers are recognised by novaflow's lock: nothing locked, nothing to finish,
            # and no task run (and its server round trips) stands between the gate and the
            # moves. Instances this run is moving (a campaign's other drains) are locked by
            # it, not left by a crashed run: reading each again cost a drain 3.5 s at 100
            # hosts, and the task run's inputs would carry the whole cloud.
            return
        known = {m.instance_id for m in planned}
        locked = snapshot.model_copy(update={"instances": theirs})
        extra = [
            m
            for m in find_leftovers(self.settings.cloud, locked, hosts)
            if m.instance_id not in known
        ]
        if extra:
            self.notes.append(f"finished {len(extra)} move(s) left by an earlier run")
            self.run_moves(snapshot, extra)

    def run_moves(self, snapshot: Snapshot, moves: list[Move]) -> list[Outcome]:
        slots = {h.name: h.max_concurrent_live_migrations for h in snapshot.hosts}
        progress = Progress(len(moves), self.scenario) if moves else None
        dispatcher = Dispatcher(
            self.settings.cloud,
            slots,
            self.settings.max_parallel,
            self.settings.move_timeout_s,
            rebuild_slots=self.settings.rebuild_slots,
            window_end=self.settings.window_end,
            progress=progress,
            on_outcome=self.notifier.move_finished,
        )
        self.moving.update(m.instance_id for m in moves)
        self._ensure_limits(dispatcher.limits(moves))
        outcomes = dispatcher.run(moves)
        self.trailing.extend(dispatcher.trailing)
        self.outcomes.extend(outcomes)
        return outcomes

    def _ensure_limits(self, limits: dict[str, int]) -> None:
        """Create or resize the Prefect limits these moves use, each once per run (a
        campaign's drains would otherwise ask the server again for every host)."""
        wanted = {cloud_limit_name(self.settings.cloud): self.settings.max_parallel, **limits}
        with self._limits_lock:  # a campaign's drains start side by side
            new = {n: v for n, v in wanted.items() if self.limits_set.get(n) != v}
            if new:
                ensure_slot_limits(new)
                self.limits_set.update(new)

    # -- verify and report ---------------------------------------------------------------
    def left_on(self, host: str) -> list[str]:
        """Instances still on `host` according to a fresh read of the cloud."""
        snap = self.fresh_snapshot()
        left = snap.instances_on(host)
        for inst in left:
            self.notes.append(f"{inst.label} is still on {host} ({inst.status})")
        unknown = sum(1 for i in snap.instances if i.in_down_cell)
        if unknown:
            self.notes.append(
                f"{unknown} server(s) are in a cell that does not answer: novaflow cannot tell "
                f"whether any is still on {host}"
            )
        return [i.id for i in left]

    def report(self, *, dry_run: bool = False, fail_if_incomplete: bool = True) -> RunReport:
        for future in self.trailing:  # long ended: their task runs are recorded as done
            future.wait()
        self.trailing.clear()
        report = RunReport(
            scenario=self.scenario,
            cloud=self.settings.cloud,
            hosts=self.hosts,
            dry_run=dry_run,
            plan=self.plan,
            gates=self.gates,
            outcomes=self.outcomes,
            notes=self.notes,
        )
        markdown = publish_report(
            self.scenario,
            self.hosts,
            self.outcomes,
            [(g.gate, g.decision) for g in self.gates],
            self.notes,
            self.left_disabled,
        )
        self.notifier.finished(report, markdown)
        live.report_made(report)
        if fail_if_incomplete and report.unfinished:
            raise MovesIncomplete(report)
        return report
