"""Failures during a drain: each ends in the report with its reason; nothing is lost."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from flows.failing import failing_node
from flows.maintenance import node_maintenance
from flows.params import ApprovalSettings, RunSettings
from tests.flows.conftest import APPROVE, drive, service, two_hosts, where


def settings(**kw) -> RunSettings:
    kw.setdefault("approval", ApprovalSettings(timeout_s=60))
    kw.setdefault("move_timeout_s", 60)
    return RunSettings(cloud="sim", **kw)


def test_a_failed_migration_is_reported_and_the_instance_stays_healthy(cloud_of):
    # Two live migrations are in flight at once (one running, one queued in Nova), so the
    # first four fail: each of the first two instances fails its attempt and its retry.
    sim = cloud_of(two_hosts(3), faults={"fail_nth_migrations": [1, 2, 3, 4]})
    report = drive(
        node_maintenance,
        {"approve-plan": APPROVE},
        host="cmp-a",
        wait_for_done=False,
        settings=settings(method="live"),
    )
    failed = [o for o in report.outcomes if o.result == "failed"]
    assert failed, report.outcomes
    for outcome in failed:
        host, status = where(sim, outcome.instance_name)
        assert (host, status) == ("cmp-a", "ACTIVE")
        assert outcome.error and outcome.remedy
    assert not report.ok
    assert any("still on cmp-a" in note for note in report.notes)


def test_live_failure_falls_back_to_cold_under_live_then_cold(cloud_of):
    # The first live attempt fails, so does the retry to a scheduler-chosen host: cold.
    sim = cloud_of(two_hosts(1), faults={"fail_nth_migrations": [1, 2]})
    report = drive(
        node_maintenance,
        {"approve-plan": APPROVE},
        host="cmp-a",
        wait_for_done=False,
        settings=settings(),
    )
    assert where(sim, "web-0") == ("cmp-b", "ACTIVE")
    assert report.outcomes[0].result == "moved"
    assert report.outcomes[0].method.value == "cold"
    assert "live" in (report.outcomes[0].error or "")  # the fallback story is told


def test_a_hung_live_migration_is_aborted_and_the_instance_is_back_on_its_source(cloud_of):
    sim = cloud_of(two_hosts(1), faults={"hang_nth_migrations": [1]})
    report = drive(
        node_maintenance,
        {"approve-plan": APPROVE},
        host="cmp-a",
        wait_for_done=False,
        settings=settings(method="live", move_timeout_s=3),
    )
    outcome = report.outcomes[0]
    assert outcome.result in ("aborted", "failed")
    assert where(sim, "web-0") == ("cmp-a", "ACTIVE")
    assert "abort" in (outcome.error or "").lower()
    assert not sim.instance(sim.server_id("web-0")).locked


def test_failing_node_moves_everything_and_leaves_the_node_marked(cloud_of):
    spec = two_hosts(4)
    spec.instance("tpm-0", host="cmp-a", flavor="s1.vtpm")
    sim = cloud_of(spec)
    report = drive(
        failing_node,
        {"approve-plan": APPROVE},
        host="cmp-a",
        reason="ECC errors",
        settings=settings(max_parallel=32),
    )
    assert all(where(sim, f"web-{i}")[0] == "cmp-b" for i in range(4))
    assert where(sim, "tpm-0") == ("cmp-b", "ACTIVE")
    svc = service(sim, "cmp-a")
    assert svc.status == "disabled" and "FAILING: ECC errors" in svc.disabled_reason
    assert report.ok


def test_failing_node_gate_approves_by_default_when_nobody_answers(cloud_of):
    sim = cloud_of(two_hosts(1))
    report = drive(
        failing_node,
        {},
        host="cmp-a",
        settings=settings(approval=ApprovalSettings(timeout_s=10, on_timeout="approve")),
    )
    assert report.gates[0].decision.via == "timeout" and report.gates[0].decision.approved
    assert where(sim, "web-0") == ("cmp-b", "ACTIVE")


def test_a_host_that_dies_mid_drain_leaves_a_clear_report(cloud_of):
    spec = two_hosts(6)
    sim = cloud_of(spec, time_scale=0.01)
    dying = threading.Event()

    def die_soon(route: str) -> None:
        # cmp-a dies 60 simulated seconds after the first move is asked for: a move or two
        # finish, the rest cannot. Counted from the first move, not from the sim's start, so a
        # slow machine's preflight never meets an already dead host.
        if route.endswith("/servers/{server_id}/action") and not dying.is_set():
            dying.set()
            sim.set_faults(service_down=[{"host": "cmp-a", "at": sim.state.clock.now() + 60}])

    sim.state.request_hooks.append(die_soon)
    report = drive(
        node_maintenance,
        {"approve-plan": APPROVE},
        host="cmp-a",
        wait_for_done=False,
        settings=settings(method="live", move_timeout_s=20),
    )
    moved = [o for o in report.outcomes if o.result in ("moved", "already-done")]
    stuck = [o for o in report.outcomes if o.result not in ("moved", "already-done")]
    assert stuck, "the host died mid-drain: some instances cannot have left"
    for outcome in moved:
        assert where(sim, outcome.instance_name)[0] == "cmp-b"
    for outcome in stuck:
        assert outcome.error and outcome.remedy
        assert where(sim, outcome.instance_name)[0] == "cmp-a"
    assert any("still on cmp-a" in note for note in report.notes)
    assert not report.ok


def test_no_move_starts_after_the_window_ends(cloud_of):
    sim = cloud_of(two_hosts(12), time_scale=0.05)
    end = datetime.now(UTC) + timedelta(seconds=15)
    report = drive(
        node_maintenance,
        {"approve-plan": APPROVE},
        host="cmp-a",
        wait_for_done=False,
        settings=settings(method="live", window_end=end),
    )
    late = [o for o in report.outcomes if o.result == "not-started"]
    assert late and all("window ended" in (o.error or "") for o in late)
    for outcome in late:
        assert where(sim, outcome.instance_name) == ("cmp-a", "ACTIVE")
    # started_at is when Nova was asked, just after the move's concurrency slot was granted;
    # the dispatcher itself started every moved instance before the window end.
    for outcome in report.outcomes:
        if outcome.result == "moved":
            assert outcome.started_at < end + timedelta(seconds=10)
