"""The sim's Placement: providers per compute node, allocations per consumer, and the claims
Nova makes when it boots, moves, evacuates, confirms or reverts.

Nova's scheduler decides only from this (see `novaflow.sim.scheduler`), so a plan built on a
wrong picture of the cloud fails here as it fails on a real cloud.
"""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING

from novaflow.sim.model import Consumer, Flavor, Host, Instance, Inventory, Migration, Provider

if TYPE_CHECKING:
    from novaflow.sim.state import SimCloud

STANDARD = ("VCPU", "MEMORY_MB", "DISK_GB")
DISABLED_TRAIT = "COMPUTE_STATUS_DISABLED"
Allocations = dict[str, dict[str, int]]  # provider uuid -> resource class -> amount


def host_inventories(h: Host) -> dict[str, Inventory]:
    """What nova-compute reports from nova.conf: ratios, reserved_host_* and the hardware."""
    return {
        "VCPU": Inventory(h.vcpus, h.reserved_host_cpus, h.cpu_allocation_ratio, max_unit=h.vcpus),
        "MEMORY_MB": Inventory(
            h.memory_mb, h.reserved_host_memory_mb, h.ram_allocation_ratio, max_unit=h.memory_mb
        ),
        "DISK_GB": Inventory(
            h.disk_gb,
            math.ceil(h.reserved_host_disk_mb / 1024),
            h.disk_allocation_ratio,
            max_unit=h.disk_gb,
        ),
    }


def add_providers(cloud: SimCloud, h: Host) -> None:
    """The compute node's root provider (uuid = hypervisor uuid) and its nested children."""
    root = Provider(
        uuid=h.hypervisor_uuid,
        name=h.name,
        host=h.name,
        root_uuid=h.hypervisor_uuid,
        parent_uuid=None,
        inventories=host_inventories(h),
        traits={"COMPUTE_NODE", "HW_CPU_X86_AVX512F", "COMPUTE_VOLUME_MULTI_ATTACH"},
    )
    cloud.providers[root.uuid] = root
    if h.vgpus:
        child_uuid = str(uuid.uuid5(uuid.UUID(h.hypervisor_uuid), "pgpu0"))
        cloud.providers[child_uuid] = Provider(
            uuid=child_uuid,
            name=f"{h.name}_pci_0000_84_00_0",
            host=h.name,
            root_uuid=root.uuid,
            parent_uuid=root.uuid,
            inventories={"VGPU": Inventory(h.vgpus, max_unit=h.vgpus)},
            traits={"CUSTOM_NVIDIA_11"},
        )


def traits(cloud: SimCloud, p: Provider) -> set[str]:
    """A provider's traits; a disabled compute service marks its root COMPUTE_STATUS_DISABLED."""
    host = cloud.hosts.get(p.host)
    if p.parent_uuid is None and host is not None and host.status == "disabled":
        return p.traits | {DISABLED_TRAIT}
    return set(p.traits)


def tree(cloud: SimCloud, host: str) -> list[Provider]:
    """The providers of one compute node, root first."""
    root = cloud.providers[cloud.hosts[host].hypervisor_uuid]
    return [root] + [p for p in cloud.providers.values() if p.root_uuid == root.uuid and p != root]


def flavor_resources(flavor: Flavor, boot_from_volume: bool) -> dict[str, int]:
    """Nova's resources_from_flavor: the standard three plus `resources:RC=N` extra specs."""
    swap_gb = math.ceil(flavor.swap / 1024)
    disk = (0 if boot_from_volume else flavor.disk) + flavor.ephemeral + swap_gb
    res = {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.ram, "DISK_GB": disk}
    for key, value in flavor.extra_specs.items():
        if key.startswith("resources:"):
            try:
                res[key.split(":", 1)[1]] = int(value)
            except ValueError:
                continue
    return {rc: n for rc, n in res.items() if n > 0}


def instance_resources(inst: Instance) -> dict[str, int]:
    return flavor_resources(inst.flavor, inst.image_id is None)


def free(cloud: SimCloud, p: Provider, rc: str) -> float:
    inv = p.inventories.get(rc)
    if inv is None:
        return 0
    return inv.capacity - cloud.used.get(p.uuid, {}).get(rc, 0)


def unit_ok(inv: Inventory, amount: int) -> bool:
    """Placement's min_unit / max_unit / step_size check for one request."""
    return inv.min_unit <= amount <= (inv.max_unit or inv.total) and amount % inv.step_size == 0


def fit(
    cloud: SimCloud, host: str, resources: dict[str, int], *, check: bool = True
) -> Allocations | None:
    """Allocations for `resources` on `host`'s tree, or None when Placement has no room.

    The standard classes come from the compute node itself; any other class from the first
    provider in the tree that has it (a VGPU from the PGPU child, say). `check=False` skips
    the room checks, for seeding a cloud as it already is.
    """
    providers = tree(cloud, host)
    out: Allocations = {}
    for rc, amount in resources.items():
        for p in providers if rc not in STANDARD else providers[:1]:
            inv = p.inventories.get(rc)
            if inv is None:
                continue
            if not check or (unit_ok(inv, amount) and amount <= free(cloud, p, rc)):
                out.setdefault(p.uuid, {})[rc] = amount
                break
        else:
            return None
    return out


