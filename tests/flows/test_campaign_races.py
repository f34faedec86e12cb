"""Campaign drains side by side on a real Prefect server and the simulated cloud: moves
that race with another drain of the same campaign, or with Nova's scheduler, still end with
every instance ACTIVE or SHUTOFF as it was, on a host in service, and nothing in error."""

from __future__ import annotations

import threading
import uuid

from flows.params import ApprovalSettings, RunSettings
from flows.rolling import rolling_maintenance
from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import wait_for
from tasks.campaign_state import read_campaign
from tests.flows.conftest import APPROVE, drive, in_background, service, where

SLOW = 0.05
"""Sim seconds at 50 ms: a cold migration (30 s or more) takes 1.5 s or more, so the next
host's drain is planned and its host disabled while the first drain's moves still queue."""


def settings(**kw) -> RunSettings:
    kw.setdefault("approval", ApprovalSettings(timeout_s=60))
    kw.setdefault("move_timeout_s", 120)
    return RunSettings(cloud="sim", **kw)


def states(name: str) -> dict[str, str]:
    campaign = read_campaign(name)
    assert campaign is not None
    return {r.host: r.state for r in campaign.hosts}


def errored(sim) -> list[str]:
    return [f"migration {m.id} of {m.instance_id}" for m in sim.migrations() if m.status == "error"]


def a_target_still_to_do() -> ClusterSpec:
    """cmp-a's three stopped guests were booted into zone az1, where the only other host is
    cmp-b, a host of the campaign still to do; cmp-b's four guests may go anywhere, and
    out-1 (zone az2, outside the campaign) has room. cmp-a goes first (fewer instances)."""
    spec = ClusterSpec().host("cmp-a").host("cmp-b").host("out-1", zone="az2")
    for i in range(3):
        spec.instance(f"a-{i}", host="cmp-a", status="SHUTOFF", availability_zone="az1")
    for i in range(4):
        spec.instance(f"b-{i}", host="cmp-b")
    return spec


def test_a_host_that_is_a_drain_target_does_not_start_until_the_moves_to_it_landed(cloud_of):
    """cmp-a's cold migrations queue behind one another (one disk copy per source at a time)
    toward cmp-b. Were cmp-b disabled for its own drain meanwhile, Nova's scheduler would
    refuse the queued ones (NoValidHost: the requested host is disabled), and one that was
    already on its way would land on cmp-b after its drain was planned."""
    sim = cloud_of(a_target_still_to_do(), time_scale=SLOW)
    name = f"kernel-{uuid.uuid4().hex[:8]}"
    report = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        campaign=name,
        work_command="true",
        batch_size=2,
        min_free_fraction=0.0,
        settings=settings(),
    )
    assert errored(sim) == []
    assert states(name) == {"cmp-a": "done", "cmp-b": "done"}, report.notes
    for i in range(3):  # stopped guests stay stopped, on a host in service
        host, status = where(sim, f"a-{i}")
        assert status == "SHUTOFF" and service(sim, host).status == "enabled", (host, status)
    for i in range(4):
        host, status = where(sim, f"b-{i}")
        assert status == "ACTIVE" and service(sim, host).status == "enabled", (host, status)
    assert not report.unfinished
    assert report.ok


def one_host_and_two_ways_out() -> ClusterSpec:
    """cmp-a's three stopped m1.large guests fit on out-1 (the tightest fit: room for just
    them) or on out-2; both are outside the campaign."""
    spec = ClusterSpec().host("cmp-a").host("out-1", memory_mb=26_000).host("out-2")
    for i in range(3):
        spec.instance(f"a-{i}", host="cmp-a", flavor="m1.large", status="SHUTOFF")
    return spec


