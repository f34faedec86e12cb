"""Placement's unit limits: a flavor must fit min_unit, max_unit and step_size of a target.

Placement refuses an allocation of a resource class below the provider inventory's
`min_unit`, above its `max_unit` or not a multiple of its `step_size`, however much room the
provider has; Nova then answers NoValidHost. Operators set max_unit to keep huge flavors off
small hosts (a VCPU max_unit of 32 on a 64-thread host), so room alone does not decide.
"""

from __future__ import annotations

from typing import Any

from novaflow.models import Host, Instance, placement_request


def placement_demand(inst: Instance) -> dict[str, int]:
    """What Nova asks Placement for, per resource class, for one instance of its flavor."""
    return placement_request(inst.flavor, inst.boot_from_volume)


def fits_units(host: Host, demand: dict[str, int]) -> str | None:
    """Why Placement would refuse `demand` on `host` whatever its room (None: it would not):
    a min/max_unit or step_size of its inventory, or a class none of its providers has."""
    return host.refusal(demand)


def unit_limit_block(cluster: Any, unit: list[str], h: int) -> str | None:
    """Why a member of `unit` cannot be allocated on host `h` by unit limits (None: all can).

    Each member is its own allocation, so each is checked alone, not the unit's sum.
    """
    inventory = cluster.inventories[h]
    if inventory is None:
        return None
    host = cluster.host_models[h]
    cache = cluster.placement_demands
    for iid in unit:
        demand = cache.get(iid)
        if demand is None:
            demand = cache[iid] = placement_demand(cluster.instances[iid])
        why = fits_units(host, demand)
        if why:
            return f"{cluster.instances[iid].flavor.name}: {why}"
    return None
