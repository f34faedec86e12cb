"""What each approval gate asks, what approving does and what its timeout does, in words.

One `Gate` per pause of a run. The Prefect UI's Resume form (its markdown description), the
Slack message and the terminal prompt all show the same text, built here from the plan; this
module imports neither Prefect nor Slack.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from novaflow.models import Plan

GateKind = Literal[
    "maintenance-plan",
    "maintenance-done",
    "rolling-plan",
    "batch-done",
    "failing-node",
    "evacuation",
    "rebalance",
]

ALIVE_LABEL = "novaflow.gate.alive"
ALIVE_EVERY_S = 5.0
ALIVE_STALE_S = 60.0
"""A paused run whose waiting process has not stamped its label for this long has lost that
process: twelve missed stamps, so a busy server's slow answers never look like a dead run."""

MAX_HOSTS_NAMED = 8
"""Hosts named in one line before the rest are counted ("and 992 more"): a gate over a zone
must stay readable, and Slack refuses a field over 2,000 characters."""


class Gate(BaseModel):
    """One approval gate of a run: the question, and what each answer and the timeout do."""

    key: str = Field(description="The pause key: approve-plan, maintenance-done, batch-2-done...")
    kind: GateKind
    scenario: str
    hosts: list[str] = Field(default_factory=list)
    title: str = Field(description="Plain text headline, e.g. 'Drain sim-compute-3'.")
    question: str = Field(description="The one question the approver answers.")
    moves: str = Field("", description="What moves and where (counts, hosts); empty if nothing.")
    on_approve: str
    on_reject: str
    timeout_s: int = 3600
    on_timeout: Literal["approve", "reject"] = "reject"
    needs_fencing: bool = False
    shows_plan: bool = Field(True, description="False for 'work done?' gates: the plan is past.")

    @property
    def timeout_text(self) -> str:
        """'If nobody answers within 1 h, the gate rejects: nothing is changed.'"""
        within = f"If nobody answers within {duration(self.timeout_s)}, the gate"
        if self.on_timeout == "approve" and self.needs_fencing:
            # Nobody confirmed fencing, so approval.gate turns the approval into a refusal.
            return f"{within} rejects (nobody confirmed fencing): {self.on_reject}"
        if self.on_timeout == "approve":
            return f"{within} approves: {self.on_approve}"
        return f"{within} rejects: {self.on_reject}"

    def description(self) -> str:
        """The Resume form's markdown: question, what moves, what each answer and the timeout do."""
        lines = [f"### {self.title}", "", f"**{self.question}**", ""]
        if self.moves:
            lines += [self.moves, ""]
        lines += [f"- **Approve:** {self.on_approve}", f"- **Reject:** {self.on_reject}"]
        if self.needs_fencing:
            lines.append(
                "- **Fenced** must be ticked to approve: evacuating a node that still runs its "
                "instances corrupts them. Approving without it is refused and nothing is done."
            )
        lines.append(f"- **Timeout:** {self.timeout_text}")
        return "\n".join(lines)

    def prompt(self) -> str:
        """Plain text for a terminal prompt: the question, what moves, what each answer and
        the timeout do."""
        lines = [self.question, self.moves, f"Approve: {self.on_approve}"]
        lines += [f"Reject: {self.on_reject}", self.timeout_text]
        return "\n".join(line for line in lines if line)


def gate_alive(labels: dict[str, Any], now: datetime | None = None) -> bool | None:
    """Is the process waiting at a paused run's gate still there? None: not a novaflow gate."""
    stamp = labels.get(ALIVE_LABEL)
    if not stamp:
        return None
    try:
        seen = datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    return ((now or datetime.now(UTC)) - seen).total_seconds() < ALIVE_STALE_S


def duration(seconds: float) -> str:
    """'45 s', '5 min', '1 h 30 min': a timeout as an operator says it."""
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" + (f" {rest} min" if rest else "")


