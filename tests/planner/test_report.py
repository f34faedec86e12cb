"""The run report an operator acts on: failures first with Nova's reason and the next step,
earlier attempts apart from errors, hosts left disabled named, units, plain titles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from novaflow.models import ApprovalDecision, DrainRequest, Method, Outcome, Plan, RebalanceRequest
from novaflow.render import outcomes_table, report_markdown
from tasks.reporting import plan_title

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _moved(name: str, error: str | None = None) -> Outcome:
    return Outcome(
        instance_id=f"{name}-id",
        instance_name=name,
        result="moved",
        method=Method.COLD if error else Method.LIVE,
        source="cmp-a",
        final_host="cmp-b",
        final_status="ACTIVE",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=42),
        error=error,
    )


FAILED = Outcome(
    instance_id="db-id",
    instance_name="db",
    result="failed",
    method=Method.LIVE,
    source="cmp-a",
    final_host="cmp-a",
    final_status="ACTIVE",
    error="No valid host was found. There are not enough hosts available.",
    remedy="free room on a host, or let Nova's scheduler choose",
)

EARLIER = "live migration failed: Migration pre-check error: CPU doesn't have compatibility " * 2


def _report(**kw) -> str:
    outcomes = [_moved(f"web-{i}") for i in range(20)] + [_moved("app", EARLIER), FAILED]
    yes = ApprovalDecision(approved=True, approver="alice", via="cli", comment="go")
    return report_markdown(
        "node-maintenance: cmp-a",
        outcomes,
        [("approve-plan", yes)],
        ["cmp-a left disabled: 'maintenance done' was not approved"],
        kw.get("left_disabled", {"cmp-a": "compute service disabled ('novaflow: kernel')"}),
    )


def test_failures_come_first_with_novas_reason_and_the_next_step() -> None:
    md = _report()
    assert md.index("#### Failures (1)") < md.index("#### Every instance")
    assert md.index("**db**") < md.index("web-0")
    assert "No valid host was found" in md
    assert "-> free room on a host, or let Nova's scheduler choose" in md
    table = md[md.index("#### Every instance") :]
    first_row = table.splitlines()[4]
    assert first_row.startswith("| db | failed |")


def test_a_moved_row_keeps_an_earlier_attempt_out_of_its_error_column() -> None:
    md = _report()
    app_row = next(line for line in md.splitlines() if line.startswith("| app |"))
    cells = [c.strip() for c in app_row.strip("|").split("|")]
    assert cells[1] == "moved" and cells[-1] == "", "a moved row has no error"
    assert cells[-2] == "see earlier attempts (1)"
    assert "1. **app** (moved): live migration failed: Migration pre-check error" in md
    short = report_markdown("t", [_moved("x", "live migration timed out")], [], [])
    x_row = next(line for line in short.splitlines() if line.startswith("| x |"))
    assert "| live migration timed out |  |" in x_row


def test_hosts_left_disabled_are_named_with_their_reason_and_how_to_enable() -> None:
    md = _report()
    assert "#### Hosts left disabled (1)" in md
    assert "**cmp-a**: compute service disabled ('novaflow: kernel')" in md
    assert "openstack compute service set --enable cmp-a nova-compute" in md
    assert "Hosts left disabled" not in _report(left_disabled={})


def test_every_figure_has_its_unit() -> None:
    md = _report()
    assert "Instances: **1 failed, 21 moved**" in md
    assert "| 42 s |" in md
    long = _moved("slow")
    long = long.model_copy(update={"finished_at": T0 + timedelta(minutes=15)})
    assert "| 15.0 min |" in report_markdown("t", [long], [], [])


def test_the_terminal_table_lists_failures_first_with_reason_and_next_step() -> None:
    table = outcomes_table([_moved("web-1", "live failed"), FAILED])
    instances = list(table.columns[0].cells)
    assert instances == ["db", "web-1"]
    assert list(table.columns[7].cells) == ["", "live failed"]
    errors = list(table.columns[8].cells)
    assert "No valid host" in errors[0] and errors[1] == ""


def test_artifact_titles_are_plain_text_and_never_name_an_empty_host_list() -> None:
    plan = Plan(request=RebalanceRequest(strategy="spread", max_moves=20))
    title = plan_title(plan, "rebalance-spread", [])
    assert "**" not in title and "for :" not in title and "plan for **" not in title
    assert title.startswith("rebalance-spread plan for rebalance: spread, max 20 moves:")
    drain = plan_title(Plan(request=DrainRequest(hosts=["cmp-a"])), "node-maintenance", ["cmp-a"])
    assert drain == "node-maintenance plan for cmp-a: 0 moves (no moves), 0 skipped."