def set_allocations(
    cloud: SimCloud,
    consumer_id: str,
    allocations: Allocations,
    *,
    project_id: str,
    user_id: str,
    consumer_type: str = "INSTANCE",
) -> None:
    """Replace a consumer's allocations (none deletes it), keeping provider usages in step."""
    old = cloud.consumers.pop(consumer_id, None)
    for rp, resources in (old.allocations if old else {}).items():
        _charge(cloud, rp, resources, -1)
    allocations = {rp: dict(r) for rp, r in allocations.items() if r}
    if not allocations:
        return
    cloud.consumers[consumer_id] = Consumer(
        uuid=consumer_id,
        project_id=project_id,
        user_id=user_id,
        consumer_type=consumer_type,
        allocations=allocations,
        generation=(old.generation + 1) if old else 1,
    )
    for rp, resources in allocations.items():
        _charge(cloud, rp, resources, 1)


def _charge(cloud: SimCloud, rp: str, resources: dict[str, int], sign: int) -> None:
    used = cloud.used.setdefault(rp, {})
    for rc, n in resources.items():
        used[rc] = used.get(rc, 0) + sign * n
    if rp in cloud.providers:
        cloud.providers[rp].generation += 1


def allocations_of(cloud: SimCloud, consumer_id: str) -> Allocations:
    c = cloud.consumers.get(consumer_id)
    return {rp: dict(r) for rp, r in c.allocations.items()} if c else {}


def _set_instance(cloud: SimCloud, inst: Instance, allocations: Allocations) -> None:
    set_allocations(cloud, inst.id, allocations, project_id=inst.project_id, user_id=inst.user_id)


def claim(cloud: SimCloud, inst: Instance, host: str) -> bool:
    """Add an allocation for `inst` on `host` (a boot, or an evacuation's target)."""
    allocs = fit(cloud, host, instance_resources(inst))
    if allocs is None:
        return False
    merged = allocations_of(cloud, inst.id)
    for rp, res in allocs.items():
        merged.setdefault(rp, {}).update(res)
    _set_instance(cloud, inst, merged)
    return True


def move_claim(cloud: SimCloud, m: Migration, inst: Instance, dest: str) -> bool:
    """Nova's move: the source allocation goes to the migration, the instance gets `dest`."""
    allocs = fit(cloud, dest, instance_resources(inst))
    if allocs is None:
        return False
    source = allocations_of(cloud, inst.id)
    set_allocations(
        cloud,
        m.uuid,
        source,
        project_id=inst.project_id,
        user_id=inst.user_id,
        consumer_type="MIGRATION",
    )
    _set_instance(cloud, inst, allocs)
    return True


def drop_migration(cloud: SimCloud, m: Migration) -> None:
    """The move is done (confirmed, completed): the source allocation goes."""
    set_allocations(cloud, m.uuid, {}, project_id="", user_id="")


def restore(cloud: SimCloud, m: Migration) -> None:
    """The move is undone (reverted, failed, aborted): the instance gets its source back."""
    if m.uuid not in cloud.consumers:
        return
    source = allocations_of(cloud, m.uuid)
    drop_migration(cloud, m)
    inst = cloud.instances.get(m.instance_id)
    if inst is not None:
        _set_instance(cloud, inst, source)


def drop_host(cloud: SimCloud, consumer_id: str, host: str) -> None:
    """Remove what a consumer holds on one compute node's tree, keeping the rest."""
    c = cloud.consumers.get(consumer_id)
    if c is None or host not in cloud.hosts:
        return
    gone = {p.uuid for p in tree(cloud, host)}
    kept = {rp: r for rp, r in c.allocations.items() if rp not in gone}
    if len(kept) == len(c.allocations):
        return
    set_allocations(
        cloud,
        consumer_id,
        kept,
        project_id=c.project_id,
        user_id=c.user_id,
        consumer_type=c.consumer_type,
    )


def drop_consumer(cloud: SimCloud, consumer_id: str) -> None:
    set_allocations(cloud, consumer_id, {}, project_id="", user_id="")


def clean_up_evacuated(cloud: SimCloud, host: str) -> None:
    """A returning compute service removes allocations of instances evacuated off it."""
    for m in list(cloud.migrations.values()):
        inst = cloud.instances.get(m.instance_id)
        evacuated = m.migration_type == "evacuation" and m.source_compute == host
        if evacuated and inst is not None and inst.host != host:
            drop_host(cloud, inst.id, host)


def root_used(cloud: SimCloud, host: Host) -> dict[str, int]:
    return cloud.used.get(host.hypervisor_uuid, {})
