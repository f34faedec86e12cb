"""Seeded generation of realistic clusters: sizes, zones, flavors, groups and uneven load."""

from __future__ import annotations

import random

from novaflow.sim.spec import (
    AggregateSpec,
    ClusterSpec,
    FlavorSpec,
    HostSpec,
    InstanceSpec,
    NovaConf,
    ServerGroupSpec,
    default_flavors,
)

PROJECTS = ["admin", "demo", "acme", "globex", "initech", "umbrella"]
ROLES = ["web", "app", "db", "cache", "batch", "ci", "mq"]
FLAVOR_WEIGHTS = {
    "m1.tiny": 8,
    "m1.small": 24,
    "m1.medium": 24,
    "m1.large": 15,
    "m1.xlarge": 8,
    "m1.2xlarge": 3,
    "c1.pinned": 5,
    "g1.pci": 3,
    "s1.vtpm": 4,
}


def _nova_conf(hosts: list[HostSpec], settings: NovaConf, seed: int) -> None:
    """Per-host nova.conf choices (ratios, reserved memory), drawn from their own seeded
    stream so that a cloud generated without them is the same as before they existed."""
    rng = random.Random(f"nova.conf:{seed}")
    for h in hosts:
        if settings.cpu_allocation_ratios:
            h.cpu_allocation_ratio = rng.choice(settings.cpu_allocation_ratios)
        if settings.ram_allocation_ratios:
            h.ram_allocation_ratio = rng.choice(settings.ram_allocation_ratios)
        if settings.reserved_host_memory_mb:
            h.reserved_host_memory_mb = rng.choice(settings.reserved_host_memory_mb)


def _hosts(n: int, rng: random.Random) -> list[HostSpec]:
    hosts = []
    for i in range(n):
        zone = "az1" if i < (n + 1) // 2 else "az2"
        hosts.append(
            HostSpec(
                name=f"sim-compute-{i}",
                zone=zone,
                vcpus=rng.choice([32, 48, 64]),
                memory_mb=rng.choice([256, 384, 512]) * 1024,
                disk_gb=rng.choice([2000, 3000, 4000]),
                cpu_allocation_ratio=4.0,
                ram_allocation_ratio=1.0,
                disk_allocation_ratio=1.0,
            )
        )
    return hosts


def _groups(rng: random.Random) -> list[ServerGroupSpec]:
    groups = []
    for project in ("acme", "globex", "initech"):
        for role in ("web", "db"):
            groups.append(
                ServerGroupSpec(name=f"{project}-{role}", policy="anti-affinity", project=project)
            )
    groups.append(ServerGroupSpec(name="umbrella-cache", policy="affinity", project="umbrella"))
    groups.append(ServerGroupSpec(name="demo-soft", policy="soft-anti-affinity", project="demo"))
    for g in groups:
        g.id = _uuid(rng)
    return groups


def _uuid(rng: random.Random) -> str:
    import uuid

    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class _Fill:
    """Tracks what the generator has placed so far, so it never overfills a host."""

    def __init__(self, hosts: list[HostSpec], flavors: dict[str, FlavorSpec]) -> None:
        self.hosts = {h.name: h for h in hosts}
        self.flavors = flavors
        self.used = {h.name: [0, 0, 0] for h in hosts}

    def fits(self, host: str, flavor: str, ceiling: float = 0.9) -> bool:
        h, f, u = self.hosts[host], self.flavors[flavor], self.used[host]
        return (
            u[0] + f.vcpus <= (h.vcpus - h.reserved_host_cpus) * h.cpu_allocation_ratio * ceiling
            and u[1] + f.ram
            <= (h.memory_mb - h.reserved_host_memory_mb) * h.ram_allocation_ratio * ceiling
            and u[2] + f.disk + f.ephemeral <= h.disk_gb * ceiling
        )

    def add(self, host: str, flavor: str) -> None:
        f, u = self.flavors[flavor], self.used[host]
        u[0] += f.vcpus
        u[1] += f.ram
        u[2] += f.disk + f.ephemeral


