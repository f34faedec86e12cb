"""Plans and outcomes as tables an operator reads: rich for the terminal, Markdown elsewhere.

Markdown is what Prefect artifacts and Slack messages show, so the same text serves both;
this module imports neither Prefect nor Slack.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from novaflow.models import ApprovalDecision, Move, Outcome, Plan, Resources, Skip, Snapshot

SCHEDULER = "(Nova's scheduler)"


def _method(m: Move) -> str:
    text = m.method.value
    if m.fallback:
        text += f" -> {m.fallback.value}"
    if m.needs_state_reset:
        text += " (reset state first)"
    return text


def _target(m: Move) -> str:
    return m.target or SCHEDULER


def _seconds(s: float | None) -> str:
    """A duration with its unit: '42 s', '14.2 min'."""
    if s is None:
        return ""
    if s < 90:
        return f"{s:.0f} s"
    return f"{s / 60:.1f} min"


DONE = ("moved", "already-done")


def next_step(o: Outcome) -> str:
    """What the operator does about an outcome: the derived next step where the move knows
    one (Outcome.next_step, from Nova's reason), else its remedy."""
    return getattr(o, "next_step", None) or o.remedy or ""


def failure(o: Outcome) -> str:
    """A failed move's error, Nova's own words where they add to it (Outcome.nova_reason),
    and the next step: 'live migration refused (Nova: No valid host ...) -> free room ...'."""
    what = o.error or "no reason recorded"
    nova = getattr(o, "nova_reason", None)
    if nova and nova not in what:
        what += f" (Nova: {nova})"
    return " -> ".join(x for x in (what, next_step(o)) if x)


def earlier_attempt(o: Outcome) -> str:
    """An error a move met and got past (a live attempt before the cold move that worked):
    history, not a failure, so it never shows in a moved row's error."""
    return (o.error or "") if o.result in DONE else ""


def failures_first(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Failed, aborted and not-started moves first, then the rest, each in run order."""
    return sorted(outcomes, key=lambda o: o.result in DONE)


def counts_line(outcomes: Sequence[Outcome]) -> str:
    """'2 failed, 17 moved' (instances): failures named first."""
    counts: dict[str, int] = {}
    for o in failures_first(outcomes):
        counts[o.result] = counts.get(o.result, 0) + 1
    return ", ".join(f"{n} {result}" for result, n in counts.items()) or "none moved"


def request_title(plan: Plan) -> str:
    """One line naming what was asked: 'drain compute-01, compute-02', 'evacuate c-3', ..."""
    r = plan.request
    if r.kind == "drain":
        return f"drain {', '.join(r.hosts)} (policy {r.policy.value})"
    if r.kind == "evacuate":
        return f"evacuate {r.host}"
    budget = f", max {r.max_moves} moves" if r.max_moves is not None else ""
    return f"rebalance: {r.strategy}{budget}"


def summary_line(plan: Plan) -> str:
    """'12 moves (10 live, 2 cold), 1 skipped, about 14.2m' — the headline of a plan."""
    counts = plan.counts()
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    end = max((e.end for e in plan.timeline), default=0.0)
    parts = [f"{len(plan.moves)} moves" + (f" ({kinds})" if kinds else "")]
    parts.append(f"{len(plan.skips)} skipped")
    if plan.emptied_hosts:
        parts.append(f"{len(plan.emptied_hosts)} hosts emptied")
    if end:
        parts.append(f"about {_seconds(end)}")
    if not plan.feasible:
        parts.append("NOT FEASIBLE")
    return ", ".join(parts)


def capacity_line(plan: Plan) -> str | None:
    c = plan.capacity
    if c is None:
        return None
    verdict = "fits" if c.fits else "does NOT fit"
    return f"capacity: needed {_res(c.needed)}; free {_res(c.free)} -> {verdict}"


def _res(r: Resources) -> str:
    return f"{r.vcpus:g} vCPU / {r.ram_mb / 1024:.1f} GiB RAM / {r.disk_gb:g} GiB disk"


# -- rich -------------------------------------------------------------------------------
def moves_table(plan: Plan, limit: int | None = None) -> Table:
    """Instance, from, to, method, expected time and why — one row per move, in order."""
    t = Table(title=f"Plan: {request_title(plan)}", caption=summary_line(plan))
    for col in ("#", "instance", "from", "to", "method", "time", "why"):
        t.add_column(col, overflow="fold", no_wrap=col in ("#", "time"))
    for n, m in enumerate(plan.moves[:limit] if limit else plan.moves, 1):
        t.add_row(
            str(n),
            m.instance_name,
            m.source,
            _target(m),
            _method(m),
            _seconds(m.expected_seconds),
            m.reason,
        )
    if limit and len(plan.moves) > limit:
        t.add_row("...", f"{len(plan.moves) - limit} more", "", "", "", "", "")
    return t


def skips_table(skips: Sequence[Skip]) -> Table:
    """What stays where it is, why, and what the operator can do about it."""
    t = Table(title="Not moved", title_style="bold yellow")
    for col in ("instance", "host", "why", "what you can do"):
        t.add_column(col, overflow="fold")
    for s in skips:
        t.add_row(s.instance_name, s.host or "-", s.reason, s.remedy)
    return t


def _pct(used: float, cap: float) -> str:
    return f"{used / cap:.0%}" if cap > 0 else "-"


def usage_table(plan: Plan, snapshot: Snapshot | None = None, only_changed: bool = True) -> Table:
    """Per host, usage before -> after (as % of usable when the snapshot is given)."""
    t = Table(title="Host usage before -> after")
    for col in ("host", "vCPU", "RAM", "disk", *_load_header(plan)):
        t.add_column(col)
    usable = _usables(snapshot)
    for name, before, after in _usage_rows(plan, only_changed):
        t.add_row(name, *_usage_cells(before, after, usable.get(name)), *_load_cell(plan, name))
    return t


def _load_header(plan: Plan) -> tuple[str, ...]:
    """The load column a rebalance plan carries: measured CPU, or allocation when unmeasured."""
    if not plan.load_after:
        return ()
    return ("CPU load",) if plan.load_basis == "cpu" else ("load (allocation)",)


def _load_cell(plan: Plan, name: str) -> tuple[str, ...]:
    if not plan.load_after:
        return ()
    b, a = plan.load_before.get(name), plan.load_after.get(name)
    return (f"{b:.0%} -> {a:.0%}" if b is not None and a is not None else "-",)


def _usables(snapshot: Snapshot | None) -> dict[str, Resources]:
    return {h.name: h.usable for h in snapshot.hosts} if snapshot is not None else {}


def _usage_rows(plan: Plan, only_changed: bool) -> Iterable[tuple[str, Resources, Resources]]:
    for name in sorted(plan.usage_after):
        after = plan.usage_after[name]
        before = plan.usage_before.get(name, after)
        if only_changed and before == after:
            continue
        yield name, before, after


def _usage_cells(before: Resources, after: Resources, usable: Resources | None) -> list[str]:
    cells = []
    for field, unit in (("vcpus", ""), ("ram_mb", " MiB"), ("disk_gb", " GiB")):
        b, a = getattr(before, field), getattr(after, field)
        if usable is not None:
            cap = getattr(usable, field)
            cells.append(f"{_pct(b, cap)} -> {_pct(a, cap)}")
        else:
            cells.append(f"{b:g} -> {a:g}{unit}")
    return cells


def plan_renderable(plan: Plan, snapshot: Snapshot | None = None, limit: int | None = None):
    """Everything about a plan for a terminal: warnings, capacity, moves, skips, usage."""
    parts: list = []
    for w in plan.warnings:
        parts.append(Text(f"! {w}", style="bold yellow"))
    cap = capacity_line(plan)
    if cap:
        parts.append(Text(cap, style="green" if plan.feasible else "bold red"))
    parts.append(moves_table(plan, limit))
    if plan.skips:
        parts.append(skips_table(plan.skips))
    if plan.emptied_hosts:
        parts.append(Text("hosts left empty: " + ", ".join(plan.emptied_hosts)))
    if plan.usage_after:
        parts.append(usage_table(plan, snapshot))
    return Group(*parts)


def print_plan(plan: Plan, snapshot: Snapshot | None = None, console: Console | None = None):
    (console or Console()).print(plan_renderable(plan, snapshot))


def outcomes_table(outcomes: Sequence[Outcome]) -> Table:
    """Per move, failures first: what happened, where the instance is now, how long it took,
    an earlier attempt it got past, and for a failure Nova's reason and the next step."""
    t = Table(title="Outcome", caption=f"instances: {counts_line(outcomes)}")
    for col in (
        "instance",
        "result",
        "method",
        "from",
        "now on",
        "status",
        "time",
        "earlier attempt",
        "error -> next step",
    ):
        t.add_column(col, overflow="fold")
    style = {"moved": "green", "already-done": "green", "failed": "bold red", "aborted": "red"}
    for o in failures_first(outcomes):
        t.add_row(
            o.instance_name,
            Text(o.result, style=style.get(o.result, "yellow")),
            o.method.value if o.method else "",
            o.source or "",
            o.final_host or "",
            o.final_status or "",
            _seconds(o.seconds),
            earlier_attempt(o),
            "" if o.result in DONE else failure(o),
        )
    return t


# -- Markdown ---------------------------------------------------------------------------
def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out.extend("| " + " | ".join(_md(c) for c in row) + " |" for row in rows)
    return out


def plan_markdown(plan: Plan, snapshot: Snapshot | None = None, limit: int | None = None) -> str:
    """The plan as Markdown: headline, warnings, moves, skips and usage (artifacts, Slack)."""
    lines = [f"### Plan: {request_title(plan)}", "", f"**{summary_line(plan)}**", ""]
    for w in plan.warnings:
        lines.append(f"> :warning: {_md(w)}")
    cap = capacity_line(plan)
    if cap:
        lines += ["", cap]
    lines.append("")
    rows = [
        (
            n,
            m.instance_name,
            m.source,
            _target(m),
            _method(m),
            _seconds(m.expected_seconds),
            m.reason,
        )
        for n, m in enumerate(plan.moves[:limit] if limit else plan.moves, 1)
    ]
    if rows:
        lines += _md_table(("#", "instance", "from", "to", "method", "time", "why"), rows)
        if limit and len(plan.moves) > limit:
            lines.append(f"\n... and {len(plan.moves) - limit} more moves")
    else:
        lines.append("_No moves._")
    if plan.skips:
        lines += ["", "#### Not moved", ""]
        lines += _md_table(
            ("instance", "host", "why", "what you can do"),
            ((s.instance_name, s.host or "-", s.reason, s.remedy) for s in plan.skips),
        )
    if plan.emptied_hosts:
        lines += ["", "Hosts left empty: " + ", ".join(plan.emptied_hosts)]
    usage = list(_usage_rows(plan, True))
    if usage:
        lines += ["", "#### Host usage before -> after", ""]
        usable = _usables(snapshot)
        lines += _md_table(
            ("host", "vCPU", "RAM", "disk", *_load_header(plan)),
            ((n, *_usage_cells(b, a, usable.get(n)), *_load_cell(plan, n)) for n, b, a in usage),
        )
    return "\n".join(lines) + "\n"


EARLIER_INLINE = 60
"""An earlier attempt's text longer than this goes in a list under the table, where the
Prefect UI does not cut it off, and the row points to it."""


def _failures_md(outcomes: Sequence[Outcome]) -> list[str]:
    """Each failure with Nova's reason and the next step, as a list (never cut off)."""
    bad = [o for o in failures_first(outcomes) if o.result not in DONE]
    if not bad:
        return []
    lines = [f"#### Failures ({len(bad)})", ""]
    for o in bad:
        where = f" on {o.final_host or o.source}" if (o.final_host or o.source) else ""
        how = f" ({o.method.value})" if o.method else ""
        lines.append(f"- **{_md(o.instance_name)}** `{o.instance_id}`{where}{how}: {o.result}")
        lines.append(f"  - {_md(failure(o))}")
    return [*lines, ""]


def _instances_md(outcomes: Sequence[Outcome]) -> list[str]:
    """Every instance, failures first; long earlier attempts listed under the table."""
    long_ones: list[Outcome] = []
    rows = []
    for o in failures_first(outcomes):
        earlier = earlier_attempt(o)
        if len(earlier) > EARLIER_INLINE:
            long_ones.append(o)
            earlier = f"see earlier attempts ({len(long_ones)})"
        rows.append(
            (
                o.instance_name,
                o.result,
                o.method.value if o.method else "",
                o.source or "",
                o.final_host or "",
                o.final_status or "",
                _seconds(o.seconds),
                earlier,
                "" if o.result in DONE else "see failures",
            )
        )
    header = (
        "instance",
        "result",
        "method",
        "from",
        "now on",
        "status",
        "time",
        "earlier attempt",
        "error",
    )
    lines = ["#### Every instance", "", *_md_table(header, rows)]
    if long_ones:
        lines += ["", "#### Earlier attempts", ""]
        for n, o in enumerate(long_ones, 1):
            lines.append(f"{n}. **{_md(o.instance_name)}** ({o.result}): {_md(earlier_attempt(o))}")
    return lines


def outcomes_markdown(outcomes: Sequence[Outcome]) -> str:
    """The moves as Markdown: failures first with Nova's reason and the next step, then a
    table of every instance, then earlier attempts."""
    lines = ["### Outcome", "", f"Instances: **{counts_line(outcomes)}**", ""]
    lines += _failures_md(outcomes) + _instances_md(outcomes)
    return "\n".join(lines) + "\n"


def report_markdown(
    title: str,
    outcomes: Sequence[Outcome],
    decisions: Sequence[tuple[str, ApprovalDecision]],
    notes: Sequence[str],
    left_disabled: dict[str, str] | None = None,
) -> str:
    """A run's report: what failed and what to do first, hosts left disabled and why, the
    gates' decisions, notes, then every instance."""
    lines = [f"# {_md(title)}", "", f"Instances: **{counts_line(outcomes)}**", ""]
    lines += _failures_md(outcomes)
    if left_disabled:
        lines += [f"#### Hosts left disabled ({len(left_disabled)})", ""]
        for host, reason in sorted(left_disabled.items()):
            lines.append(
                f"- **{_md(host)}**: {_md(reason)}. Enable it when it is ready: "
                f"`openstack compute service set --enable {host} nova-compute`"
            )
        lines.append("")
    if decisions:
        lines += ["#### Gates", ""]
        for gate, d in decisions:
            verdict = "approved" if d.approved else "rejected"
            comment = f": {_md(d.comment)}" if d.comment else ""
            lines.append(
                f"- {gate}: {verdict} by {_md(d.approver or '(unnamed)')} via {d.via}{comment}"
            )
        lines.append("")
    if notes:
        lines += ["#### Notes", "", *(f"- {_md(n)}" for n in notes), ""]
    if outcomes:
        lines += _instances_md(outcomes)
    return "\n".join(lines) + "\n"


PLAN_COLUMNS = ("instance", "id", "from", "to", "method", "seconds", "why")


def plan_rows(plan: Plan) -> list[dict[str, object]]:
    """One row per move, then one per instance the plan leaves where it is: the plan as the
    terminal prints it and the plan artifact lists it."""
    rows: list[dict[str, object]] = [
        {
            "instance": m.instance_name,
            "id": m.instance_id,
            "from": m.source,
            "to": m.target or "(Nova's scheduler)",
            "method": m.method.value + (f" then {m.fallback.value}" if m.fallback else ""),
            "seconds": m.expected_seconds,
            "why": m.reason,
        }
        for m in plan.moves
    ]
    rows += [
        {
            "instance": s.instance_name,
            "id": s.instance_id,
            "from": s.host or "",
            "to": "stays",
            "method": "skip",
            "seconds": None,
            "why": f"{s.reason} -> {s.remedy}",
        }
        for s in plan.skips
    ]
    return rows
