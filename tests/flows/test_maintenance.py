"""node_maintenance on a real Prefect server against the simulated cloud."""

from __future__ import annotations

import pytest
from prefect import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
)
from prefect.client.schemas.sorting import FlowRunSort
from prefect.logging.handlers import APILogWorker
from pydantic import ValidationError

import flows.common
from flows.maintenance import node_maintenance
from flows.params import ApprovalSettings, RunSettings
from novaflow.errors import BadRequest
from novaflow.sim.testing import wait_for
from tests.flows.conftest import APPROVE, REJECT, drive, service, two_hosts, where


def settings(**kw) -> RunSettings:
    kw.setdefault("approval", ApprovalSettings(timeout_s=60))
    return RunSettings(cloud="sim", move_timeout_s=60, **kw)


def test_drains_the_host_then_enables_it_when_the_work_is_done(cloud_of):
    spec = two_hosts(3)
    spec.instance("db-0", host="cmp-a", flavor="m1.medium", status="SHUTOFF")
    sim = cloud_of(spec)
    report = drive(
        node_maintenance,
        {"approve-plan": APPROVE, "maintenance-done": APPROVE},
        host="cmp-a",
        reason="kernel 6.8",
        settings=settings(),
    )
    for name in ("web-0", "web-1", "web-2"):
        assert where(sim, name) == ("cmp-b", "ACTIVE")
    assert where(sim, "db-0") == ("cmp-b", "SHUTOFF")
    assert {o.result for o in report.outcomes} == {"moved"}
    methods = {o.instance_name: o.method.value for o in report.outcomes}
    assert methods["db-0"] == "cold" and methods["web-0"] == "live"
    assert service(sim, "cmp-a").status == "enabled"
    assert [g.gate for g in report.gates] == ["approve-plan", "maintenance-done"]
    assert report.gates[0].decision.approver == "alice"
    assert report.ok


def test_service_stays_disabled_with_the_reason_while_work_is_pending(cloud_of):
    sim = cloud_of(two_hosts(2))
    report = drive(
        node_maintenance,
        {"approve-plan": APPROVE},
        host="cmp-a",
        reason="disk swap",
        settings=settings(),
        wait_for_done=False,
    )
    svc = service(sim, "cmp-a")
    assert svc.status == "disabled" and "disk swap" in svc.disabled_reason
    assert all(where(sim, f"web-{i}")[0] == "cmp-b" for i in range(2))
    assert report.ok


def test_move_back_returns_every_instance_home(cloud_of):
    sim = cloud_of(two_hosts(2))
    report = drive(
        node_maintenance,
        {"approve-plan": APPROVE, "maintenance-done": APPROVE},
        host="cmp-a",
        settings=settings(),
        move_back=True,
    )
    assert where(sim, "web-0") == ("cmp-a", "ACTIVE")
    assert where(sim, "web-1") == ("cmp-a", "ACTIVE")
    assert len(report.outcomes) == 4 and report.ok


def test_reject_changes_nothing(cloud_of):
    sim = cloud_of(two_hosts(2))
    report = drive(node_maintenance, {"approve-plan": REJECT}, host="cmp-a", settings=settings())
    assert where(sim, "web-0") == ("cmp-a", "ACTIVE")
    assert service(sim, "cmp-a").status == "enabled"
    assert not report.outcomes and not report.approved
    assert report.gates[0].decision.comment == "not now"


def test_unanswered_gate_applies_the_default_action_and_says_so(cloud_of):
    sim = cloud_of(two_hosts(1))
    report = drive(
        node_maintenance,
        {},
        host="cmp-a",
        settings=settings(approval=ApprovalSettings(timeout_s=10, on_timeout="reject")),
    )
    assert where(sim, "web-0") == ("cmp-a", "ACTIVE")
    decision = report.gates[0].decision
    assert decision.via == "timeout" and not decision.approved
    assert "default action 'reject'" in decision.comment


def test_dry_run_plans_but_changes_nothing(cloud_of):
    sim = cloud_of(two_hosts(2))
    report = drive(node_maintenance, {}, host="cmp-a", settings=settings(dry_run=True))
    assert report.dry_run and len(report.plan.moves) == 2
    assert where(sim, "web-0") == ("cmp-a", "ACTIVE")
    assert service(sim, "cmp-a").status == "enabled"


def test_a_big_plan_lists_its_first_moves_in_the_log_and_points_to_the_artifact(
    cloud_of, monkeypatch
):
    monkeypatch.setattr(flows.common, "PLAN_LOG_LINES", 2)
    cloud_of(two_hosts(5))
    drive(node_maintenance, {}, host="cmp-a", settings=settings(dry_run=True))
    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["node-maintenance"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
        logs = client.read_logs(log_filter=LogFilter(flow_run_id={"any_": [run.id]}))
    lines = [log.message for log in logs]
    assert len([line for line in lines if line.startswith("  web-")]) == 2
    assert "  ... and 3 more moves: every move is in the plan artifact (Artifacts tab)" in lines


def test_live_impossible_falls_back_to_cold(cloud_of):
    spec = two_hosts(0).instance("tpm-0", host="cmp-a", flavor="s1.vtpm")
    sim = cloud_of(spec)
    report = drive(
        node_maintenance,
        {"approve-plan": APPROVE},
        host="cmp-a",
        settings=settings(),
        wait_for_done=False,
    )
    assert where(sim, "tpm-0") == ("cmp-b", "ACTIVE")
    assert report.outcomes[0].method.value == "cold"


def test_unknown_host_is_refused_with_the_closest_names(cloud_of):
    sim = cloud_of(two_hosts(1))
    with pytest.raises(BadRequest, match=r"unknown host .cmp-c.*did you mean"):
        node_maintenance(host="cmp-c", settings=settings())
    assert where(sim, "web-0") == ("cmp-a", "ACTIVE")


def test_a_host_that_is_down_is_refused_with_a_pointer_to_evacuation(cloud_of):
    sim = cloud_of(two_hosts(1))
    sim.kill_host("cmp-a")
    with pytest.raises(BadRequest, match="evacuate"):
        node_maintenance(host="cmp-a", settings=settings())


@pytest.mark.parametrize(
    "bad",
    [{"max_parallel": 0}, {"window_end": "2001-01-01T00:00:00Z"}, {"exclude_hosts": ["x", "x"]}],
)
def test_bad_settings_fail_before_anything_moves(bad):
    with pytest.raises(ValidationError):
        RunSettings(**bad)


def test_every_move_task_run_is_recorded_completed_by_the_time_of_the_report(cloud_of):
    """A move frees its slots the moment Nova is done with it, before Prefect has recorded
    its task run's end (tasks/moves.py, _ENDED); once the run is over, Prefect has every
    move's end, so the UI never shows a finished run with moves still Running."""
    sim = cloud_of(two_hosts(4))
    report = drive(
        node_maintenance,
        {"approve-plan": APPROVE},
        host="cmp-a",
        reason="kernel 6.8",
        settings=settings(),
        wait_for_done=False,
    )
    assert all(where(sim, f"web-{i}") == ("cmp-b", "ACTIVE") for i in range(4))
    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["node-maintenance"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )

        def moves() -> dict[str, str]:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
            )
            return {t.name: t.state_name for t in runs if t.name.startswith("live-web-")}

        # The server records task runs from the run's events, a moment behind the run.
        wanted = {f"live-web-{i}": "Completed" for i in range(4)}
        wait_for(lambda: moves() == wanted, timeout=30, interval=0.5, what=f"{wanted}")
    assert [o.result for o in report.outcomes] == ["moved"] * 4
