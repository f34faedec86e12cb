"""The scheduler: Nova's filters (compute up, zone, capacity, server groups) and RAM weigher."""

from __future__ import annotations

from novaflow.sim.model import Flavor, Host, Instance
from novaflow.sim.state import SimCloud, Usage


def free(host: Host, usage: Usage) -> tuple[float, float, float]:
    """(vCPU, RAM MiB, disk GiB) still schedulable on a host, allocation ratios applied."""
    return (
        host.vcpus * host.cpu_allocation_ratio - usage.vcpus,
        (host.memory_mb - host.reserved_host_memory_mb) * host.ram_allocation_ratio - usage.ram,
        host.disk_gb * host.disk_allocation_ratio - usage.disk,
    )


def fits(host: Host, usage: Usage, flavor: Flavor, boot_from_volume: bool) -> bool:
    cpu, ram, disk = free(host, usage)
    need_disk = (0 if boot_from_volume else flavor.disk) + flavor.ephemeral + flavor.swap // 1024
    return flavor.vcpus <= cpu and flavor.ram <= ram and need_disk <= disk


def group_hosts(cloud: SimCloud, members: list[str], moving: str) -> list[str]:
    """Where a group's other members are, counting the targets of their moves in flight."""
    hosts: list[str] = []
    for member in members:
        if member == moving or member not in cloud.instances:
            continue
        inst = cloud.instances[member]
        if inst.host:
            hosts.append(inst.host)
        m = cloud.active_migration(member)
        if m and m.dest_compute and m.dest_compute != inst.host:
            hosts.append(m.dest_compute)
    return hosts


def passes(cloud: SimCloud, inst: Instance, host: Host, usage: Usage, zone: str | None) -> bool:
    """All of Nova's hard filters for placing `inst` on `host`."""
    if not host.is_up or host.status != "enabled":
        return False
    if zone and host.zone != zone:
        return False
    if not fits(host, usage, inst.flavor, inst.image_id is None):
        return False
    for group in cloud.groups_of(inst.id):
        others = group_hosts(cloud, group.members, inst.id)
        if group.policy == "anti-affinity":
            if others.count(host.name) >= group.rules.get("max_server_per_host", 1):
                return False
        elif group.policy == "affinity" and others and host.name not in others:
            return False
    return True


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
    usage = cloud.usages()
    zone = zone or inst.pinned_az
    names = [requested] if requested else sorted(cloud.hosts)
    candidates = [
        cloud.hosts[n]
        for n in names
        if n in cloud.hosts
        and n not in exclude
        and passes(cloud, inst, cloud.hosts[n], usage[n], zone)
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
        return (-soft, -free(host, usage[host.name])[1], host.name)

    return min(candidates, key=weight).name


def forced_destination(cloud: SimCloud, inst: Instance, host: str | None) -> str | None:
    """A host an admin forced (bypassing the filters): it must still be up and have room."""
    target = cloud.hosts.get(host or "")
    if target is None or not target.is_up:
        return None
    usage = cloud.usages()[target.name]
    return target.name if fits(target, usage, inst.flavor, inst.image_id is None) else None
