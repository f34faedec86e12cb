"""Placement's unit limits: a flavor must fit min_unit, max_unit and step_size of a target.

Placement refuses an allocation of a resource class below the provider inventory's
`min_unit`, above its `max_unit` or not a multiple of its `step_size`, however much room the
provider has; Nova then answers NoValidHost. Operators set max_unit to keep huge flavors off
small hosts (a VCPU max_unit of 32 on a 64-thread host), so room alone does not decide.
"""

from __future__ import annotations

import math
from typing import Any

from novaflow.models import Instance

CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB")


def placement_demand(inst: Instance) -> dict[str, int]:
    """What Nova asks Placement for, per resource class, for one instance of this flavor.

    As Nova's `resources_from_flavor`: swap counts as disk (in GiB, rounded up), a
    boot-from-volume root disk takes no local disk, and `resources:<CLASS>` extra specs
    override the flavor's own figures.
    """
    f = inst.flavor
    disk = (
        f.ephemeral_gb + math.ceil(f.swap_mb / 1024) + (0 if inst.boot_from_volume else f.disk_gb)
    )
    out = {"VCPU": f.vcpus, "MEMORY_MB": f.ram_mb, "DISK_GB": disk}
    for key, value in f.extra_specs.items():
        if key.startswith("resources:"):
            try:
                out[key.removeprefix("resources:")] = int(value)
            except ValueError:
                continue
    return {rc: amount for rc, amount in out.items() if amount > 0}


def fits_units(host: Any, demand: dict[str, int]) -> str | None:
    """Why Placement would refuse `demand` on `host` by unit limits (None: it would not).

    Reads `host.inventory` defensively: a host without inventories has no known limits.
    """
    inventory = getattr(host, "inventory", None) or {}
    for rc, amount in demand.items():
        inv = inventory.get(rc)
        if inv is None:
            continue
        low = getattr(inv, "min_unit", 1) or 1
        high = getattr(inv, "max_unit", None)
        step = getattr(inv, "step_size", 1) or 1
        if amount < low:
            return f"{rc} {amount} is below the min_unit {low} of {host.name}"
        if high is not None and amount > high:
            return f"{rc} {amount} is above the max_unit {high} of {host.name}"
        if amount % step:
            return f"{rc} {amount} is not a multiple of the step_size {step} of {host.name}"
    return None


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
