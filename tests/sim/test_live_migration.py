"""Live migration as Nova runs it: state machine, per-host concurrency, abort, refusals."""

from __future__ import annotations

from collections.abc import Callable

import openstack.exceptions
import pytest

from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import SimHandle
from tests.sim.conftest import action, call, error, pair_spec

LIVE = {"os-migrateLive": {"host": None, "block_migration": "auto"}}


def test_live_migration_walks_nova_states_to_the_new_host(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-1")
    conn.compute.live_migrate_server(sid, host="b", block_migration="auto")
    server = conn.compute.get_server(sid)
    assert (server.status, server.task_state, server.compute_host) == (
        "MIGRATING",
        "migrating",
        "a",
    )
    (m,) = conn.compute.server_migrations(sid)
    assert m.status == "queued" and m.source_compute == "a"
    seen = [m.status]
    for _ in range(400):
        sim.advance(1)
        status = sim.migrations(sid)[0].status
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "completed":
            break
    assert seen == ["queued", "preparing", "running", "completed"]
    server = conn.compute.get_server(sid)
    assert (server.status, server.task_state, server.compute_host) == ("ACTIVE", None, "b")
    assert server.hypervisor_hostname == "b"
    (rec,) = conn.compute.migrations(server_id=sid)
    assert (rec.migration_type, rec.status, rec.dest_compute) == (
        "live-migration",
        "completed",
        "b",
    )
    assert list(conn.compute.server_migrations(sid)) == []


def test_scheduler_picks_a_host_when_none_given(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-2")
    action(conn, sid, LIVE)
    sim.advance(400)
    assert sim.host_of(sid) in ("b", "c")
    assert sim.status_of(sid) == "ACTIVE"


def test_paused_and_pinned_instances_live_migrate(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    for name in ("paused-1", "pinned-1", "bfv-1"):
        conn.compute.live_migrate_server(sim.server_id(name), host="b", block_migration="auto")
    sim.advance(1000)
    assert sim.host_of(sim.server_id("paused-1")) == "b"
    assert sim.status_of(sim.server_id("paused-1")) == "PAUSED"
    assert sim.host_of(sim.server_id("pinned-1")) == "b"
    assert sim.host_of(sim.server_id("bfv-1")) == "b"


def test_max_concurrent_live_migrations_queues_the_rest(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen(pair_spec(max_concurrent_live_migrations=2))
    conn = sim.connect()
    ids = [sim.server_id(n) for n in ("web-1", "web-2", "bfv-1", "pinned-1")]
    for sid in ids:
        conn.compute.live_migrate_server(sid, host="b", block_migration="auto")
    sim.advance(1.5)
    statuses = [sim.migrations(sid)[0].status for sid in ids]
    assert statuses.count("preparing") == 2 and statuses.count("queued") == 2
    assert all(len(list(conn.compute.server_migrations(sid))) == 1 for sid in ids)
    max_active = 0
    while any(sim.migrations(sid)[0].status != "completed" for sid in ids):
        sim.advance(1)
        active = [sim.migrations(sid)[0].status for sid in ids]
        max_active = max(max_active, sum(s in ("preparing", "running") for s in active))
    assert max_active == 2
    assert all(sim.host_of(sid) == "b" for sid in ids)


def test_next_queued_migration_starts_when_a_slot_frees(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    first, second = sim.server_id("web-1"), sim.server_id("web-2")
    conn.compute.live_migrate_server(first, host="b", block_migration="auto")
    conn.compute.live_migrate_server(second, host="b", block_migration="auto")
    while sim.migrations(first)[0].status != "completed":
        assert sim.migrations(second)[0].status == "queued"
        sim.advance(1)
    m1, m2 = sim.migrations(first)[0], sim.migrations(second)[0]
    assert m2.status == "preparing"
    assert m2.updated == m1.updated  # the slot passed on at the exact simulated moment


def test_abort_running_and_queued_live_migrations(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    first, second = sim.server_id("web-1"), sim.server_id("web-2")
    conn.compute.live_migrate_server(first, host="b", block_migration="auto")
    conn.compute.live_migrate_server(second, host="b", block_migration="auto")
    while sim.migrations(first)[0].status != "running":
        sim.advance(1)
    queued = sim.migrations(second)[0]
    old = call(conn, "DELETE", f"/servers/{second}/migrations/{queued.id}", "2.24")
    assert error(old)[0] == 400 and "is queued" in error(old)[2]
    assert (
        call(conn, "DELETE", f"/servers/{second}/migrations/{queued.id}", "2.65").status_code == 202
    )
    (running,) = conn.compute.server_migrations(first)
    conn.compute.abort_server_migration(running, first)
    for sid in (first, second):
        server = conn.compute.get_server(sid)
        assert (server.status, server.compute_host) == ("ACTIVE", "a")
        assert sim.migrations(sid)[0].status == "cancelled"


def test_force_complete_finishes_a_running_migration_quickly(
    frozen: Callable[..., SimHandle],
) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-2")
    conn.compute.live_migrate_server(sid, host="b", block_migration="auto")
    bad = call(
        conn, "POST", f"/servers/{sid}/migrations/1/action", "2.22", json={"force_complete": None}
    )
    assert error(bad)[0] == 400  # still queued
    while sim.migrations(sid)[0].status != "running":
        sim.advance(1)
    (m,) = conn.compute.server_migrations(sid)
    assert m.memory_total_bytes == 4096 * 1024 * 1024
    conn.compute.force_complete_server_migration(m, sid)
    sim.advance(5)
    assert sim.host_of(sid) == "b" and sim.migrations(sid)[0].status == "completed"


def test_wrong_state_is_409(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    db = sim.server_id("db-1")
    status, name, message = error(action(conn, db, LIVE))
    assert (status, name) == (409, "conflictingRequest")
    assert message == f"Cannot 'os-migrateLive' instance {db} while it is in vm_state stopped"
    web = sim.server_id("web-1")
    action(conn, web, LIVE)
    status, _, message = error(action(conn, web, LIVE))
    assert status == 409 and "task_state migrating" in message


def test_bad_same_or_unknown_host_is_400(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-1")
    same = action(conn, sid, {"os-migrateLive": {"host": "a", "block_migration": "auto"}})
    assert error(same) == (
        400,
        "badRequest",
        f"Unable to migrate instance ({sid}) to current host (a).",
    )
    unknown = action(conn, sid, {"os-migrateLive": {"host": "zz", "block_migration": "auto"}})
    assert error(unknown) == (400, "badRequest", "Compute host zz could not be found.")
    missing = action(conn, sid, {"os-migrateLive": {"block_migration": "auto"}})
    assert "'host' is a required property" in error(missing)[2]
    forced = action(
        conn,
        sid,
        {"os-migrateLive": {"host": "b", "block_migration": "auto", "force": True}},
        mv="2.68",
    )
    assert error(forced)[0] == 400
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.live_migrate_server(
            "00000000-0000-4000-8000-000000000000", host=None, block_migration="auto"
        )
    assert sim.status_of(sid) == "ACTIVE"


def test_devices_that_cannot_live_migrate_are_refused(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    tpm = error(action(conn, sim.server_id("tpm-1"), LIVE))
    assert tpm[0] == 409 and "vTPM" in tpm[2]
    gpu = error(action(conn, sim.server_id("gpu-1"), LIVE))
    assert gpu[0] == 400 and "PCI passthrough" in gpu[2]
    sriov = error(action(conn, sim.server_id("sriov-1"), LIVE))
    assert sriov[0] == 400 and "SR-IOV" in sriov[2]
    assert all(sim.migrations(sim.server_id(n)) == [] for n in ("tpm-1", "gpu-1", "sriov-1"))


def test_no_valid_host_fails_the_migration_asynchronously(
    make_sim: Callable[..., SimHandle],
) -> None:
    spec = (
        ClusterSpec()
        .host("a")
        .host("b", vcpus=1, cpu_allocation_ratio=1.0)
        .instance("big", host="a", flavor="m1.large")
    )
    sim = make_sim(spec, time_scale=0)
    conn = sim.connect()
    sid = sim.server_id("big")
    conn.compute.live_migrate_server(sid, host=None, block_migration="auto")
    assert conn.compute.get_server(sid).status == "MIGRATING"
    sim.advance(2)
    server = conn.compute.get_server(sid)
    assert (server.status, server.compute_host) == ("ACTIVE", "a")
    (m,) = conn.compute.migrations(server_id=sid)
    assert m.status == "error"


def test_disabled_target_is_skipped_by_the_scheduler(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    service = next(s for s in conn.compute.services() if s.host == "b")
    conn.compute.disable_service(service, disabled_reason="maintenance")
    sid = sim.server_id("web-1")
    action(conn, sid, LIVE)
    sim.advance(400)
    assert sim.host_of(sid) == "c"


def test_legacy_microversion_body_forms(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-1")
    auto = action(
        conn,
        sid,
        {"os-migrateLive": {"host": None, "block_migration": "auto", "disk_over_commit": False}},
        mv="2.1",
    )
    assert error(auto)[0] == 400
    ok = action(
        conn,
        sid,
        {"os-migrateLive": {"host": "b", "block_migration": False, "disk_over_commit": False}},
        mv="2.1",
    )
    assert ok.status_code == 202
    sim.advance(400)
    assert sim.host_of(sid) == "b"