def host_list(hosts: list[str], limit: int = MAX_HOSTS_NAMED) -> str:
    """'a, b, c' or 'a, b, ... and 992 more': never an empty string, never unbounded."""
    if not hosts:
        return "no host"
    shown = ", ".join(hosts[:limit])
    return shown + (f" and {len(hosts) - limit} more" if len(hosts) > limit else "")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def moves_line(plan: Plan | None) -> str:
    """'19 instances move off sim-compute-3: 12 to sim-compute-1, 7 to sim-compute-2 (live).'"""
    if plan is None or not plan.moves:
        skipped = f"; {plural(len(plan.skips), 'instance')} stay (see the plan)" if plan else ""
        return "No instance moves" + skipped + "."
    sources = sorted({m.source for m in plan.moves})
    targets = Counter(m.target or "hosts Nova's scheduler picks" for m in plan.moves)
    to = ", ".join(f"{n} to {t}" for t, n in targets.most_common(MAX_HOSTS_NAMED))
    if len(targets) > MAX_HOSTS_NAMED:
        rest = sum(n for _t, n in targets.most_common()[MAX_HOSTS_NAMED:])
        to += f", {rest} to {len(targets) - MAX_HOSTS_NAMED} other hosts"
    methods = ", ".join(f"{n} {k}" for k, n in sorted(plan.counts().items()))
    text = f"{plural(len(plan.moves), 'instance')} move off {host_list(sources)}: {to}"
    text += f" ({methods})." if methods else "."
    if plan.skips:
        text += f" {plural(len(plan.skips), 'instance')} stay where they are (see the plan)."
    return text


def maintenance_plan(host: str, reason: str, plan: Plan, timeout_s: int, on_timeout) -> Gate:
    n = len(plan.moves)
    return Gate(
        key="approve-plan",
        kind="maintenance-plan",
        scenario="node-maintenance",
        hosts=[host],
        title=f"Maintenance of {host}",
        question=f"Drain {host} for maintenance ({reason})?",
        moves=moves_line(plan),
        on_approve=(
            f"{host}'s compute service is disabled ('novaflow: {reason}') and "
            f"{plural(n, 'instance')} move off it as planned."
        ),
        on_reject="nothing is changed; the run ends.",
        timeout_s=timeout_s,
        on_timeout=on_timeout,
    )


def maintenance_done(host: str, move_back: bool, timeout_s: int, on_timeout) -> Gate:
    back = " and the instances that left move back to it" if move_back else ""
    return Gate(
        key="maintenance-done",
        kind="maintenance-done",
        scenario="node-maintenance",
        hosts=[host],
        title=f"Work on {host}",
        question=f"Is the work on {host} done?",
        moves=f"{host} is empty and its compute service is disabled.",
        on_approve=f"{host}'s compute service is enabled again{back}.",
        on_reject=f"{host} stays disabled and empty; the run ends. Enable it by hand when ready.",
        timeout_s=timeout_s,
        on_timeout=on_timeout,
        shows_plan=False,
    )


def rolling_plan(
    hosts: list[str], batches: list[list[str]], plan: Plan, timeout_s: int, on_timeout
) -> Gate:
    return Gate(
        key="approve-plan",
        kind="rolling-plan",
        scenario="rolling-maintenance",
        hosts=hosts,
        title=f"Rolling maintenance of {plural(len(hosts), 'host')}",
        question=(
            f"Drain {plural(len(hosts), 'host')} in {plural(len(batches), 'batch')} "
            f"({host_list(hosts)})?"
        ),
        moves="First batch: " + moves_line(plan) + " Later batches are planned when they start.",
        on_approve=(
            "each batch in turn is disabled, emptied and (after its 'batch done' gate) enabled "
            "again, while the rest of the cloud keeps its free-capacity margin."
        ),
        on_reject="nothing is changed; the run ends.",
        timeout_s=timeout_s,
        on_timeout=on_timeout,
    )


