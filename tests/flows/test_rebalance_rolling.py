"""rebalance and rolling_maintenance on a real Prefect server against the simulated cloud."""

from __future__ import annotations

from flows.params import ApprovalSettings, RunSettings
from flows.rebalance import rebalance
from flows.rolling import rolling_maintenance
from novaflow.sim.spec import ClusterSpec
from tests.flows.conftest import APPROVE, drive, service, where


def settings(**kw) -> RunSettings:
    kw.setdefault("approval", ApprovalSettings(timeout_s=60))
    return RunSettings(cloud="sim", move_timeout_s=60, **kw)


def test_consolidate_empties_a_host_and_disables_it(cloud_of):
    spec = ClusterSpec().host("cmp-a").host("cmp-b").host("cmp-c")
    spec.instance("a-0", host="cmp-a").instance("a-1", host="cmp-a")
    spec.instance("b-0", host="cmp-b").instance("c-0", host="cmp-c")
    sim = cloud_of(spec)
    report = drive(
        rebalance,
        {"approve-plan": APPROVE},
        strategy="consolidate",
        max_moves=None,
        disable_emptied=True,
        settings=settings(),
    )
    emptied = report.plan.emptied_hosts
    assert emptied, report.plan
    for host in emptied:
        assert not sim.instances_on(host)
        assert service(sim, host).status == "disabled"
    assert any("load before" in n for n in report.notes)
    assert any("load after" in n for n in report.notes)
    assert report.ok


def test_rolling_maintenance_drains_each_host_in_turn_and_enables_it_again(cloud_of):
    spec = ClusterSpec().host("cmp-a").host("cmp-b").host("cmp-c")
    spec.instance("a-0", host="cmp-a").instance("b-0", host="cmp-b")
    sim = cloud_of(spec)
    report = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        batch_size=1,
        min_free_fraction=0.0,
        wait_for_done=False,
        settings=settings(),
    )
    # Batch 1 empties cmp-a, which is enabled again and may take instances back in batch 2.
    sources = [o.source for o in report.outcomes]
    assert sources[0] == "cmp-a" and set(sources[1:]) == {"cmp-b"}
    assert not sim.instances_on("cmp-b")  # the last batch ends empty
    assert all(where(sim, name)[1] == "ACTIVE" for name in ("a-0", "b-0"))
    for host in ("cmp-a", "cmp-b"):
        assert service(sim, host).status == "enabled"
    assert sum("done and enabled again" in n for n in report.notes) == 2
    assert report.ok


def test_rebalance_finishes_what_a_crashed_rebalance_left_locked(cloud_of):
    # Found by the fault matrix (SIGKILL): a rebalance killed after moving c-0 off cmp-c
    # left it locked; the re-run planned nothing on cmp-c (here: nothing at all) and never
    # released the lock.
    spec = ClusterSpec().host("cmp-a").host("cmp-b").host("cmp-c")
    spec.instance("a-0", host="cmp-a").instance("b-0", host="cmp-b")
    spec.instance("c-0", host="cmp-a", locked=True, locked_reason="novaflow: moving off cmp-c")
    spec.instance("own-0", host="cmp-b", locked=True, locked_reason="owner's freeze")
    sim = cloud_of(spec)
    report = drive(
        rebalance,
        {"approve-plan": APPROVE},
        strategy="proximity",
        select_name="no-such-instance",
        target_hosts=["cmp-a"],
        settings=settings(),
    )
    c0 = sim.instance(sim.server_id("c-0"))
    assert not c0.locked and c0.host == "cmp-a" and c0.status == "ACTIVE"
    assert sim.instance(sim.server_id("own-0")).locked  # the owner's lock is kept
    assert any("left by an earlier run" in n for n in report.notes), report.notes
    assert not sim.migrations(sim.server_id("c-0"))  # finished, not moved again


def test_rolling_that_stops_early_names_the_hosts_it_never_drained(cloud_of):
    # Found by the fault matrix: when a batch could not be emptied the rollout stopped, and
    # the report said nothing of the later batches, whose instances were silently left.
    spec = ClusterSpec().host("cmp-a").host("cmp-b").host("cmp-c")
    spec.instance("a-0", host="cmp-a", flavor="m1.medium").instance("b-0", host="cmp-b")
    sim = cloud_of(spec, faults={"no_valid_host_flavors": ["m1.medium"]})
    report = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        min_free_fraction=0.0,
        wait_for_done=False,
        settings=settings(method="live"),
    )
    assert where(sim, "a-0") == ("cmp-a", "ACTIVE") and where(sim, "b-0") == ("cmp-b", "ACTIVE")
    assert any("batches not started: cmp-b" in n for n in report.notes), report.notes
    assert not report.ok
