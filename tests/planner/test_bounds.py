"""Where Nova lets a move land: pinned availability zones (2.96), cells, down cells (2.69)."""

from __future__ import annotations

from novaflow.cloud import _instance_from_body
from novaflow.models import CloudFeatures, DrainRequest, EvacuateRequest, MethodPolicy, Move, Plan
from novaflow.planner import plan, violations

from .util import LARGE, host, inst, skipped, snap, where

DEAD = {"state": "down", "forced_down": True}
AT_2_96 = CloudFeatures(max_microversion="2.96")


def checked(s, req):
    p = plan(s, req)
    assert violations(s, p) == []
    return p


def _zones(*instances, features=AT_2_96):
    # Room only in the other zone: h2 (az1) is too small, h3 (az2) is roomy.
    s = snap(
        [host("h1", zone="az1"), host("h2", zone="az1", ram_gb=4), host("h3", zone="az2")],
        list(instances),
    )
    return s.model_copy(update={"features": features})


def test_unpinned_instance_may_cross_zones_as_nova_lets_it():
    p = checked(_zones(inst("free", "h1", LARGE, zone="az1")), DrainRequest(hosts=["h1"]))
    assert where(p) == {"free": "h3"}


def test_pinned_instance_stays_in_its_zone_and_says_so():
    pinned = inst("pinned", "h1", LARGE, zone="az1", pinned_zone="az1")
    p = checked(_zones(pinned), DrainRequest(hosts=["h1"]))
    assert p.moves == [] and "availability zone az1" in skipped(p)["pinned"]


def test_before_2_96_the_current_zone_stands_in_for_the_pin():
    old = CloudFeatures(max_microversion="2.95")
    p = checked(
        _zones(inst("free", "h1", LARGE, zone="az1"), features=old), DrainRequest(hosts=["h1"])
    )
    assert p.moves == [] and "availability zone az1" in skipped(p)["free"]


def test_pin_is_read_from_the_server_body_at_2_96():
    body = {"id": "u1", "name": "vm", "tenant_id": "p", "status": "ACTIVE", "flavor": {}}
    assert _instance_from_body({**body, "pinned_availability_zone": "az2"}, {}).pinned_zone == "az2"
    assert _instance_from_body({**body, "pinned_availability_zone": None}, {}).pinned_zone is None


def _cells(*instances, **features):
    hosts = [
        host("h1", cell="cell1"),
        host("h2", cell="cell1", ram_gb=4),
        host("h3", cell="cell2"),
    ]
    s = snap(hosts, list(instances))
    return s.model_copy(update={"features": CloudFeatures(**features)})


def test_live_migration_never_leaves_the_cell():
    p = checked(_cells(inst("vm", "h1", LARGE)), DrainRequest(hosts=["h1"]))
    assert p.moves == []
    assert "cell cell1" in skipped(p)["vm"] and "inside a cell" in skipped(p)["vm"]


def test_moves_stay_in_the_cell_when_it_has_room():
    s = _cells(inst("vm", "h1"), inst("big", "h3", LARGE))
    p = checked(s, DrainRequest(hosts=["h1"]))
    assert where(p) == {"vm": "h2"}


def test_cold_migration_crosses_cells_only_when_policy_allows():
    off = inst("off", "h1", LARGE, status="SHUTOFF")
    p = checked(_cells(off), DrainRequest(hosts=["h1"]))
    assert p.moves == [] and "cell cell1" in skipped(p)["off"]
    p = checked(_cells(off, cross_cell_resize=True), DrainRequest(hosts=["h1"]))
    assert where(p) == {"off": "h3"}
    # Live first with a cold fallback still needs a target inside the cell.
    live = inst("live", "h1", LARGE)
    req = DrainRequest(hosts=["h1"], policy=MethodPolicy.LIVE_THEN_COLD)
    p = checked(_cells(live, cross_cell_resize=True), req)
    assert p.moves == []


def test_evacuation_stays_in_the_cell():
    s = snap(
        [
            host("dead", cell="c1", **DEAD),
            host("near", cell="c1", ram_gb=4),
            host("far", cell="c2"),
        ],
        [inst("vm", "dead", LARGE)],
    )
    p = checked(s, EvacuateRequest(host="dead"))
    assert p.moves == [] and "cell c1" in skipped(p)["vm"]


DOWN_CELL_BODY = {
    "id": "9e0c1d6c-2c4b-4d1e-8c62-6f0f6b1f2a11",
    "status": "UNKNOWN",
    "tenant_id": "proj",
    "created": "2026-12-01T10:00:00Z",
    "links": [],
}


def test_a_server_in_a_down_cell_is_kept_with_status_unknown_and_no_host():
    ghost = _instance_from_body(DOWN_CELL_BODY, {})
    assert ghost.in_down_cell and ghost.host is None and ghost.status == "UNKNOWN"


def test_drain_warns_about_servers_in_a_down_cell_and_does_not_plan_them():
    ghost = _instance_from_body(DOWN_CELL_BODY, {})
    s = snap([host("h1"), host("h2")], [inst("vm", "h1"), ghost])
    p = checked(s, DrainRequest(hosts=["h1"]))
    assert where(p) == {"vm": "h2"} and p.skips == []
    assert any(
        "1 server(s) are in a cell that does not answer" in w
        and "cannot tell whether any is on h1" in w
        for w in p.warnings
    )
    e = checked(
        snap([host("dead", **DEAD), host("h2")], [inst("vm", "dead"), ghost]),
        EvacuateRequest(host="dead"),
    )
    assert any("cannot tell whether any is on dead" in w for w in e.warnings)


def test_no_down_cell_no_warning():
    p = checked(snap([host("h1"), host("h2")], [inst("vm", "h1")]), DrainRequest(hosts=["h1"]))
    assert not any("cell" in w for w in p.warnings)


def test_validator_catches_a_live_move_across_cells():
    s = _cells(inst("vm", "h1"))
    bad = Plan(
        request=DrainRequest(hosts=["h1"]),
        moves=[
            Move(
                instance_id="vm-0000-uuid",
                instance_name="vm",
                source="h1",
                target="h3",
                method="live",
                reason="t",
            )
        ],
    )
    assert any("leaves its cell cell1 for h3 (cell2)" in v for v in violations(s, bad))


class _Runbook:
    """The two things verify_evacuated uses of a run: its notes and a fresh read of the cloud."""

    def __init__(self, after):
        self.notes: list[str] = []
        self._after = after

    def fresh_snapshot(self):
        return self._after


def test_evacuation_verify_does_not_take_a_down_cell_server_as_gone():
    from flows.evacuation import verify_evacuated

    vm = inst("vm", "dead", id=DOWN_CELL_BODY["id"])
    before = snap([host("dead", **DEAD), host("h2")], [vm])
    after = snap([host("dead", **DEAD), host("h2")], [_instance_from_body(DOWN_CELL_BODY, {})])
    runbook = _Runbook(after)
    verify_evacuated(runbook, before, "dead")
    assert len(runbook.notes) == 1
    assert "cell that does not answer" in runbook.notes[0]
    assert "no longer exists" not in runbook.notes[0] and "name" not in runbook.notes[0]
