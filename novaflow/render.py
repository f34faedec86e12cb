"""Plans and outcomes as tables an operator reads: rich for the terminal, Markdown elsewhere.

Markdown is what Prefect artifacts and Slack messages show, so the same text serves both;
this module imports neither Prefect nor Slack.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from novaflow.models import Move, Outcome, Plan, Resources, Skip, Snapshot

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
    if s is None:
        return ""
    if s < 90:
        return f"{s:.0f}s"
    return f"{s / 60:.1f}m"


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
    """Per move: what happened, where the instance is now, how long it took, what to do."""
    t = Table(title="Outcome")
    for col in ("instance", "result", "method", "from", "now on", "status", "time", "error"):
        t.add_column(col, overflow="fold")
    style = {"moved": "green", "already-done": "green", "failed": "bold red", "aborted": "red"}
    for o in outcomes:
        t.add_row(
            o.instance_name,
            Text(o.result, style=style.get(o.result, "yellow")),
            o.method.value if o.method else "",
            o.source or "",
            o.final_host or "",
            o.final_status or "",
            _seconds(o.seconds),
            " -> ".join(x for x in (o.error, o.remedy) if x),
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


def outcomes_markdown(outcomes: Sequence[Outcome]) -> str:
    """The run's report as Markdown: one row per move, failures with their remedy."""
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.result] = counts.get(o.result, 0) + 1
    head = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to report"
    lines = ["### Outcome", "", f"**{head}**", ""]
    lines += _md_table(
        ("instance", "result", "method", "from", "now on", "status", "time", "error"),
        (
            (
                o.instance_name,
                o.result,
                o.method.value if o.method else "",
                o.source or "",
                o.final_host or "",
                o.final_status or "",
                _seconds(o.seconds),
                " -> ".join(x for x in (o.error, o.remedy) if x),
            )
            for o in outcomes
        ),
    )
    return "\n".join(lines) + "\n"
