"""os-instance-actions as Nova writes them: its step events, results, details and tracebacks."""

from __future__ import annotations

from collections.abc import Callable

from novaflow.sim.testing import SimHandle
from tests.sim.conftest import call

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."


def events(conn: object, sid: str, mv: str = "2.96") -> tuple[str, list[dict]]:
    """The latest action of a server and its events (newest first, as Nova lists them)."""
    latest = call(conn, "GET", f"/servers/{sid}/os-instance-actions", mv).json()
    action = latest["instanceActions"][0]
    path = f"/servers/{sid}/os-instance-actions/{action['request_id']}"
    return action["action"], call(conn, "GET", path, mv).json()["instanceAction"]["events"]


def test_a_cold_migration_records_novas_steps(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-1")
    conn.compute.migrate_server(sid, host="b")
    sim.advance(1000)
    action, evs = events(conn, sid)
    assert action == "migrate"
    assert [e["event"] for e in reversed(evs)] == [
        "conductor_migrate_server",
        "compute_prep_resize",
        "compute_resize_instance",
        "compute_finish_resize",
    ]
    assert {e["result"] for e in evs} == {"Success"}
    assert all(e["traceback"] is None and e["details"] is None for e in evs)
    assert evs[0]["host"] == "b"  # finish_resize runs on the destination


def test_a_live_migration_records_novas_steps(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    conn = sim.connect()
    sid = sim.server_id("web-1")
    conn.compute.live_migrate_server(sid, host="b", block_migration="auto")
    sim.advance(1000)
    action, evs = events(conn, sid)
    assert action == "live-migration"
    assert [e["event"] for e in reversed(evs)] == [
        "conductor_live_migrate_instance",
        "compute_check_can_live_migrate_destination",
        "compute_pre_live_migration",
        "compute_live_migration",
        "compute_post_live_migration_at_destination",
    ]


def test_a_refused_move_has_nova_s_reason_in_details_and_traceback(
    frozen: Callable[..., SimHandle],
) -> None:
    sim = frozen(faults={"no_valid_host_flavors": ["m1.small"]})
    conn = sim.connect()
    sid = sim.server_id("web-1")
    conn.compute.migrate_server(sid)
    sim.advance(1000)
    _, (event,) = events(conn, sid)
    assert (event["event"], event["result"], event["details"]) == (
        "conductor_migrate_server",
        "Error",
        NO_VALID_HOST,
    )
    assert event["traceback"].rstrip().endswith(f"nova.exception.NoValidHost: {NO_VALID_HOST}")
    _, (old,) = events(conn, sid, "2.83")
    assert "details" not in old and "NoValidHost" in old["traceback"]
