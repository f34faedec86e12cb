"""Cold migration: RESIZE -> VERIFY_RESIZE on the target, then confirm or revert."""

from __future__ import annotations

from collections.abc import Callable

from novaflow.sim.testing import SimHandle
from tests.sim.conftest import action, error


def _until(sim: SimHandle, sid: str, status: str, limit: int = 600) -> list[str]:
    seen: list[str] = []
    for _ in range(limit):
        current = sim.status_of(sid)
        task = sim.instance(sid).task_state
        if not seen or seen[-1] != f"{current}/{task}":
            seen.append(f"{current}/{task}")
        if current == status:
            return seen
        sim.advance(1)
    raise AssertionError(f"{sid} never reached {status}: {seen}")


def test_cold_migration_then_confirm(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-2")
    conn.compute.migrate_server(sid, host="c")
    seen = _until(sim, sid, "VERIFY_RESIZE")
    assert seen == [
        "RESIZE/resize_prep",
        "RESIZE/resize_migrating",
        "RESIZE/resize_migrated",
        "RESIZE/resize_finish",
        "VERIFY_RESIZE/None",
    ]
    server = conn.compute.get_server(sid)
    assert (server.status, server.compute_host) == ("VERIFY_RESIZE", "c")
    (m,) = conn.compute.migrations(server_id=sid)
    assert (m.migration_type, m.status, m.source_compute) == ("migration", "finished", "a")
    conn.compute.confirm_server_resize(sid)
    sim.advance(5)
    server = conn.compute.get_server(sid)
    assert (server.status, server.compute_host, server.power_state) == ("ACTIVE", "c", 1)
    assert sim.migrations(sid)[0].status == "confirmed"


def test_cold_migration_of_a_shutoff_instance_stays_shutoff(
    frozen: Callable[..., SimHandle],
) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("db-1")
    conn.compute.migrate_server(sid)
    _until(sim, sid, "VERIFY_RESIZE")
    assert sim.host_of(sid) in ("b", "c")
    conn.compute.confirm_server_resize(sid)
    sim.advance(5)
    assert conn.compute.get_server(sid).status == "SHUTOFF"


def test_revert_returns_to_the_source(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("tpm-1")  # vTPM instances can cold-migrate
    conn.compute.migrate_server(sid, host="b")
    _until(sim, sid, "VERIFY_RESIZE")
    conn.compute.revert_server_resize(sid)
    assert conn.compute.get_server(sid).status == "REVERT_RESIZE"
    _until(sim, sid, "ACTIVE")
    assert sim.host_of(sid) == "a"
    assert sim.migrations(sid)[0].status == "reverted"


def test_capacity_is_claimed_on_the_target_during_the_move(
    frozen: Callable[..., SimHandle],
) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-2")  # m1.medium: 2 vCPU, 4096 MiB
    conn.compute.migrate_server(sid, host="b")
    sim.advance(2)
    assert sim.state.usages()["b"].vcpus == 2 and sim.host_of(sid) == "a"
    _until(sim, sid, "VERIFY_RESIZE")
    usage = sim.state.usages()
    assert usage["b"].ram == 4096 and sim.host_of(sid) == "b"
    before_confirm = usage["a"].ram
    conn.compute.confirm_server_resize(sid)
    sim.advance(5)
    assert sim.state.usages()["a"].ram == before_confirm - 4096


def test_confirm_and_migrate_errors(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-1")
    status, name, message = error(action(conn, sid, {"confirmResize": None}))
    assert (status, name) == (409, "conflictingRequest")
    assert message == f"Cannot 'confirmResize' instance {sid} while it is in vm_state active"
    same = action(conn, sid, {"migrate": {"host": "a"}})
    assert error(same) == (400, "badRequest", "Cannot migrate to the host where the server exists.")
    unknown = action(conn, sid, {"migrate": {"host": "nope"}})
    assert error(unknown)[:2] == (400, "badRequest")
    old = action(conn, sid, {"migrate": {"host": "b"}}, mv="2.55")
    assert error(old)[0] == 400 and "Additional properties" in error(old)[2]
    paused = error(action(conn, sim.server_id("paused-1"), {"migrate": None}))
    assert paused[0] == 409 and "vm_state paused" in paused[2]


def test_cold_migration_without_a_valid_host_leaves_the_instance(
    frozen: Callable[..., SimHandle],
) -> None:
    sim = frozen()
    conn = sim.connect()
    sim.set_faults(no_valid_host_flavors=["m1.small"])
    sid = sim.server_id("web-1")
    conn.compute.migrate_server(sid)
    assert conn.compute.get_server(sid).status == "RESIZE"
    sim.advance(2)
    server = conn.compute.get_server(sid)
    assert (server.status, server.compute_host) == ("ACTIVE", "a")
    assert sim.migrations(sid)[0].status == "error"