def draining_cmp_a(sim, name: str) -> tuple[threading.Thread, dict]:
    """Campaign `name` over cmp-a, run in the background; returns once cmp-a is disabled
    (its drain under way), with the thread and where its report will be (`report`)."""
    result: dict = {}

    def campaign() -> None:
        result["report"] = drive(
            rolling_maintenance,
            {"approve-plan": APPROVE},
            hosts=["cmp-a"],
            campaign=name,
            work_command="true",
            min_free_fraction=0.0,
            settings=settings(),
        )

    thread = in_background(campaign)
    wait_for(lambda: sim.state.hosts["cmp-a"].status == "disabled", timeout=60)
    return thread, result


def test_moves_nova_refuses_at_their_target_are_planned_again_elsewhere(cloud_of):
    """Someone takes out-1 out of service while cmp-a's drain has moves queued toward it:
    Nova's scheduler refuses them (NoValidHost: the requested host is disabled). The drain
    plans them again on a fresh read and they land on out-2; nothing is left in error."""
    sim = cloud_of(one_host_and_two_ways_out(), time_scale=SLOW)
    name = f"kernel-{uuid.uuid4().hex[:8]}"
    thread, result = draining_cmp_a(sim, name)
    conn = sim.connect()
    out_1 = next(s for s in conn.compute.services() if s.host == "out-1")
    conn.compute.disable_service(out_1, disabled_reason="disk alarm (someone else's hold)")
    thread.join(timeout=300)
    report = result["report"]

    assert states(name) == {"cmp-a": "done"}, report.notes
    assert errored(sim), "no move was refused: the test did not race"
    for i in range(3):
        host, status = where(sim, f"a-{i}")
        assert status == "SHUTOFF", (f"a-{i}", status)
        assert host in ("out-1", "out-2"), host
        assert sim.state.hosts[host].is_up
    assert where(sim, "a-2")[0] == "out-2"  # the last queued one could not go to out-1
    assert not report.unfinished and report.ok
    note = next(n for n in report.notes if "Nova refused" in n)
    assert note.startswith("cmp-a: Nova refused ") and "tried elsewhere" in note, note
    assert service(sim, "out-1").status == "disabled"  # their hold is left as they set it


def test_an_instance_that_arrives_during_the_drain_is_moved_off_too(cloud_of):
    """An admin live-migrates a guest onto cmp-a with `force` (API 2.30-2.67: no scheduler,
    so no filter and no Placement pre-filter stops it at a disabled host) while cmp-a's
    drain is under way. The drain moves it off as well once its planned moves are done, and
    only then is the host worked on: nothing is left on a host being rebooted. (A forced
    `zone:host` boot would not land there: since Train, Placement's mandatory pre-filter
    excludes disabled hosts even when one is forced.)"""
    sim = cloud_of(one_host_and_two_ways_out().instance("late-1", host="out-2"), time_scale=SLOW)
    name = f"kernel-{uuid.uuid4().hex[:8]}"
    thread, result = draining_cmp_a(sim, name)
    conn = sim.connect()
    conn.compute.live_migrate_server(
        sim.server_id("late-1"), host="cmp-a", force=True, block_migration="auto"
    )
    wait_for(lambda: where(sim, "late-1") == ("cmp-a", "ACTIVE"), timeout=30)
    assert sim.state.hosts["cmp-a"].status == "disabled"  # it landed during the drain
    thread.join(timeout=300)
    report = result["report"]

    assert states(name) == {"cmp-a": "done"}, report.notes
    host, status = where(sim, "late-1")
    assert host in ("out-1", "out-2") and status == "ACTIVE", (host, status)
    for i in range(3):
        host, status = where(sim, f"a-{i}")
        assert host in ("out-1", "out-2") and status == "SHUTOFF", (f"a-{i}", host, status)
    note = next(n for n in report.notes if "arrived" in n)
    assert note == (
        "cmp-a: 1 instance(s) arrived on it during its drain; planned again on a fresh read, "
        "1 tried elsewhere"
    ), note
    assert errored(sim) == []
    assert not report.unfinished and report.ok
