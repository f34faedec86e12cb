"""Placement's unit limits: flavors against min_unit, max_unit and step_size of a target."""

from __future__ import annotations

from novaflow.models import DrainRequest, Flavor, Inventory, Move, Plan
from novaflow.planner import plan, violations
from novaflow.planner.units import fits_units, placement_demand

from .util import LARGE, host, inst, skipped, snap, where


def limited(name: str, ram_gb: int = 32, **vcpu: int):
    """A host whose VCPU inventory carries the given unit limits."""
    inv = {"VCPU": Inventory(total=16, allocation_ratio=4.0, **vcpu)}
    return host(name, ram_gb=ram_gb, inventory=inv)


def test_a_host_without_inventories_has_no_unit_limits():
    assert fits_units(host("h"), {"VCPU": 64}) is None


def test_max_unit_min_unit_and_step_size_refuse_with_the_number():
    assert "4 VCPU is more than its max_unit 2 on h" in fits_units(
        limited("h", max_unit=2), {"VCPU": 4}
    )
    assert "1 VCPU is less than its min_unit 2 on h" in fits_units(
        limited("h", min_unit=2), {"VCPU": 1}
    )
    assert "step_size 2" in fits_units(limited("h", step_size=2), {"VCPU": 3})
    assert fits_units(limited("h", max_unit=4, step_size=2), {"VCPU": 4}) is None


def test_placement_demand_counts_as_nova_asks_placement():
    f = Flavor(name="f", vcpus=2, ram_mb=4096, disk_gb=20, ephemeral_gb=5, swap_mb=1500)
    assert placement_demand(inst("a", "h", f)) == {"VCPU": 2, "MEMORY_MB": 4096, "DISK_GB": 27}
    assert placement_demand(inst("b", "h", f, boot_from_volume=True))["DISK_GB"] == 7
    custom = f.model_copy(update={"extra_specs": {"resources:VCPU": "0"}})
    assert "VCPU" not in placement_demand(inst("c", "h", custom))


def test_drain_skips_a_host_whose_max_unit_the_flavor_exceeds():
    # h2 is the tighter fit, but its VCPU max_unit is 2: Placement refuses the 4-vCPU flavor.
    others = [host("h1"), host("h3", ram_gb=64)]
    insts = [inst("big", "h1", LARGE)]
    free = snap([*others, host("h2", ram_gb=12)], insts)
    assert where(plan(free, DrainRequest(hosts=["h1"]))) == {"big": "h2"}
    s = snap([*others, limited("h2", ram_gb=12, max_unit=2)], insts)
    p = plan(s, DrainRequest(hosts=["h1"]))
    assert violations(s, p) == []
    assert where(p) == {"big": "h3"}


def test_drain_says_which_unit_limit_keeps_an_instance_where_it_is():
    s = snap([host("h1"), limited("h2", max_unit=2)], [inst("big", "h1", LARGE)])
    p = plan(s, DrainRequest(hosts=["h1"]))
    assert p.moves == []
    reason = skipped(p)["big"]
    assert "Placement refuses it" in reason and "4 VCPU is more than its max_unit 2 on h2" in reason
    assert "smaller flavor" in p.skips[0].remedy


def test_validator_catches_a_move_over_a_max_unit():
    s = snap([host("h1"), limited("h2", max_unit=2)], [inst("big", "h1", LARGE)])
    bad = Plan(
        request=DrainRequest(hosts=["h1"]),
        moves=[
            Move(
                instance_id="big-0000-uuid",
                instance_name="big",
                source="h1",
                target="h2",
                method="live",
                reason="t",
            )
        ],
    )
    assert any(
        "Placement refuses it: 4 VCPU is more than its max_unit 2" in v for v in violations(s, bad)
    )
