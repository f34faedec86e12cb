"""Small builders for hand-made clouds: hosts, instances, groups, snapshots."""

from __future__ import annotations

from novaflow.models import (
    AllocationRatios,
    CloudFeatures,
    Flavor,
    Host,
    Instance,
    Resources,
    ServerGroup,
    Snapshot,
)

SMALL = Flavor(name="m1.small", vcpus=1, ram_mb=2048, disk_gb=20)
MEDIUM = Flavor(name="m1.medium", vcpus=2, ram_mb=4096, disk_gb=40)
LARGE = Flavor(name="m1.large", vcpus=4, ram_mb=8192, disk_gb=80)


def host(name: str, *, ram_gb: int = 32, vcpus: int = 16, disk_gb: int = 1000, **kw) -> Host:
    """A host with 1:1 RAM ratio, 4:1 CPU; `used` is filled in by snap()."""
    return Host(
        name=name,
        service_id=f"svc-{name}",
        capacity=Resources(vcpus=vcpus, ram_mb=ram_gb * 1024, disk_gb=disk_gb),
        ratios=kw.pop("ratios", AllocationRatios(cpu=4.0, ram=1.0, disk=1.0)),
        **kw,
    )


def inst(
    name: str, host_name: str | None, flavor: Flavor = SMALL, *, status: str = "ACTIVE", **kw
) -> Instance:
    return Instance(
        id=kw.pop("id", f"{name}-0000-uuid"),
        name=name,
        project_id=kw.pop("project_id", "proj"),
        host=host_name,
        status=status,
        flavor=flavor,
        image_id=kw.pop("image_id", "img-ubuntu"),
        **kw,
    )


def flavor(name: str = "x", vcpus: int = 1, ram_gb: float = 2, disk_gb: int = 20, **specs: str):
    return Flavor(
        name=name,
        vcpus=vcpus,
        ram_mb=int(ram_gb * 1024),
        disk_gb=disk_gb,
        extra_specs={k.replace("__", ":"): v for k, v in specs.items()},
    )


def group(name: str, policy: str, *members: Instance) -> ServerGroup:
    return ServerGroup(id=f"grp-{name}", name=name, policy=policy, members=[m.id for m in members])


def snap(
    hosts: list[Host],
    instances: list[Instance],
    groups: list[ServerGroup] = (),
    *,
    numa_live_migration: bool = True,
) -> Snapshot:
    """A snapshot whose host usage is the sum of the instances on each host."""
    used: dict[str, Resources] = {h.name: Resources() for h in hosts}
    for i in instances:
        if i.host in used:
            used[i.host] = used[i.host] + i.resources
    return Snapshot(
        hosts=[h.model_copy(update={"used": used[h.name]}) for h in hosts],
        instances=list(instances),
        server_groups=list(groups),
        features=CloudFeatures(numa_live_migration=numa_live_migration),
    )


def where(plan) -> dict[str, str | None]:
    """Instance name -> target of its move."""
    return {m.instance_name: m.target for m in plan.moves}


def skipped(plan) -> dict[str, str]:
    """Instance name -> skip reason."""
    return {s.instance_name: s.reason for s in plan.skips}
