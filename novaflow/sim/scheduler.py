"""The scheduler: Nova's filters (compute up, zone, server groups) over Placement's answer.

Capacity is decided only by Placement (`novaflow.sim.placement`): each compute node's
inventories (total, reserved, allocation_ratio, min/max_unit, step_size) and the allocations
held on it, so a move planned on a different picture of capacity fails here as on real Nova.
"""

from __future__ import annotations

from novaflow.sim import placement
from novaflow.sim.model import Host, Instance
from novaflow.sim.state import SimCloud


def group_hosts(
    cloud: SimCloud, members: list[str], moving: str, *, with_moving: bool = False
) -> list[str]:
    """Where a group's members other than `moving` are, counting the targets of their moves
    in flight; `with_moving` adds the moving member's own current host (not its target)."""
    hosts: list[str] = []
    for member in members:
        if member not in cloud.instances:
            continue
        inst = cloud.instances[member]
        if member == moving:
            if with_moving and inst.host:
                hosts.append(inst.host)
            continue
        if inst.host:
            hosts.append(inst.host)
        m = cloud.active_migration(member)
        if m and m.dest_compute and m.dest_compute != inst.host:
            hosts.append(m.dest_compute)
    return hosts


def group_allows(cloud: SimCloud, inst: Instance, host: str) -> bool:
    """ServerGroupAffinityFilter and ServerGroupAntiAffinityFilter, as Nova applies them.

    Affinity: only hosts among the group's hosts, which include the moving member's own host,
    so a group that lives on one host can never be moved away by the scheduler. Anti-affinity:
    the other members on the host count against max_server_per_host (rules, 2.64).
    """
    for group in cloud.groups_of(inst.id):
        if group.policy == "anti-affinity":
            others = group_hosts(cloud, group.members, inst.id)
            if others.count(host) >= group.rules.get("max_server_per_host", 1):
                return False
        elif group.policy == "affinity":
            hosts = group_hosts(cloud, group.members, inst.id, with_moving=True)
            if hosts and host not in hosts:
                return False
    return True


def passes(cloud: SimCloud, inst: Instance, host: Host, zone: str | None) -> bool:
    """All of Nova's hard filters for placing `inst` on `host`; room is Placement's."""
    if not host.is_up or host.status != "enabled":
        return False
    if zone and host.zone != zone:
        return False
    if placement.fit(cloud, host.name, placement.instance_resources(inst)) is None:
        return False
    return group_allows(cloud, inst, host.name)


def select_destination(
    cloud: SimCloud,
    inst: Instance,
    *,
    exclude: set[str],
    requested: str | None = None,
    zone: str | None = None,
) -> str | None:
    """The best host for `inst`, or None for Nova's NoValidHost."""
    if cloud.faults.no_valid_host(inst.flavor.id, inst.flavor.name):
        return None
    zone = zone or inst.pinned_az
    names = [requested] if requested else sorted(cloud.hosts)
    candidates = [
        cloud.hosts[n]
        for n in names
        if n in cloud.hosts and n not in exclude and passes(cloud, inst, cloud.hosts[n], zone)
    ]
    if not candidates:
        return None

    def weight(host: Host) -> tuple[float, float, str]:
        soft = 0.0
        for group in cloud.groups_of(inst.id):
            count = group_hosts(cloud, group.members, inst.id).count(host.name)
            if group.policy == "soft-anti-affinity":
                soft -= count
            elif group.policy == "soft-affinity":
                soft += count
        root = cloud.providers[host.hypervisor_uuid]
        return (-soft, -placement.free(cloud, root, "MEMORY_MB"), host.name)

    return min(candidates, key=weight).name


def forced_destination(cloud: SimCloud, inst: Instance, host: str | None) -> str | None:
    """A host an admin forced (bypassing the filters): it must be up and Placement must
    still grant the claim."""
    target = cloud.hosts.get(host or "")
    if target is None or not target.is_up:
        return None
    allocs = placement.fit(cloud, target.name, placement.instance_resources(inst))
    return target.name if allocs is not None else None
