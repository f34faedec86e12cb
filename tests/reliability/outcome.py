"""What a cell records, and the audit that reads it off the simulated cloud after the runs."""

from __future__ import annotations

import copy
from collections import Counter

from pydantic import BaseModel, Field

from novaflow.models import RunReport
from novaflow.sim.testing import SimHandle

DONE = {"completed", "confirmed", "done", "finished"}
BUSY = {"MIGRATING", "RESIZE", "VERIFY_RESIZE", "REVERT_RESIZE", "REBUILD", "BUILD"}


class RunResult(BaseModel):
    """How one flow run ended, as its child process wrote it."""

    state: str
    report: RunReport | None = None
    error: str | None = None


class Left(BaseModel):
    instance: str
    host: str | None
    reason: str


class CellResult(BaseModel):
    """One cell of the matrix (one flow under one fault), possibly over several seeds."""

    flow: str
    fault: str
    na: str | None = None
    seeds: list[int] = Field(default_factory=list)
    moved: int = 0
    left: list[Left] = Field(default_factory=list)
    bad: list[str] = Field(default_factory=list)
    twice: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0

    def add(self, other: CellResult) -> None:
        self.moved += other.moved
        self.left += other.left
        self.bad += other.bad
        self.twice += other.twice
        self.notes += other.notes


def _reasons(reports: list[RunReport], errors: list[str]) -> dict[str, str]:
    """instance id -> the reason the last report gives for it staying (outcome, skip)."""
    out: dict[str, str] = {}
    for report in reports:
        if report.plan:
            for skip in report.plan.skips:
                out[skip.instance_id] = f"plan: {skip.reason}"
        for o in report.outcomes:
            if o.result in ("moved", "already-done"):
                out.pop(o.instance_id, None)
            else:
                out[o.instance_id] = f"{o.result}: {o.error or ''}".strip()
    if errors and not out:
        out["*"] = f"run ended: {errors[-1]}"
    return out


def _host_note(reports: list[RunReport], host: str | None) -> str | None:
    """A note of the last report that speaks of `host` (e.g. batches not started)."""
    for report in reversed(reports):
        for note in report.notes:
            if host and host in note and "not started" in note:
                return f"report: {note}"
    return None


def audit(
    sim: SimHandle,
    flow: str,
    fault: str,
    initial: dict[str, tuple[str, str | None, str]],
    sources: set[str] | None,
    results: list[RunResult],
    owner: dict[str, str] | None = None,
) -> CellResult:
    """Read every instance back and count what the operator would care about.

    `initial`: id -> (name, host, status) before the run; `owner`: id -> what its owner did
    meanwhile ("stopped" / "deleted"); `sources`: the hosts the flow empties (None: any).
    """
    owner = owner or {}
    cell = CellResult(flow=flow, fault=fault)
    reports = [r.report for r in results if r.report]
    errors = [r.error for r in results if r.error]
    reasons = _reasons(reports, errors)
    state = sim.state
    with state.lock:
        live = {i.id: copy.copy(i) for i in state.instances.values()}
        deleted = set(state.deleted)
        migrations = [copy.copy(m) for m in state.migrations.values()]
        dead = {h.name for h in state.hosts.values() if not h.is_up}
    done = Counter((m.instance_id, m.source_compute) for m in migrations if m.status in DONE)
    for (iid, source), n in done.items():
        name = initial.get(iid, (iid,))[0]
        if n > 1:
            cell.twice.append(f"{name}: {n} migrations off {source}")
        elif sources is not None and source not in sources:
            cell.twice.append(f"{name}: an unplanned migration off {source}")
    for iid, (name, host, status) in initial.items():
        inst = live.get(iid)
        if inst is None:
            if iid in deleted and owner.get(iid) == "deleted":
                continue
            cell.bad.append(f"{name} lost (deleted={iid in deleted})")
            continue
        problems = []
        if inst.task_state:
            problems.append(f"task {inst.task_state}")
        if inst.status in BUSY:
            problems.append(inst.status)
        if inst.locked and (inst.locked_reason or "").startswith("novaflow:"):
            problems.append(f"locked by novaflow ({inst.locked_reason})")
        wanted = "SHUTOFF" if owner.get(iid) == "stopped" else status
        on_dead = inst.host in dead
        if inst.status != wanted and not on_dead and inst.status not in BUSY:
            problems.append(f"{inst.status}, was {wanted}")
        if problems:
            cell.bad.append(f"{name} on {inst.host}: {', '.join(problems)}")
        if inst.host != host:
            cell.moved += 1
        elif sources is None or host in sources:
            if sources is None and iid not in reasons:
                continue  # rebalance: an instance the plan never touched stays put
            why = reasons.get(iid) or _host_note(reports, host) or reasons.get("*")
            if why is None:
                cell.bad.append(f"{name} still on {host} and not in the report")
                why = "NOT REPORTED"
            cell.left.append(Left(instance=name, host=host, reason=why))
    return cell
