"""Evacuation: only off a down (or forced-down) host; REBUILD then ACTIVE/SHUTOFF elsewhere."""

from __future__ import annotations

from collections.abc import Callable

from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import SimHandle
from tests.sim.conftest import action, call, error


def test_evacuate_of_an_up_host_is_refused(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-1")
    resp = action(conn, sid, {"evacuate": {}})
    assert error(resp) == (400, "badRequest", "Compute service of a is still in use.")
    assert sim.migrations(sid) == []


def test_evacuate_below_295_ends_active_with_same_identity(
    frozen: Callable[..., SimHandle],
) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-1")
    before = conn.compute.get_server(sid)
    sim.kill_host("a")
    assert conn.compute.get_server(sid).power_state == 4
    assert action(conn, sid, {"evacuate": {"host": "b"}}, mv="2.94").status_code == 200
    assert conn.compute.get_server(sid).status == "REBUILD"
    sim.advance(200)
    after = conn.compute.get_server(sid)
    assert (after.status, after.compute_host) == ("ACTIVE", "b")
    assert (after.id, after.name, after.addresses) == (before.id, before.name, before.addresses)
    (m,) = conn.compute.migrations(server_id=sid)
    assert (m.migration_type, m.status, m.source_compute, m.dest_compute) == (
        "evacuation",
        "done",
        "a",
        "b",
    )


def test_evacuate_from_295_ends_shutoff(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sim.kill_host("a")
    sid = sim.server_id("web-2")
    conn.compute.evacuate_server(sid)  # openstacksdk negotiates 2.96
    sim.advance(200)
    server = conn.compute.get_server(sid)
    assert server.status == "SHUTOFF" and server.compute_host in ("b", "c")


def test_forced_down_service_allows_evacuation(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    service = next(s for s in conn.compute.services() if s.host == "a")
    conn.compute.update_service_forced_down(service, forced=True)
    assert next(s for s in conn.compute.services() if s.host == "a").state == "down"
    sid = sim.server_id("db-1")
    conn.compute.evacuate_server(sid, host="c")
    sim.advance(200)
    assert (sim.host_of(sid), sim.status_of(sid)) == ("c", "SHUTOFF")


def test_force_up_is_refused_until_the_dead_host_has_restarted(
    frozen: Callable[..., SimHandle],
) -> None:
    sim = frozen()
    conn = sim.connect()
    sim.kill_host("a")
    service = next(s for s in conn.compute.services() if s.host == "a")
    conn.compute.update_service_forced_down(service, forced=True)
    sid = sim.server_id("web-1")
    conn.compute.evacuate_server(sid, host="b")
    sim.advance(200)
    assert [m.status for m in sim.migrations(sid)] == ["done"]
    up = {"forced_down": False}
    refused = call(conn, "PUT", f"/os-services/{service.id}", json=up)
    assert error(refused) == (
        400,
        "badRequest",
        "Unable to force up host a as `done` evacuation migration records remain associated "
        "with the host. Ensure the compute service has been restarted, allowing these records "
        "to move to `completed` before retrying this request.",
    )
    legacy = call(
        conn,
        "PUT",
        "/os-services/force-down",
        mv="2.11",
        json={**up, "host": "a", "binary": "nova-compute"},
    )
    assert error(legacy)[0] == 400
    assert next(s for s in conn.compute.services() if s.host == "a").is_forced_down
    sim.revive_host("a")  # its nova-compute starts and cleans up the evacuated guest
    assert [m.status for m in sim.migrations(sid)] == ["completed"]
    assert call(conn, "PUT", f"/os-services/{service.id}", json=up).status_code == 200
    assert next(s for s in conn.compute.services() if s.host == "a").state == "up"


def test_vtpm_cannot_be_evacuated_and_unknown_host_is_404(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sim.kill_host("a")
    tpm = error(action(conn, sim.server_id("tpm-1"), {"evacuate": {}}))
    assert tpm[0] == 409 and "vTPM" in tpm[2]
    unknown = error(action(conn, sim.server_id("web-1"), {"evacuate": {"host": "zz"}}))
    assert unknown[:2] == (404, "itemNotFound")
    same = error(action(conn, sim.server_id("web-1"), {"evacuate": {"host": "a"}}))
    assert same == (400, "badRequest", "The target host can't be the same one.")
    paused = error(action(conn, sim.server_id("paused-1"), {"evacuate": {}}))
    assert paused[0] == 409
    legacy = action(conn, sim.server_id("web-1"), {"evacuate": {}}, mv="2.13")
    assert "'onSharedStorage' is a required property" in error(legacy)[2]


def test_evacuation_with_no_valid_host_stays_on_the_dead_host(
    frozen: Callable[..., SimHandle],
) -> None:
    sim = frozen()
    conn = sim.connect()
    sim.kill_host("a")
    for host in ("b", "c"):
        service = next(s for s in conn.compute.services() if s.host == host)
        conn.compute.disable_service(service)
    sid = sim.server_id("web-1")
    conn.compute.evacuate_server(sid)
    sim.advance(5)
    assert (sim.host_of(sid), sim.status_of(sid)) == ("a", "ACTIVE")
    assert sim.migrations(sid)[0].status == "error"


def test_host_back_up_finds_its_crashed_guests_shut_off(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-1")
    sim.kill_host("a")
    raw = call(conn, "GET", f"/servers/{sid}").json()["server"]
    assert raw["host_status"] == "DOWN" and raw["OS-EXT-STS:power_state"] == 4
    sim.revive_host("a")
    assert conn.compute.get_server(sid).status == "SHUTOFF"
    assert next(s for s in conn.compute.services() if s.host == "a").state == "up"


def test_a_target_rebuilds_at_most_max_concurrent_builds_at_once(
    frozen: Callable[..., SimHandle],
) -> None:
    spec = ClusterSpec().host("dead").host("spare", max_concurrent_builds=2)
    for n in range(5):
        spec.instance(f"vm-{n}", host="dead", flavor="m1.tiny")
    sim = frozen(spec)
    conn = sim.connect()
    sim.kill_host("dead")
    ids = [sim.server_id(f"vm-{n}") for n in range(5)]
    for sid in ids:
        assert action(conn, sid, {"evacuate": {}}).status_code == 200
    sim.advance(2)  # past the conductor: every rebuild is scheduled onto the spare
    statuses = sorted(m.status for m in sim.migrations())
    assert statuses == ["accepted"] * 3 + ["pre-migrating"] * 2
    waiting = [sid for sid in ids if sim.host_of(sid) == "dead"]
    assert len(waiting) == 3 and all(sim.status_of(sid) == "REBUILD" for sid in waiting)
    sim.advance(1000)  # each freed slot starts the next in line, until all are rebuilt
    assert all(sim.host_of(sid) == "spare" for sid in ids)
    assert {m.status for m in sim.migrations()} == {"done"}


def test_a_move_lasts_as_long_whatever_order_it_is_requested_in(
    frozen: Callable[..., SimHandle],
) -> None:
    def durations(order: list[int]) -> dict[str, float]:
        spec = ClusterSpec(seed=7).host("dead").host("spare")
        for n in range(3):
            spec.instance(f"vm-{n}", host="dead", flavor="m1.large")
        sim = frozen(spec)
        conn = sim.connect()
        sim.kill_host("dead")
        for n in order:
            action(conn, sim.server_id(f"vm-{n}"), {"evacuate": {}})
        sim.advance(500)
        return {sim.instance(m.instance_id).name: m.updated - m.created for m in sim.migrations()}

    assert durations([0, 1, 2]) == durations([2, 0, 1])
