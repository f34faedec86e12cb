"""Plans and outcomes render as tables an operator can read (terminal and Markdown)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from novaflow.models import DrainRequest, Method, Outcome
from novaflow.planner import plan
from novaflow.render import (
    outcomes_markdown,
    outcomes_table,
    plan_markdown,
    plan_renderable,
    summary_line,
)

from .util import LARGE, host, inst, snap


def _plan():
    s = snap(
        [host("h1"), host("h2", ram_gb=10)],
        [inst("web|1", "h1", LARGE), inst("db", "h1", LARGE), inst("bad", "h1", status="ERROR")],
    )
    return s, plan(s, DrainRequest(hosts=["h1"]))


def _text(renderable) -> str:
    console = Console(width=200, record=True)
    console.print(renderable)
    return console.export_text()


def test_terminal_table_shows_instance_from_to_method_and_why():
    s, p = _plan()
    out = _text(plan_renderable(p, s))
    assert "Plan: drain h1" in out
    assert "h2" in out and "live -> cold" in out and "tightest fit" in out
    assert "Not moved" in out and "openstack server set --state active" in out
    assert "does NOT fit" in out
    assert "Host usage" in out and "%" in out


def test_markdown_has_tables_and_escapes_pipes():
    s, p = _plan()
    md = plan_markdown(p, s)
    assert md.startswith("### Plan: drain h1")
    assert "| # | instance | from | to | method | time | why |" in md
    assert "web\\|1" in md
    assert "#### Not moved" in md and ":warning:" in md
    assert summary_line(p) in md


def test_markdown_limit_and_scheduler_target():
    s = snap([host("h1"), host("h2")], [inst(f"i{n}", "h1") for n in range(5)])
    p = plan(s, DrainRequest(hosts=["h1"], let_scheduler_choose=True))
    md = plan_markdown(p, limit=2)
    assert "and 3 more moves" in md and "(Nova's scheduler)" in md


def test_outcomes_report():
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    outcomes = [
        Outcome(
            instance_id="1",
            instance_name="web",
            result="moved",
            method=Method.LIVE,
            source="h1",
            final_host="h2",
            final_status="ACTIVE",
            started_at=t0,
            finished_at=t0 + timedelta(seconds=42),
        ),
        Outcome(
            instance_id="2",
            instance_name="db",
            result="failed",
            method=Method.LIVE,
            source="h1",
            final_host="h1",
            error="migration timed out",
            remedy="abort it and retry cold",
        ),
    ]
    md = outcomes_markdown(outcomes)
    assert "**1 failed, 1 moved**" in md and "42 s" in md  # durations carry a spaced unit
    assert "migration timed out -> abort it and retry cold" in md
    out = _text(outcomes_table(outcomes))
    assert "web" in out and "failed" in out and "h2" in out
