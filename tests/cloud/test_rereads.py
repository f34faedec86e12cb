"""Reading a cloud again at the cost of what changed (novaflow/cloud/rereads.py): a partial
read shows the cloud exactly as a full read does, after moves, a lock, a boot and a
deletion, with no inventory read per provider; a host said changed has its inventories read
again. Over HTTP against the sim."""

from __future__ import annotations

import threading

from novaflow.cloud.rereads import Rereads
from novaflow.models import Snapshot
from novaflow.sim.spec import ClusterSpec

from .conftest import Connect


def cloud_of(snap: Snapshot) -> tuple[dict, dict]:
    """Hosts and instances by name, everything but when the read was taken."""
    hosts = {h.name: h.model_dump() for h in snap.hosts}
    instances = {i.id: i.model_dump() for i in snap.instances}
    return hosts, instances


def three_hosts() -> ClusterSpec:
    spec = ClusterSpec(projects=["admin"]).host("a").host("b").host("c")
    for i in range(6):
        spec.instance(f"web-{i}", host="a" if i < 4 else "b", flavor="m1.small")
    return spec


def test_a_partial_read_shows_what_a_full_read_shows(connect: Connect):
    sim, cloud = connect(three_hosts(), time_scale=0)
    again = Rereads()
    cloud.snapshot(again=again)
    assert again.full_reads == 1

    conn = sim.connect()
    moved = sim.server_id("web-0")
    conn.compute.live_migrate_server(moved, host="c", block_migration="auto")
    sim.advance(600)
    conn.compute.lock_server(sim.server_id("web-1"))
    conn.compute.delete_server(sim.server_id("web-4"))
    sim.advance(60)
    flavor = conn.compute.find_flavor("m1.small", ignore_missing=False)
    image = next(iter(conn.image.images()))
    conn.compute.create_server(
        name="newcomer", flavor_id=flavor.id, image_id=image.id, networks="none"
    )
    sim.advance(60)

    calls = cloud.counters.placement_calls
    partial = cloud.snapshot(again=again)
    inventory_reads = cloud.counters.placement_calls - calls
    full = cloud.snapshot()

    assert again.partial_reads == 1
    assert cloud_of(partial) == cloud_of(full)
    by_name = {i.name: i for i in partial.instances}
    assert by_name["web-0"].host == "c"
    assert by_name["web-1"].locked
    assert "web-4" not in by_name
    assert "newcomer" in by_name
    # The three bulk Placement reads, none per provider.
    assert inventory_reads == 3


def test_a_host_said_changed_has_its_inventories_read_again(connect: Connect):
    sim, cloud = connect(three_hosts(), time_scale=0)
    again = Rereads()
    cloud.snapshot(again=again)
    before = {h.name: h for h in cloud.snapshot(again=again).hosts}["b"]
    # Its work changed nova.conf's reserved memory; the service reports it once back.
    with sim.state.lock:
        node = next(
            p for p in sim.state.providers.values() if p.host == "b" and p.parent_uuid is None
        )
        node.inventories["MEMORY_MB"].reserved += 4096
    unchanged = {h.name: h for h in cloud.snapshot(again=again).hosts}["b"]
    assert unchanged.reserved.ram_mb == before.reserved.ram_mb  # kept from the last read

    again.host_changed("b")
    after = {h.name: h for h in cloud.snapshot(again=again).hosts}["b"]
    assert after.reserved.ram_mb == before.reserved.ram_mb + 4096
    assert again.full_reads == 1 and again.partial_reads == 3


def test_a_full_read_comes_back_after_its_time(connect: Connect):
    _, cloud = connect(three_hosts(), time_scale=0)
    again = Rereads(full_every_s=0)
    cloud.snapshot(again=again)
    cloud.snapshot(again=again)
    assert (again.full_reads, again.partial_reads) == (2, 0)


def test_a_host_said_changed_during_a_read_does_not_wait_for_the_read():
    """A host's turn tells the reader on its way to done; a full read of a big cloud holds
    the reader for seconds, and the turn must not wait for it."""
    again = Rereads()
    with again.lock:  # a read under way
        telling = threading.Thread(target=again.host_changed, args=("b",))
        telling.start()
        telling.join(timeout=5)
        assert not telling.is_alive()
    assert again.stale_hosts == {"b"}
