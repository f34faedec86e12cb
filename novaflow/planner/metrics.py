"""Yardsticks for plans: host loads after a plan, the bin-packing lower bound, an FFD repack.

They measure the planner from outside (benchmarks, tests), so they use the pydantic models
and simple arithmetic rather than the planner's own state.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass

from novaflow.models import Host, Plan, Snapshot

_DIMS = ("vcpus", "ram_mb", "disk_gb")


def _usable(h: Host) -> tuple[float, float, float]:
    u = h.usable
    return (u.vcpus, u.ram_mb, u.disk_gb)


def final_hosts(snapshot: Snapshot, plan: Plan | None = None) -> dict[str, str | None]:
    """Instance id -> host after the plan (moves left to Nova's scheduler: None)."""
    where = {i.id: i.host for i in snapshot.instances}
    if plan is not None:
        for m in plan.moves:
            where[m.instance_id] = m.target
    return where


def host_usage(snapshot: Snapshot, plan: Plan | None = None) -> dict[str, list[float]]:
    """Per host [vCPU, RAM, disk] used after the plan: snapshot usage plus the moves."""
    usage = {h.name: [h.used.vcpus, h.used.ram_mb, h.used.disk_gb] for h in snapshot.hosts}
    if plan is None:
        return usage
    insts = {i.id: i for i in snapshot.instances}
    for m in plan.moves:
        r = insts[m.instance_id].resources
        d = (r.vcpus, r.ram_mb, r.disk_gb)
        for k in range(3):
            usage[m.source][k] -= d[k]
            if m.target is not None:
                usage[m.target][k] += d[k]
    return usage


def host_loads(
    snapshot: Snapshot, plan: Plan | None = None, hosts: Iterable[str] | None = None
) -> dict[str, float]:
    """Load per host (max over resources of used / usable) after the plan."""
    usage = host_usage(snapshot, plan)
    models = {h.name: h for h in snapshot.hosts}
    names = list(hosts) if hosts is not None else list(models)
    out = {}
    for n in names:
        u = _usable(models[n])
        out[n] = max((usage[n][k] / u[k] for k in range(3) if u[k] > 0), default=0.0)
    return out


def has_measured_load(snapshot: Snapshot) -> bool:
    """The snapshot carries measured CPU (not the allocation fallback)."""
    return snapshot.load is not None and snapshot.load.source != "allocation"


def cpu_loads(
    snapshot: Snapshot, plan: Plan | None = None, hosts: Iterable[str] | None = None
) -> dict[str, float]:
    """Measured CPU load per host (busy cores over physical threads) after the plan.

    A host's busy cores are its node_exporter figure where there is one, else the sum of its
    instances' cpu_load; a move shifts the instance's cores from source to target.
    """
    threads = {h.name: float(h.threads or h.capacity.vcpus) or 1.0 for h in snapshot.hosts}
    busy = {h.name: 0.0 for h in snapshot.hosts}
    own = {h.name for h in snapshot.hosts if h.cpu_load is not None}
    for h in snapshot.hosts:
        if h.cpu_load is not None:
            busy[h.name] = h.cpu_load * threads[h.name]
    cores = {}
    for i in snapshot.instances:
        c = i.cpu_load or 0.0
        cores[i.id] = c
        if i.host in busy and i.host not in own:
            busy[i.host] += c
    if plan is not None:
        for m in plan.moves:
            c = cores.get(m.instance_id, 0.0)
            busy[m.source] -= c
            if m.target is not None:
                busy[m.target] += c
    names = list(hosts) if hosts is not None else list(busy)
    return {n: busy[n] / threads[n] for n in names}


def plan_loads(
    snapshot: Snapshot, plan: Plan | None = None, hosts: Iterable[str] | None = None
) -> dict[str, float]:
    """The load a rebalance plans on: measured CPU when there is any, else allocation."""
    if has_measured_load(snapshot):
        return cpu_loads(snapshot, plan, hosts)
    return host_loads(snapshot, plan, hosts)


def spread_floor(snapshot: Snapshot, budget: int, movable: Iterable[str]) -> float:
    """The lowest max host CPU load any plan of `budget` moves can reach, moving only the
    instances in `movable` and ignoring where they go (targets, zones, groups, room).

    Only a move off a host cools it; a host brought to a level needs fewest moves when its
    busiest instances go first, so taking the hottest host's busiest movable instance,
    `budget` times over, reaches the lowest peak: a floor no valid plan goes under.
    """
    names = [h.name for h in snapshot.hosts if h.accepts_instances]
    threads = {h.name: float(h.threads or h.capacity.vcpus) or 1.0 for h in snapshot.hosts}
    may = set(movable)
    cuts: dict[str, list[float]] = {n: [] for n in names}
    for i in snapshot.instances:
        if i.host in cuts and i.id in may:
            cuts[i.host].append((i.cpu_load or 0.0) / threads[i.host])
    for v in cuts.values():
        v.sort()
    heap = [(-load, n) for n, load in cpu_loads(snapshot, None, names).items()]
    heapq.heapify(heap)
    for _ in range(budget):
        if not heap:
            break
        load, n = heapq.heappop(heap)
        if not cuts[n]:
            heapq.heappush(heap, (load, n))
            break
        heapq.heappush(heap, (load + cuts[n].pop(), n))
    return -heap[0][0] if heap else 0.0


@dataclass(frozen=True)
class LoadStats:
    max: float
    mean: float
    std: float


def load_stats(loads: Iterable[float]) -> LoadStats:
    vals = list(loads)
    if not vals:
        return LoadStats(0.0, 0.0, 0.0)
    mean = sum(vals) / len(vals)
    var = sum((v - mean) ** 2 for v in vals) / len(vals)
    return LoadStats(max(vals), mean, math.sqrt(var))


def active_hosts(snapshot: Snapshot, exclude: Iterable[str] = ()) -> list[str]:
    """Hosts a rebalance works on: up, enabled, not excluded."""
    ex = set(exclude)
    return [h.name for h in snapshot.hosts if h.accepts_instances and h.name not in ex]


def hosts_in_use(snapshot: Snapshot, plan: Plan | None, hosts: Iterable[str]) -> int:
    where = final_hosts(snapshot, plan)
    busy = {h for h in where.values() if h is not None}
    return sum(1 for h in hosts if h in busy)


def lower_bound_hosts(snapshot: Snapshot, hosts: Iterable[str]) -> int:
    """Fewest of `hosts` that could hold their instances: max over vCPU / RAM / disk of
    ceil(total demand / usable per host), taking the biggest hosts first when sizes differ."""
    names = set(hosts)
    models = [h for h in snapshot.hosts if h.name in names]
    total = [0.0, 0.0, 0.0]
    for i in snapshot.instances:
        if i.host in names:
            r = i.resources
            total[0] += r.vcpus
            total[1] += r.ram_mb
            total[2] += r.disk_gb
    best = 0
    for k in range(3):
        caps = sorted((_usable(h)[k] for h in models), reverse=True)
        acc, n = 0.0, 0
        while acc < total[k] - 1e-9 and n < len(caps):
            acc += caps[n]
            n += 1
        best = max(best, n)
    return best


def constrained_lower_bound(snapshot: Snapshot, hosts: Iterable[str], pinned: Iterable[str]) -> int:
    """A lower bound that also counts what no packing can change: every host holding an
    instance that cannot move stays in use, and a hard anti-affinity group needs one host
    per member. Never below `lower_bound_hosts`."""
    names = set(hosts)
    models = [h for h in snapshot.hosts if h.name in names]
    pinned_ids = set(pinned)
    held = {i.host for i in snapshot.instances if i.id in pinned_ids and i.host in names}
    total = [0.0, 0.0, 0.0]
    for i in snapshot.instances:
        if i.host in names:
            r = i.resources
            total[0] += r.vcpus
            total[1] += r.ram_mb
            total[2] += r.disk_gb
    best = lower_bound_hosts(snapshot, names)
    for k in range(3):
        left = total[k] - sum(_usable(h)[k] for h in models if h.name in held)
        caps = sorted((_usable(h)[k] for h in models if h.name not in held), reverse=True)
        n = 0
        while left > 1e-9 and n < len(caps):
            left -= caps[n]
            n += 1
        best = max(best, len(held) + n)
    on = {i.id for i in snapshot.instances if i.host in names}
    for g in snapshot.server_groups:
        if g.policy == "anti-affinity":
            best = max(best, sum(1 for m in g.members if m in on))
    return best


@dataclass(frozen=True)
class Repack:
    """A first-fit-decreasing repack of every instance from scratch onto `bins`."""

    placed_all: bool
    hosts_used: int
    migrations: int


def ffd_repack(
    snapshot: Snapshot, hosts: Iterable[str], bins: list[str], pinned: Iterable[str] = ()
) -> Repack:
    """First-fit decreasing from scratch: every instance on `hosts` into `bins` (in that
    order), except `pinned` instance ids, which stay where they are.

    Server groups and zones are ignored: this is the baseline a plan is compared with.
    """
    models = {h.name: h for h in snapshot.hosts}
    universe = set(hosts)
    free = {b: list(_usable(models[b])) for b in bins}
    pinned_set = set(pinned)
    used: set[str] = set()
    items = []
    for i in snapshot.instances:
        if i.host not in universe:
            continue
        r = i.resources
        d = (r.vcpus, r.ram_mb, r.disk_gb)
        if i.id in pinned_set:
            used.add(i.host)
            if i.host in free:
                for k in range(3):
                    free[i.host][k] -= d[k]
        else:
            items.append((d, i))
    caps = [max((_usable(models[b])[k] for b in bins), default=1.0) or 1.0 for k in range(3)]
    items.sort(key=lambda x: -max(x[0][k] / caps[k] for k in range(3)))
    smallest = [min((d[k] for d, _ in items), default=0.0) for k in range(3)]
    open_bins = list(bins)
    migrations = 0
    ok = True
    for d, inst in items:
        chosen = None
        for b in open_bins:
            f = free[b]
            if d[0] <= f[0] + 1e-9 and d[1] <= f[1] + 1e-9 and d[2] <= f[2] + 1e-9:
                chosen = b
                break
        if chosen is None:
            ok = False
            continue
        f = free[chosen]
        for k in range(3):
            f[k] -= d[k]
        used.add(chosen)
        if chosen != inst.host:
            migrations += 1
        if any(f[k] < smallest[k] - 1e-9 for k in range(3)):
            open_bins.remove(chosen)
    return Repack(ok, len(used), migrations)
