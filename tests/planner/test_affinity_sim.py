"""Hard affinity against the simulated cloud: the plan keeps a group Nova cannot move where it
is, and draining the rest of the host succeeds while the group is reported, not failed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flows.maintenance import node_maintenance
from flows.params import ApprovalSettings, RunSettings
from novaflow.cloud import Cloud, RetryPolicy
from novaflow.models import DrainRequest, EvacuateRequest, Method, Move
from novaflow.mover import run_move
from novaflow.planner import plan
from novaflow.sim.spec import ClusterSpec
from tests.flows.conftest import APPROVE, cloud_of, drive, prefect_server, where  # noqa: F401

FAST_RETRY = RetryPolicy(attempts=8, initial_s=0.01, max_wait_s=0.05, budget_s=10)


def spec() -> ClusterSpec:
    s = ClusterSpec().host("cmp-a").host("cmp-b")
    s.group("pair", "affinity")
    s.group("web", "anti-affinity", rules={"max_server_per_host": 2})
    s.instance("db-0", host="cmp-a", groups=["pair"])
    s.instance("db-1", host="cmp-a", groups=["pair"])
    s.instance("app-0", host="cmp-a", groups=["web"])
    s.instance("app-1", host="cmp-b", groups=["web"])
    s.instance("app-2", host="cmp-a")
    return s


@pytest.fixture
def cloud(make_sim) -> Iterator[tuple[object, Cloud]]:
    sim = make_sim(spec(), time_scale=0.002)
    c = Cloud.connect(sim.cloud_name, config_file=str(sim.clouds_yaml), retry=FAST_RETRY)
    c.observer(min_interval=0.01, max_interval=0.1)
    yield sim, c
    c.close()


def test_the_plan_keeps_the_group_and_the_drain_of_the_rest_succeeds(cloud) -> None:
    _, c = cloud
    snap = c.snapshot()
    groups = {g.name: g for g in snap.server_groups}
    assert groups["web"].max_server_per_host == 2  # 2.64 rules read from the cloud
    p = plan(snap, DrainRequest(hosts=["cmp-a"]))
    staying = {s.instance_name: s for s in p.skips}
    assert set(staying) == {"db-0", "db-1"}
    assert "affinity group pair" in staying["db-0"].reason
    assert "NoValidHost" in staying["db-0"].reason
    assert "openstack server stop" in staying["db-0"].remedy
    assert {m.instance_name: m.target for m in p.moves} == {"app-0": "cmp-b", "app-2": "cmp-b"}
    assert p.feasible
    outcomes = [run_move(c, m, timeout_s=30) for m in p.moves]
    assert [o.result for o in outcomes] == ["moved", "moved"]
    after = {i.name: i for i in c.snapshot().instances}
    assert after["app-0"].host == after["app-2"].host == "cmp-b"
    assert after["db-0"].host == after["db-1"].host == "cmp-a"
    assert after["db-0"].status == "ACTIVE"


def test_the_cloud_refuses_the_move_the_old_plan_made(cloud) -> None:
    # What the plan used to do: move the pair "with its affinity group" to cmp-b.
    _, c = cloud
    db = next(i for i in c.snapshot().instances if i.name == "db-0")
    move = Move(
        instance_id=db.id,
        instance_name=db.name,
        source="cmp-a",
        target="cmp-b",
        method=Method.LIVE,
        reason="old plan",
    )
    out = run_move(c, move, timeout_s=30)
    assert out.result == "failed" and out.final_host == "cmp-a"


def test_maintenance_run_reports_the_group_as_staying_not_failed(cloud_of) -> None:  # noqa: F811
    sim = cloud_of(spec())
    settings = RunSettings(cloud="sim", move_timeout_s=60, approval=ApprovalSettings(timeout_s=60))
    report = drive(
        node_maintenance,
        {"approve-plan": APPROVE},
        host="cmp-a",
        settings=settings,
        wait_for_done=False,
    )
    assert {o.instance_name: o.result for o in report.outcomes} == {
        "app-0": "moved",
        "app-2": "moved",
    }
    assert report.ok
    assert {s.instance_name for s in report.plan.skips} == {"db-0", "db-1"}
    assert where(sim, "db-0") == ("cmp-a", "ACTIVE")
    assert where(sim, "app-2") == ("cmp-b", "ACTIVE")
    assert any("db-0" in n and "still on cmp-a" in n for n in report.notes)


def test_evacuation_rebuilds_the_rest_and_leaves_the_group_to_the_operator(cloud) -> None:
    sim, c = cloud
    sim.kill_host("cmp-a")
    c.force_down("cmp-a")
    p = plan(c.snapshot(), EvacuateRequest(host="cmp-a"))
    staying = {s.instance_name: s for s in p.skips}
    assert set(staying) == {"db-0", "db-1"}
    assert "evacuate --force" in staying["db-1"].remedy
    assert {m.instance_name for m in p.moves} == {"app-0", "app-2"}
    outcomes = [run_move(c, m, timeout_s=30) for m in p.moves]
    assert {o.result for o in outcomes} == {"moved"}
    after = {i.name: i.host for i in c.snapshot().instances}
    assert after["app-0"] == after["app-2"] == "cmp-b"
