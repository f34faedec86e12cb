"""What the newer microversions change, as a client of real Nova sees it: 2.71 server groups,
2.96/2.104 the pinned zone, 2.102 unknown query parameters and flavor names."""

from __future__ import annotations

from collections.abc import Callable

from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import SimHandle
from tests.sim.conftest import call, error


def spec() -> ClusterSpec:
    return (
        ClusterSpec()
        .host("a")
        .host("b")
        .host("c", zone="az2")
        .group("pair", "anti-affinity", project="admin")
        .instance("grouped", host="a", groups=["pair"], project="admin")
        .instance("alone", host="b", project="admin")
        .instance("pinned", host="c", availability_zone="az2", project="admin")
    )


def test_server_groups_from_271_on_one_server_only(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen(spec())
    conn = sim.connect()
    grouped, alone = sim.server_id("grouped"), sim.server_id("alone")
    with sim.state.lock:
        (pair,) = sim.state.groups
    assert call(conn, "GET", f"/servers/{grouped}", "2.71").json()["server"]["server_groups"] == [
        pair
    ]
    assert call(conn, "GET", f"/servers/{alone}", "2.71").json()["server"]["server_groups"] == []
    assert "server_groups" not in call(conn, "GET", f"/servers/{grouped}", "2.70").json()["server"]
    renamed = call(conn, "PUT", f"/servers/{grouped}", "2.71", json={"server": {"name": "g"}})
    assert renamed.json()["server"]["server_groups"] == [pair]
    listed = call(conn, "GET", "/servers/detail", "2.104").json()["servers"]
    assert listed and all("server_groups" not in s for s in listed)


def test_pinned_zone_shown_from_296_and_changed_from_2104(
    frozen: Callable[..., SimHandle],
) -> None:
    sim = frozen(spec())
    conn = sim.connect()
    pinned, alone = sim.server_id("pinned"), sim.server_id("alone")
    show = call(conn, "GET", f"/servers/{pinned}", "2.96").json()["server"]
    assert show["pinned_availability_zone"] == "az2"
    assert (
        "pinned_availability_zone"
        not in call(conn, "GET", f"/servers/{pinned}", "2.95").json()["server"]
    )

    def pin(sid: str, zone: str | None, mv: str = "2.104") -> object:
        body = {"server": {"pinned_availability_zone": zone}}
        return call(conn, "PUT", f"/servers/{sid}", mv, json=body)

    assert error(pin(pinned, None, "2.103"))[0] == 400
    moved = error(pin(pinned, "az1"))
    assert moved == (
        409,
        "conflictingRequest",
        "Cannot change pinned availability zone directly. Unpin first by setting "
        "pinned_availability_zone to null.",
    )
    assert pin(pinned, None).json()["server"]["pinned_availability_zone"] is None
    elsewhere = error(pin(alone, "az2"))
    assert elsewhere[0] == 409 and "current availability zone 'az1'" in elsewhere[2]
    assert pin(alone, "az1").json()["server"]["pinned_availability_zone"] == "az1"
    assert sim.instance(alone).pinned_az == "az1"


def test_unknown_query_parameters_are_refused_where_nova_refuses_them(sim: SimHandle) -> None:
    conn = sim.connect()
    assert call(conn, "GET", "/os-availability-zone?bogus=1", "2.101").status_code == 200
    assert error(call(conn, "GET", "/os-availability-zone?bogus=1", "2.102")) == (
        400,
        "badRequest",
        "Additional properties are not allowed ('bogus' was unexpected)",
    )
    assert call(conn, "GET", "/servers/detail?bogus=1", "2.74").status_code == 200
    assert error(call(conn, "GET", "/servers/detail?bogus=1", "2.75"))[0] == 400
    assert call(conn, "GET", "/servers/detail?all_tenants=1&host=x", "2.104").status_code == 200
    assert error(call(conn, "GET", "/os-migrations?bogus=1", "2.59"))[0] == 400


def test_flavors_from_2102_filter_by_name_without_rxtx(sim: SimHandle) -> None:
    conn = sim.connect()
    old = call(conn, "GET", "/flavors/detail", "2.101").json()["flavors"]
    assert len(old) > 1 and all("rxtx_factor" in f for f in old)
    assert error(call(conn, "GET", "/flavors?name=m1.tiny", "2.101"))[0] == 400
    new = call(conn, "GET", "/flavors/detail?name=m1.tiny", "2.102").json()["flavors"]
    assert [f["name"] for f in new] == ["m1.tiny"]
    assert not {"rxtx_factor", "OS-FLV-DISABLED:disabled"} & set(new[0])


def test_migration_records_carry_only_novas_fields(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen(spec())
    conn = sim.connect()
    conn.compute.live_migrate_server(sim.server_id("alone"), block_migration="auto")
    (m,) = call(conn, "GET", "/os-migrations", "2.80").json()["migrations"]
    assert set(m) == {
        "id", "uuid", "instance_uuid", "migration_type", "status", "created_at", "updated_at",
        "source_compute", "source_node", "dest_compute", "dest_node", "dest_host",
        "old_instance_type_id", "new_instance_type_id", "project_id", "user_id", "links",
    }  # fmt: skip