def generate_cluster(
    hosts: int = 8, instances: int = 120, seed: int = 1, nova_conf: NovaConf | None = None
) -> ClusterSpec:
    """Build a deterministic cluster for `seed`: same seed, same cloud.

    `nova_conf` mixes per-host allocation ratios and reserved memory, as clouds whose compute
    nodes were set up at different times have; Placement reports them and the scheduler obeys.
    """
    if hosts < 1:
        raise ValueError("need at least one host")
    rng = random.Random(seed)
    host_specs = _hosts(hosts, rng)
    if nova_conf:
        _nova_conf(host_specs, nova_conf, seed)
    flavors = default_flavors()
    by_name = {f.name: f for f in flavors}
    groups = _groups(rng)
    group_members: dict[str, list[str]] = {g.name: [] for g in groups}
    fill = _Fill(host_specs, by_name)

    # Uneven load: a few hot hosts attract most instances, so rebalancing has work.
    weights = {h.name: rng.uniform(0.2, 1.0) ** 2 for h in host_specs}
    for hot in rng.sample(list(weights), k=max(1, hosts // 4)):
        weights[hot] *= 4
    flavor_names = list(FLAVOR_WEIGHTS)
    flavor_w = list(FLAVOR_WEIGHTS.values())

    specs: list[InstanceSpec] = []
    for i in range(instances):
        project = rng.choice(PROJECTS[1:]) if rng.random() > 0.05 else "admin"
        role = rng.choice(ROLES)
        flavor = rng.choices(flavor_names, flavor_w)[0]
        group = _pick_group(project, role, groups, group_members, rng)
        host = _place(fill, weights, flavor, group, groups, group_members, specs, rng)
        if host is None:
            continue
        fill.add(host, flavor)
        zone = next(h.zone for h in host_specs if h.name == host)
        roll = rng.random()
        status = "SHUTOFF" if roll < 0.10 else "PAUSED" if roll < 0.13 else "ACTIVE"
        bfv = rng.random() < 0.12
        metadata: dict[str, str] = {"role": role}
        if rng.random() < 0.35:
            metadata["evacuation_priority"] = str(rng.randint(1, 3))
        name = f"{project}-{role}-{i:03d}"
        specs.append(
            InstanceSpec(
                id=_uuid(rng),
                name=name,
                host=host,
                flavor=flavor,
                status=status,
                project=project,
                image=None
                if bfv
                else rng.choice(
                    ["cirros-0.6.2", "ubuntu-22.04", "ubuntu-24.04", "centos-stream-9", "debian-12"]
                ),
                boot_from_volume=bfv,
                volumes=(1 if bfv else 0) + (1 if rng.random() < 0.08 else 0),
                metadata=metadata,
                groups=[group] if group else [],
                availability_zone=zone if rng.random() < 0.5 else None,
                sriov=rng.random() < 0.03,
                key_name=f"{project}-key",
            )
        )
        if group:
            group_members[group].append(name)

    aggregates = [
        AggregateSpec(
            name=f"{zone}-hosts",
            availability_zone=zone,
            hosts=[h.name for h in host_specs if h.zone == zone],
            metadata={
                "cpu_allocation_ratio": "4.0",
                "ram_allocation_ratio": "1.0",
                "disk_allocation_ratio": "1.0",
            },
        )
        for zone in sorted({h.zone for h in host_specs})
    ]
    gpu_hosts = sorted({s.host for s in specs if s.flavor == "g1.pci"})
    if gpu_hosts:
        aggregates.append(
            AggregateSpec(name="gpu-hosts", hosts=gpu_hosts, metadata={"pci": "true"})
        )
    return ClusterSpec(
        hosts=host_specs,
        flavors=flavors,
        instances=specs,
        server_groups=groups,
        aggregates=aggregates,
        projects=PROJECTS,
        seed=seed,
    )


def _pick_group(
    project: str,
    role: str,
    groups: list[ServerGroupSpec],
    members: dict[str, list[str]],
    rng: random.Random,
) -> str | None:
    candidates = [
        g.name
        for g in groups
        if g.project == project
        and (g.name.endswith(f"-{role}") or (g.policy == "affinity" and role == "cache"))
        and len(members[g.name]) < (2 if g.policy == "affinity" else 4)
    ]
    if not candidates or rng.random() < 0.3:
        return None
    return candidates[0]


def _place(
    fill: _Fill,
    weights: dict[str, float],
    flavor: str,
    group: str | None,
    groups: list[ServerGroupSpec],
    members: dict[str, list[str]],
    placed: list[InstanceSpec],
    rng: random.Random,
) -> str | None:
    candidates = [h for h in weights if fill.fits(h, flavor)]
    if group:
        policy = next(g.policy for g in groups if g.name == group)
        taken = {s.host for s in placed if s.name in members[group]}
        if policy == "anti-affinity":
            candidates = [h for h in candidates if h not in taken]
        elif policy == "affinity" and taken:
            candidates = [h for h in candidates if h in taken]
    if not candidates:
        return None
    return rng.choices(candidates, [weights[h] for h in candidates])[0]
