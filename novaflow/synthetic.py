"""Seeded synthetic clouds for tests and benchmarks: realistic shapes, reproducible to the byte.

`generate(hosts, instances, seed)` builds a Snapshot with three host sizes, a common flavor
mix, deliberately uneven load (a few hot hosts, many cool ones), availability zones and
aggregates, server groups of every policy, shut-off / paused / boot-from-volume instances
and a small share of instances that cannot move (ERROR, stuck tasks, suspended, PCI).
The same arguments always give the same snapshot, so a failing seed can be replayed.

Clouds with the same instances per host are alike at every size, so growth can be
measured on them: the host mix is in fixed shares, host popularity follows the same
log-normal quantiles, flavors, states and groups are drawn per instance, and a hard
anti-affinity group never spans more than a quarter of a small cloud.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import NormalDist

from novaflow.models import (
    AllocationRatios,
    CloudFeatures,
    Flavor,
    Host,
    Instance,
    LoadInfo,
    Resources,
    ServerGroup,
    Snapshot,
)


@dataclass(frozen=True)
class HostSize:
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    weight: float


HOST_SIZES = (
    HostSize("small", 32, 192 * 1024, 2000, 0.3),
    HostSize("medium", 48, 256 * 1024, 3000, 0.5),
    HostSize("large", 64, 512 * 1024, 4000, 0.2),
)
RESERVED = Resources(vcpus=0, ram_mb=4096, disk_gb=20)

FLAVORS: tuple[tuple[Flavor, float], ...] = (
    (Flavor(name="m1.tiny", vcpus=1, ram_mb=1024, disk_gb=10), 10),
    (Flavor(name="m1.small", vcpus=1, ram_mb=2048, disk_gb=20), 25),
    (Flavor(name="m1.medium", vcpus=2, ram_mb=4096, disk_gb=40), 30),
    (Flavor(name="m1.large", vcpus=4, ram_mb=8192, disk_gb=80), 20),
    (Flavor(name="m1.xlarge", vcpus=8, ram_mb=16384, disk_gb=160), 8),
    (Flavor(name="c1.xlarge", vcpus=16, ram_mb=16384, disk_gb=80), 3),
    (Flavor(name="r1.large", vcpus=4, ram_mb=32768, disk_gb=80), 3),
    (Flavor(name="r1.2xlarge", vcpus=8, ram_mb=65536, disk_gb=160), 1),
)
PCI_FLAVOR = Flavor(
    name="g1.large",
    vcpus=8,
    ram_mb=32768,
    disk_gb=80,
    extra_specs={"pci_passthrough:alias": "a100:1"},
)
VTPM_FLAVOR = Flavor(
    name="s1.medium", vcpus=2, ram_mb=4096, disk_gb=40, extra_specs={"hw:tpm_version": "2.0"}
)
PINNED_FLAVOR = Flavor(
    name="p1.large",
    vcpus=4,
    ram_mb=8192,
    disk_gb=40,
    extra_specs={"hw:cpu_policy": "dedicated", "hw:numa_nodes": "1"},
)
HARD = ("affinity", "anti-affinity")
UNMOVABLE_KINDS = ("error", "task", "suspended", "pci", "shelved")
PROJECTS = tuple(f"project-{i:02d}" for i in range(12))
TAKEN_AT = datetime(2025, 1, 1, tzinfo=UTC)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class _Room:
    """Free room per host while the generator places instances."""

    def __init__(self, hosts: list[dict]) -> None:
        self.free = [list(h["usable"]) for h in hosts]

    def fits(self, h: int, d: tuple[float, float, float]) -> bool:
        f = self.free[h]
        return d[0] <= f[0] and d[1] <= f[1] and d[2] <= f[2]

    def take(self, h: int, d: tuple[float, float, float]) -> None:
        f = self.free[h]
        f[0] -= d[0]
        f[1] -= d[1]
        f[2] -= d[2]


def generate(
    hosts: int = 10,
    instances: int = 100,
    seed: int = 0,
    *,
    zones: int = 2,
    skew: float = 0.8,
    group_fraction: float = 0.1,
    unmovable_fraction: float = 0.01,
    shutoff_fraction: float = 0.04,
    bfv_fraction: float = 0.3,
    zoned_fraction: float = 0.3,
    disabled_hosts: int = 0,
    down_hosts: int = 0,
    numa_live_migration: bool = True,
    movable_only: bool = False,
    cpu_load: bool = False,
) -> Snapshot:
    """A reproducible cloud of `hosts` compute nodes carrying up to `instances` servers.

    `skew` is the sigma of the log-normal host popularity (0: even load). Instances that
    would not fit anywhere are dropped, so a tiny cloud asked for many instances is full,
    not invalid. Disabled and down hosts keep their instances (they are the interesting
    ones to drain or evacuate). `movable_only` draws the same random numbers, then makes
    every instance ACTIVE or SHUTOFF/PAUSED with no task and no PCI device, and labels
    affinity / anti-affinity groups soft-affinity / soft-anti-affinity. `cpu_load` adds
    measured-looking CPU load (`with_load`), drawn after everything else so the cloud is the
    same one with or without it.
    """
    rng = random.Random(seed)
    zone_names = [f"az{z + 1}" for z in range(max(1, zones))]
    host_rows: list[dict] = []
    sizes = _host_sizes(rng, hosts)
    popularity = _popularity(rng, hosts, skew)
    for i in range(hosts):
        size = sizes[i]
        zone = zone_names[i % len(zone_names)]
        aggs = [f"agg-{zone}"]
        if rng.random() < 0.2:
            aggs.append("ssd")
        ratios = AllocationRatios(cpu=4.0, ram=1.0, disk=1.0)
        usable = (
            (size.vcpus - RESERVED.vcpus) * ratios.cpu,
            (size.ram_mb - RESERVED.ram_mb) * ratios.ram,
            (size.disk_gb - RESERVED.disk_gb) * ratios.disk,
        )
        host_rows.append(
            {
                "name": f"compute-{i:04d}",
                "zone": zone,
                "aggs": aggs,
                "size": size,
                "ratios": ratios,
                "usable": usable,
                "popularity": popularity[i],
                "mclm": rng.choice((1, 2, 2, 4)),
            }
        )
    gpu_hosts = list(range(0, hosts, 30))  # one host in thirty carries the PCI instances
    room = _Room(host_rows)
    cum: list[float] = []
    acc = 0.0
    for h in host_rows:
        acc += h["popularity"] * h["usable"][1]
        cum.append(acc)
    flavors = [f for f, _ in FLAVORS]
    fweights = [w for _, w in FLAVORS]

    def pick_host(d: tuple[float, float, float], avoid: set[int]) -> int | None:
        for _ in range(12):
            h = rng.choices(range(hosts), cum_weights=cum)[0]
            if h not in avoid and room.fits(h, d):
                return h
        start = rng.randrange(hosts)
        for k in range(hosts):
            h = (start + k) % hosts
            if h not in avoid and room.fits(h, d):
                return h
        return None

    rows: list[dict] = []
    groups: list[ServerGroup] = []
    budget = instances
    n_grouped = int(instances * group_fraction)
    policies = ("anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity")
    pweights = (0.5, 0.15, 0.25, 0.1)
    while n_grouped > 0 and budget > 0 and hosts > 0:
        policy = rng.choices(policies, weights=pweights)[0]
        size = min(n_grouped, budget, rng.randint(2, _largest_group(policy, hosts)))
        gid = _uuid(rng)
        flavor = rng.choices(flavors[:4], weights=fweights[:4])[0]
        d = _demand(flavor, False)
        project = rng.choice(PROJECTS)
        members: list[str] = []
        used_hosts: set[int] = set()
        zoned = rng.random() < zoned_fraction
        if policy == "affinity":
            total = (d[0] * size, d[1] * size, d[2] * size)
            h0 = pick_host(total, set())
            targets = [h0] * size if h0 is not None else []
        else:
            targets = []
            for _ in range(size):
                avoid = used_hosts if policy == "anti-affinity" else set()
                h = pick_host(d, avoid)
                if h is None:
                    break
                used_hosts.add(h)
                targets.append(h)
                room.take(h, d)
            for h in targets:  # give the room back; _place takes it again
                room.free[h] = [room.free[h][k] + d[k] for k in range(3)]
        if policy == "anti-affinity" and len(set(targets)) < len(targets):
            targets = []
        if zoned and targets:
            z0 = host_rows[targets[0]]["zone"]
            if any(host_rows[h]["zone"] != z0 for h in targets):
                zoned = False
        for h in targets:
            row = _row(rng, flavor, project, h, host_rows, zoned, bfv=False, room=room)
            row["server_groups"] = [gid]
            rows.append(row)
            members.append(row["id"])
        n_grouped -= size
        budget -= len(members)
        if members:
            label = f"soft-{policy}" if movable_only and policy in HARD else policy
            groups.append(
                ServerGroup(
                    id=gid,
                    name=f"{label}-{len(groups):03d}",
                    policy=label,
                    members=members,
                    project_id=project,
                )
            )
        elif size:
            n_grouped = 0
    misses = 0
    while budget > 0 and hosts > 0 and misses < 50:
        special = rng.random() < unmovable_fraction
        flavor = rng.choices(flavors, weights=fweights)[0]
        kind = "plain"
        if special:
            kind = rng.choice(("error", "task", "suspended", "pci", "pci", "shelved"))
            if kind == "pci":
                flavor = PCI_FLAVOR
        elif rng.random() < 0.01:
            kind, flavor = "vtpm", VTPM_FLAVOR
        elif rng.random() < 0.01:
            kind, flavor = "pinned", PINNED_FLAVOR
        bfv = rng.random() < bfv_fraction
        d = _demand(flavor, bfv)
        h = None
        if kind == "pci":
            cands = [h for h in gpu_hosts if room.fits(h, d)]
            h = rng.choice(cands) if cands else None
            if h is None:  # the PCI hosts are full: an ordinary instance instead
                kind, flavor = "plain", rng.choices(flavors, weights=fweights)[0]
                d = _demand(flavor, bfv)
        if h is None:
            h = pick_host(d, set())
        if h is None:
            misses += 1
            budget -= 1
            continue
        row = _row(
            rng,
            flavor,
            rng.choice(PROJECTS),
            h,
            host_rows,
            rng.random() < zoned_fraction,
            bfv=bfv,
            room=room,
        )
        status = "ACTIVE"
        r = rng.random()
        if r < shutoff_fraction:
            status = "SHUTOFF"
        elif r < shutoff_fraction + 0.01:
            status = "PAUSED"
        if kind == "error":
            status = "ERROR"
        elif kind == "task":
            row["task_state"] = rng.choice(("migrating", "rebooting", "resize_prep"))
        elif kind == "suspended":
            status = "SUSPENDED"
        elif kind == "shelved":
            status = "SHELVED"
        if movable_only and kind in UNMOVABLE_KINDS:
            # Same draws, same placement; only what would pin the instance is left out.
            status, row["task_state"] = "ACTIVE", None
            row["flavor"] = row["flavor"].model_copy(update={"extra_specs": {}})
        elif movable_only and kind in ("vtpm", "pinned") and status == "PAUSED":
            status = "ACTIVE"  # paused, it could only live-migrate, which its flavor rules out
        row["status"] = status
        rows.append(row)
        budget -= 1
    snap = _snapshot(rng, host_rows, rows, groups, disabled_hosts, down_hosts, numa_live_migration)
    return with_load(snap, seed) if cpu_load else snap


HOT_FRACTION = 0.1
"""Share of hosts whose instances run hot (a batch job, a noisy tenant)."""
CALM_USE = 0.12
"""Typical share of its vCPUs an instance keeps busy (cloud fleets run at 10-20 %)."""


def with_load(snapshot: Snapshot, seed: int = 0, hot_fraction: float = HOT_FRACTION) -> Snapshot:
    """The snapshot with seeded per-instance CPU load in cores and a few hot hosts.

    Each running instance keeps a log-normal share of its vCPUs busy (median CALM_USE);
    on the hot hosts that share is 2.5-4x higher, so they end near or past their physical
    threads while the rest idle, as in the clouds Watcher's strategies are tried on.
    Instances that do not run use nothing. Hosts carry their physical threads and no
    node_exporter figure, so host load is the sum of its instances.
    """
    rng = random.Random(f"load-{seed}")
    names = [h.name for h in snapshot.hosts]
    hot = set(rng.sample(names, max(1, round(len(names) * hot_fraction)) if names else 0))
    factor = {n: (rng.uniform(2.5, 4.0) if n in hot else 1.0) for n in names}
    instances = []
    for inst in snapshot.instances:
        share = min(1.0, CALM_USE * math.exp(rng.gauss(0.0, 0.6)) * factor.get(inst.host, 1.0))
        running = inst.status == "ACTIVE" and inst.host is not None
        cores = round(inst.flavor.vcpus * share, 3) if running else 0.0
        instances.append(inst.model_copy(update={"cpu_load": cores}))
    hosts = [h.model_copy(update={"threads": h.capacity.vcpus}) for h in snapshot.hosts]
    info = LoadInfo(
        source="prometheus",
        window="1h",
        statistic="mean",
        note=f"synthetic load (seed {seed}, {len(hot)} hot hosts)",
    )
    return snapshot.model_copy(update={"hosts": hosts, "instances": instances, "load": info})


def _host_sizes(rng: random.Random, hosts: int) -> list[HostSize]:
    """The host mix in the shares of HOST_SIZES at every host count, in a seeded order.

    Drawing each host's size independently gives a small cloud a mix far from the shares
    (and its bin-packing bound with it), so clouds of different sizes would not be alike.
    """
    want = [s.weight * hosts for s in HOST_SIZES]
    counts = [int(w) for w in want]
    by_remainder = sorted(range(len(want)), key=lambda k: counts[k] - want[k])
    for k in by_remainder[: hosts - sum(counts)]:
        counts[k] += 1
    out = [s for s, n in zip(HOST_SIZES, counts, strict=True) for _ in range(n)]
    rng.shuffle(out)
    return out


def _popularity(rng: random.Random, hosts: int, skew: float) -> list[float]:
    """Host popularity: evenly spaced quantiles of a log-normal (sigma `skew`), shuffled.

    Every cloud then has the same spread of hot and cool hosts, whatever its size; a
    handful of independent draws would leave a small cloud's load to chance.
    """
    if skew <= 0 or hosts == 0:
        return [1.0] * hosts
    normal = NormalDist(0.0, skew)
    out = [math.exp(normal.inv_cdf((k + 0.5) / hosts)) for k in range(hosts)]
    rng.shuffle(out)
    return out


MAX_GROUP = {"affinity": 3, "soft-affinity": 3, "anti-affinity": 5, "soft-anti-affinity": 5}
"""Members of a server group at most: HA pairs and trios, quorums of five."""
HOSTS_PER_HARD_MEMBER = 4
"""A hard anti-affinity group spans at most a quarter of the hosts (but 2 members always)."""


def _largest_group(policy: str, hosts: int) -> int:
    """Most members a new group of `policy` gets on a cloud of `hosts` hosts.

    A hard anti-affinity group needs a host per member, and one more outside the group to
    drain or evacuate a member to: operators do not put a five-member hard group on a
    five-host cloud (every maintenance would end in No valid host). So on small clouds the
    group is capped at a quarter of the hosts, never below a pair; from 20 hosts on the cap
    is MAX_GROUP, so the group sizes per host are the same at every larger size.
    """
    top = MAX_GROUP[policy]
    if policy == "anti-affinity":
        top = min(top, max(2, hosts // HOSTS_PER_HARD_MEMBER))
    return top


def _demand(flavor: Flavor, bfv: bool) -> tuple[float, float, float]:
    disk = flavor.ephemeral_gb + (0 if bfv else flavor.disk_gb)
    return (float(flavor.vcpus), float(flavor.ram_mb + flavor.swap_mb), float(disk))


def _row(
    rng: random.Random,
    flavor: Flavor,
    project: str,
    h: int,
    host_rows: list[dict],
    zoned: bool,
    *,
    bfv: bool,
    room: _Room,
) -> dict:
    d = _demand(flavor, bfv)
    room.take(h, d)
    iid = _uuid(rng)
    metadata: dict[str, str] = {}
    if rng.random() < 0.3:
        metadata["evacuation_priority"] = str(rng.randint(0, 3))
    if rng.random() < 0.2:
        metadata["app"] = rng.choice(("web", "db", "cache", "batch"))
    return {
        "id": iid,
        "name": f"{project[-2:]}-{flavor.name.replace('.', '-')}-{iid[:6]}",
        "project_id": project,
        "host": h,
        "zone": host_rows[h]["zone"] if zoned else None,
        "flavor": flavor,
        "bfv": bfv,
        "image_id": None if bfv else "img-" + rng.choice(("ubuntu", "rocky", "debian")),
        "volumes": [_uuid(rng)] if bfv else [],
        "metadata": metadata,
        "server_groups": [],
        "status": "ACTIVE",
        "task_state": None,
        "demand": d,
    }


def _snapshot(
    rng: random.Random,
    host_rows: list[dict],
    rows: list[dict],
    groups: list[ServerGroup],
    disabled_hosts: int,
    down_hosts: int,
    numa_live_migration: bool,
) -> Snapshot:
    used = [[0.0, 0.0, 0.0] for _ in host_rows]
    for r in rows:
        u = used[r["host"]]
        for k in range(3):
            u[k] += r["demand"][k]
    n = len(host_rows)
    order = list(range(n))
    rng.shuffle(order)
    down = set(order[:down_hosts])
    disabled = set(order[down_hosts : down_hosts + disabled_hosts])
    hosts: list[Host] = []
    for i, h in enumerate(host_rows):
        size: HostSize = h["size"]
        hosts.append(
            Host(
                name=h["name"],
                service_id=f"svc-{i:04d}",
                state="down" if i in down else "up",
                status="disabled" if i in disabled or i in down else "enabled",
                disabled_reason="maintenance" if i in disabled else None,
                forced_down=i in down,
                zone=h["zone"],
                aggregates=h["aggs"],
                capacity=Resources(vcpus=size.vcpus, ram_mb=size.ram_mb, disk_gb=size.disk_gb),
                reserved=RESERVED,
                ratios=h["ratios"],
                used=Resources(vcpus=used[i][0], ram_mb=used[i][1], disk_gb=used[i][2]),
                max_concurrent_live_migrations=h["mclm"],
            )
        )
    names = [h["name"] for h in host_rows]
    instances = [
        Instance(
            id=r["id"],
            name=r["name"],
            project_id=r["project_id"],
            host=names[r["host"]],
            status=r["status"],
            task_state=r["task_state"],
            zone=r["zone"],
            flavor=r["flavor"],
            image_id=r["image_id"],
            boot_from_volume=r["bfv"],
            volumes=r["volumes"],
            server_groups=r["server_groups"],
            metadata=r["metadata"],
        )
        for r in rows
    ]
    return Snapshot(
        taken_at=TAKEN_AT,
        cloud="synthetic",
        hosts=hosts,
        instances=instances,
        server_groups=groups,
        features=CloudFeatures(max_microversion="2.95", numa_live_migration=numa_live_migration),
    )