def campaign_plan(
    name: str, hosts: list[str], batch_size: int, work: str, first: Plan, timeout_s: int, on_timeout
) -> Gate:
    """The one approval of an unattended campaign window: after it nobody is asked again."""
    return Gate(
        key="approve-plan",
        kind="rolling-plan",
        scenario="rolling-maintenance",
        hosts=hosts,
        title=f"Campaign {name}: {plural(len(hosts), 'host')}",
        question=(
            f"Run campaign {name} over {plural(len(hosts), 'host')}, {batch_size} at a time "
            f"({host_list(hosts)})?"
        ),
        moves="First host: " + moves_line(first) + " Each later host is planned when it starts.",
        on_approve=(
            f"each host in turn is disabled, emptied, worked on with {work}, proven back in "
            "service and enabled again (if it was enabled before), with no further approval; "
            "a host whose work or check fails stays disabled and is reported."
        ),
        on_reject="nothing is changed; the run ends.",
        timeout_s=timeout_s,
        on_timeout=on_timeout,
    )


def batch_done(n: int, batch: list[str], more: int, timeout_s: int, on_timeout) -> Gate:
    nxt = f" and the next batch starts ({more} left)" if more else ""
    return Gate(
        key=f"batch-{n}-done",
        kind="batch-done",
        scenario="rolling-maintenance",
        hosts=batch,
        title=f"Batch {n}: work on {host_list(batch)}",
        question=f"Is the work on batch {n} ({host_list(batch)}) done?",
        moves=f"{host_list(batch)}: empty, compute service disabled.",
        on_approve=f"batch {n}'s compute services are enabled again{nxt}.",
        on_reject=(
            f"batch {n} stays disabled and no further batch starts; the run ends. "
            "Enable the hosts by hand when ready."
        ),
        timeout_s=timeout_s,
        on_timeout=on_timeout,
        shows_plan=False,
    )


def failing_node(host: str, reason: str, plan: Plan, timeout_s: int, on_timeout) -> Gate:
    return Gate(
        key="approve-plan",
        kind="failing-node",
        scenario="failing-node",
        hosts=[host],
        title=f"{host} is failing",
        question=f"{host} is failing ({reason}). Move its instances off now?",
        moves=moves_line(plan),
        on_approve=(
            f"{host}'s compute service is disabled ('novaflow: FAILING: {reason}') and "
            f"{plural(len(plan.moves), 'instance')} move off it; the host stays disabled "
            "for the hardware team."
        ),
        on_reject="nothing is changed; the host keeps running its instances. The run ends.",
        timeout_s=timeout_s,
        on_timeout=on_timeout,
    )


def evacuation(host: str, is_up: bool, plan: Plan, timeout_s: int, on_timeout) -> Gate:
    n = len(plan.moves)
    state = (
        f"{host}'s compute service is still UP: Nova does not see it as down."
        if is_up
        else f"{host} is down: Nova reports its compute service down."
    )
    return Gate(
        key="approve-evacuation",
        kind="evacuation",
        scenario="evacuate-failed-node",
        hosts=[host],
        title=f"{host} is down: evacuate it" if not is_up else f"Evacuate {host}",
        question=f"{state} Is it fenced (powered off), and may its instances be rebuilt elsewhere?",
        moves=moves_line(plan).replace(" move off ", " are rebuilt off ", 1),
        on_approve=(
            f"{host}'s compute service is forced down and its {plural(n, 'instance')} are "
            "rebuilt on other hosts with the same UUID, name and addresses."
        ),
        on_reject="nothing is changed; the instances stay down on the failed host.",
        timeout_s=timeout_s,
        on_timeout=on_timeout,
        needs_fencing=True,
    )


def rebalance(strategy: str, hosts: list[str], plan: Plan, timeout_s: int, on_timeout) -> Gate:
    return Gate(
        key="approve-plan",
        kind="rebalance",
        scenario=f"rebalance-{strategy}",
        hosts=hosts,
        title=f"Rebalance ({strategy}) across {plural(len(hosts), 'host')}",
        question=(
            f"Rebalance ({strategy}): move {plural(len(plan.moves), 'instance')} across "
            f"{host_list(hosts)}?"
        ),
        moves=moves_line(plan),
        on_approve=f"{plural(len(plan.moves), 'instance')} move as planned.",
        on_reject="nothing is changed; the run ends.",
        timeout_s=timeout_s,
        on_timeout=on_timeout,
    )
