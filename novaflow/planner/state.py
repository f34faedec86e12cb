"""The planner's scratch pad: where every instance is in the plan so far and what room is left.

Pydantic models are frozen and slow to rebuild, so planning works on plain lists of floats
indexed by host number, with server-group placement counts kept incrementally. Instances
are "lifted" off a host (their room is freed) and "put" on another; a strategy can roll a
tentative placement back by putting instances where they were.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator

from novaflow.models import Host, Instance, Snapshot

EPS = 1e-9
Demand = tuple[float, float, float]
RESOURCE_NAMES = ("vcpus", "ram_mb", "disk_gb")
HARD_POLICIES = frozenset({"affinity", "anti-affinity"})


def demand(inst: Instance) -> Demand:
    """What `inst` takes on its host; mirrors Instance.resources without building a model."""
    f = inst.flavor
    disk = f.ephemeral_gb if inst.boot_from_volume else f.disk_gb + f.ephemeral_gb
    return (float(f.vcpus), float(f.ram_mb + f.swap_mb), float(disk))


def usable_of(host: Host) -> Demand:
    c, r, res = host.capacity, host.ratios, host.reserved
    return (
        (c.vcpus - res.vcpus) * r.cpu,
        (c.ram_mb - res.ram_mb) * r.ram,
        (c.disk_gb - res.disk_gb) * r.disk,
    )


class Cluster:
    """Mutable placement state over one snapshot (host numbers index every per-host list)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.host_models: list[Host] = list(snapshot.hosts)
        self.names: list[str] = [h.name for h in self.host_models]
        self.index: dict[str, int] = {n: i for i, n in enumerate(self.names)}
        self.zone: list[str] = [h.zone for h in self.host_models]
        self.usable: list[Demand] = [usable_of(h) for h in self.host_models]
        self.free_c: list[float] = []
        self.free_r: list[float] = []
        self.free_d: list[float] = []
        for h, u in zip(self.host_models, self.usable, strict=True):
            self.free_c.append(u[0] - h.used.vcpus)
            self.free_r.append(u[1] - h.used.ram_mb)
            self.free_d.append(u[2] - h.used.disk_gb)
        self.cell: list[str | None] = [h.cell for h in self.host_models]
        self.cells_known = any(c is not None for c in self.cell)
        self.inventories: list[dict | None] = [
            getattr(h, "inventory", None) or None for h in self.host_models
        ]
        self.inventories_known = any(inv is not None for inv in self.inventories)
        self.placement_demands: dict[str, dict[str, int]] = {}
        self.may_leave_cell: set[str] = set()
        """Instances whose move may cross cells (cold-only, when policy allows cross-cell
        resize); a strategy that knows the method fills it."""
        self.instances: dict[str, Instance] = {i.id: i for i in snapshot.instances}
        self.origin: dict[str, int | None] = {}
        self.on_host: list[dict[str, None]] = [{} for _ in self.names]
        # dicts as ordered sets: deterministic iteration, O(1) removal.
        for inst in snapshot.instances:
            h = self.index.get(inst.host) if inst.host else None
            self.origin[inst.id] = h
            if h is not None:
                self.on_host[h][inst.id] = None
        self.where: dict[str, int | None] = dict(self.origin)
        self._load_cpu(snapshot)
        self.arrived: list[list[float]] = [[0.0, 0.0, 0.0] for _ in self.names]
        """Per host, the room taken by instances the plan brought there (kept incrementally)."""
        self._demand: dict[str, Demand] = {}
        self._smallest: Demand | None = None
        self.policy: dict[str, str] = {}
        self.group_name: dict[str, str] = {}
        self.members: dict[str, list[str]] = {}
        self.groups_of: dict[str, list[str]] = {}
        self.count: dict[str, dict[int, int]] = {}
        self.max_per_host: dict[str, int] = {}
        self.placed_groups: set[str] = set()
        """Groups with a member on a host at snapshot time: Nova's group hosts are not empty."""
        self._load_groups(snapshot)
        self.watchers: list[SortedHosts] = []
        n = max(1, len(self.usable))
        self.avg_usable: Demand = (
            sum(u[0] for u in self.usable) / n,
            sum(u[1] for u in self.usable) / n,
            sum(u[2] for u in self.usable) / n,
        )

    def _load_cpu(self, snapshot: Snapshot) -> None:
        """Measured CPU per instance and per host, kept as moves happen (empty if unmeasured).

        A host's busy cores are node_exporter's figure where there is one (it counts what no
        instance accounts for), else the sum of its instances; a move shifts an instance's
        cores from one host to the other either way.
        """
        info = snapshot.load
        self.measured: bool = info is not None and info.source != "allocation"
        self.threads: list[float] = [
            float(h.threads or h.capacity.vcpus) or 1.0 for h in self.host_models
        ]
        self.cpu: dict[str, float] = {}
        self.busy: list[float] = [0.0] * len(self.host_models)
        self.cpu_ceiling: float | None = None
        """When set, no host may take instances past this CPU load (see cpu_block)."""
        if not self.measured:
            return
        self.cpu = {i.id: float(i.cpu_load or 0.0) for i in snapshot.instances}
        for h, hm in enumerate(self.host_models):
            if hm.cpu_load is not None:
                self.busy[h] = hm.cpu_load * self.threads[h]
            else:
                self.busy[h] = sum(self.cpu[i] for i in self.on_host[h])

    def cpu_load(self, h: int) -> float:
        """Busy cores over physical threads (0 when the snapshot has no measured load)."""
        return self.busy[h] / self.threads[h]

    def cpu_block(self, unit: Iterable[str], h: int) -> str | None:
        """Why `h` may not take the lifted `unit` under the CPU ceiling (None: it may)."""
        if self.cpu_ceiling is None or not self.cpu:
            return None
        after = self.busy[h] + sum(self.cpu[i] for i in unit)
        if after > self.cpu_ceiling * self.threads[h] + EPS:
            return f"CPU ceiling {self.cpu_ceiling:.0%} of {self.names[h]}'s threads"
        return None

    def _load_groups(self, snapshot: Snapshot) -> None:
        member_sets: dict[str, dict[str, None]] = {}
        for g in snapshot.server_groups:
            self.policy[g.id] = g.policy
            self.group_name[g.id] = g.name
            self.max_per_host[g.id] = g.max_server_per_host
            member_sets[g.id] = {m: None for m in g.members if m in self.instances}
        for inst in snapshot.instances:
            for gid in inst.server_groups:
                if gid in member_sets:
                    member_sets[gid][inst.id] = None
        for gid, members in member_sets.items():
            self.members[gid] = list(members)
            counts: dict[int, int] = {}
            for iid in members:
                self.groups_of.setdefault(iid, []).append(gid)
                h = self.where[iid]
                if h is not None:
                    counts[h] = counts.get(h, 0) + 1
            self.count[gid] = counts
            if counts:
                self.placed_groups.add(gid)

    # -- resources -------------------------------------------------------------------------
    def demand(self, iid: str) -> Demand:
        d = self._demand.get(iid)
        if d is None:
            d = self._demand[iid] = demand(self.instances[iid])
        return d

    def smallest_demand(self) -> Demand:
        """Per resource, the least any instance of the cloud takes: a host with less free
        room than this in some resource can take no instance at all."""
        if self._smallest is None:
            lo = [float("inf")] * 3
            for iid, inst in self.instances.items():
                if inst.host is None and inst.status == "UNKNOWN":
                    continue  # in a down cell: a partial record, its flavor is not known
                d = self.demand(iid)
                for k in range(3):
                    if d[k] < lo[k]:
                        lo[k] = d[k]
            self._smallest = (lo[0], lo[1], lo[2]) if self.instances else (0.0, 0.0, 0.0)
        return self._smallest

    def free(self, h: int) -> Demand:
        return (self.free_c[h], self.free_r[h], self.free_d[h])

    def fits(self, need: Demand, h: int) -> bool:
        return (
            need[0] <= self.free_c[h] + EPS
            and need[1] <= self.free_r[h] + EPS
            and need[2] <= self.free_d[h] + EPS
        )

    def load(self, h: int) -> float:
        """Max over the three resources of used / usable (0 for a resource a host lacks)."""
        u = self.usable[h]
        worst = 0.0
        for free, cap in ((self.free_c[h], u[0]), (self.free_r[h], u[1]), (self.free_d[h], u[2])):
            if cap > EPS:
                v = (cap - free) / cap
                if v > worst:
                    worst = v
        return worst

    def used(self, h: int) -> Demand:
        u = self.usable[h]
        return (u[0] - self.free_c[h], u[1] - self.free_r[h], u[2] - self.free_d[h])

    # -- moving things around --------------------------------------------------------------
    def lift(self, iid: str) -> int | None:
        """Take `iid` off its current host (room freed, group counts lowered); return the host."""
        h = self.where[iid]
        if h is None:
            return None
        d = self.demand(iid)
        self.free_c[h] += d[0]
        self.free_r[h] += d[1]
        self.free_d[h] += d[2]
        if self.origin[iid] != h:
            a = self.arrived[h]
            a[0] -= d[0]
            a[1] -= d[1]
            a[2] -= d[2]
        del self.on_host[h][iid]
        if self.cpu:
            self.busy[h] -= self.cpu[iid]
        for gid in self.groups_of.get(iid, ()):
            c = self.count[gid]
            c[h] -= 1
            if not c[h]:
                del c[h]
        self.where[iid] = None
        for w in self.watchers:
            w.touch(h)
        return h

    def put(self, iid: str, h: int) -> None:
        """Place a lifted `iid` on host `h` (room taken, group counts raised)."""
        d = self.demand(iid)
        self.free_c[h] -= d[0]
        self.free_r[h] -= d[1]
        self.free_d[h] -= d[2]
        if self.origin[iid] != h:
            a = self.arrived[h]
            a[0] += d[0]
            a[1] += d[1]
            a[2] += d[2]
        self.on_host[h][iid] = None
        if self.cpu:
            self.busy[h] += self.cpu[iid]
        for gid in self.groups_of.get(iid, ()):
            c = self.count[gid]
            c[h] = c.get(h, 0) + 1
        self.where[iid] = h
        for w in self.watchers:
            w.touch(h)

    # -- server groups ---------------------------------------------------------------------
    def group_block(self, iid: str, h: int) -> str | None:
        """Why a lifted `iid` may not go to `h` under a hard policy (None: it may).

        As Nova's filters decide it: anti-affinity counts the members already on `h` against
        the group's max_server_per_host (1 unless its 2.64 rules say more); affinity accepts
        only a host that holds a member, once any member has a host at all.
        """
        for gid in self.groups_of.get(iid, ()):
            pol = self.policy[gid]
            if pol == "anti-affinity":
                limit = self.max_per_host[gid]
                if self.count[gid].get(h, 0) >= limit:
                    most = f" (at most {limit} per host)" if limit > 1 else ""
                    return f"anti-affinity group {self.group_name[gid]}{most}"
            elif pol == "affinity" and gid in self.placed_groups and h not in self.count[gid]:
                return f"affinity group {self.group_name[gid]}"
        return None

    def required_hosts(self, iid: str) -> set[int] | None:
        """Hosts a lifted `iid` must join under hard affinity (None: no such constraint).

        Empty when every member of its group has been lifted: Nova's affinity filter takes
        only hosts already holding a member, the source is never a target, so no host is left.
        """
        out: set[int] | None = None
        for gid in self.groups_of.get(iid, ()):
            if self.policy[gid] == "affinity" and gid in self.placed_groups:
                hosts = set(self.count[gid])
                out = hosts if out is None else out & hosts
        return out

    def stranded_groups(self, iid: str) -> list[str]:
        """Hard-affinity groups of a lifted `iid` with no member left on any host: Nova's
        scheduler can place none of their members (the group's hosts are all sources)."""
        return [
            gid
            for gid in self.groups_of.get(iid, ())
            if self.policy[gid] == "affinity" and gid in self.placed_groups and not self.count[gid]
        ]

    def soft_score(self, iid: str, h: int) -> float:
        """Penalty for soft policies: +1 per soft-anti-affinity peer, -1 per soft-affinity group
        that already has a member there."""
        score = 0.0
        for gid in self.groups_of.get(iid, ()):
            pol = self.policy[gid]
            if pol == "soft-anti-affinity":
                score += self.count[gid].get(h, 0)
            elif pol == "soft-affinity" and self.count[gid].get(h):
                score -= 1.0
        return score

    def soft_affinity_hosts(self, iid: str) -> list[int]:
        out: list[int] = []
        for gid in self.groups_of.get(iid, ()):
            if self.policy[gid] == "soft-affinity":
                out.extend(self.count[gid])
        return out

    def hard_affinity_peers(self, iid: str) -> list[str]:
        """Every instance tied to `iid` by hard affinity groups (transitively), itself first."""
        seen = {iid: None}
        todo = [iid]
        while todo:
            cur = todo.pop()
            for gid in self.groups_of.get(cur, ()):
                if self.policy[gid] != "affinity":
                    continue
                for m in self.members[gid]:
                    if m not in seen:
                        seen[m] = None
                        todo.append(m)
        return list(seen)

    def moved(self) -> Iterator[tuple[str, int | None, int | None]]:
        """(instance, origin host, current host) for every instance the plan moved."""
        for iid, h in self.where.items():
            o = self.origin[iid]
            if h != o:
                yield iid, o, h


class SortedHosts:
    """A set of hosts kept sorted by a per-host key that changes as instances move.

    One sorted list for all hosts and one per availability zone; the cluster calls `touch`
    after every lift / put so the order stays right without re-sorting.
    """

    def __init__(self, cluster: Cluster, hosts: Iterable[int]) -> None:
        # A weak reference: the cluster holds its indexes (to tell them about moves), and a
        # strong one back would make a cycle that only the cycle collector could free.
        self.cluster: Cluster = weakref.proxy(cluster)
        self._zone = cluster.zone
        self.key: dict[int, float] = {}
        self.all: list[tuple[float, int]] = []
        self.by_zone: dict[str, list[tuple[float, int]]] = {}
        for h in hosts:
            self.open(h)
        cluster.watchers.append(self)

    def sort_key(self, h: int) -> float:
        raise NotImplementedError

    def __contains__(self, h: int) -> bool:
        return h in self.key

    def __len__(self) -> int:
        return len(self.key)

    def open(self, h: int) -> None:
        if h in self.key:
            return
        k = self.sort_key(h)
        self.key[h] = k
        insort(self.all, (k, h))
        insort(self.by_zone.setdefault(self._zone[h], []), (k, h))

    def close(self, h: int) -> None:
        k = self.key.pop(h, None)
        if k is None:
            return
        _remove(self.all, (k, h))
        _remove(self.by_zone[self._zone[h]], (k, h))

    def touch(self, h: int) -> None:
        if h in self.key:
            self.close(h)
            self.open(h)

    def detach(self) -> None:
        self.cluster.watchers.remove(self)

    def ascending(self, zone: str | None = None) -> list[tuple[float, int]]:
        return self.all if zone is None else self.by_zone.get(zone, [])


class FitIndex(SortedHosts):
    """Hosts open for new instances, sorted by free room in the cluster's scarcest resource.

    Bisecting on that resource skips every host that cannot take an instance at once; the
    next few hosts are the tightest fits, which is what best-fit packing wants. Searches
    walk a second pair of lists that leaves out hosts too full, in some resource, for even
    the smallest instance of the cloud (a host out of vCPUs with RAM to spare, say): on a
    big cloud packed tight there are hundreds of those, and every search would step over
    them all.
    """

    def __init__(self, cluster: Cluster, hosts: Iterable[int], dim: int | None = None) -> None:
        self.dim = scarcest_resource(cluster) if dim is None else dim
        self._free = (cluster.free_c, cluster.free_r, cluster.free_d)[self.dim]
        self.room = [0.0, 0.0, 0.0]
        """Free room summed over the open hosts (overcommitted hosts count as zero)."""
        self._share: dict[int, Demand] = {}
        self._frees = (cluster.free_c, cluster.free_r, cluster.free_d)
        self._floor = cluster.smallest_demand()
        self._takers: list[tuple[float, int]] = []
        self._takers_by_zone: dict[str, list[tuple[float, int]]] = {}
        self._taking: set[int] = set()
        self.taker_room = [0.0, 0.0, 0.0]
        """Free room summed over the open hosts with room for the cloud's smallest instance."""
        super().__init__(cluster, hosts)

    def sort_key(self, h: int) -> float:
        return self._free[h]

    def open(self, h: int) -> None:
        if h in self.key:
            return
        super().open(h)
        fc, fr, fd = self._frees
        share = (max(0.0, fc[h]), max(0.0, fr[h]), max(0.0, fd[h]))
        self._share[h] = share
        room = self.room
        room[0] += share[0]
        room[1] += share[1]
        room[2] += share[2]
        f = self._floor
        if f[0] <= fc[h] + EPS and f[1] <= fr[h] + EPS and f[2] <= fd[h] + EPS:
            item = (self.key[h], h)
            insort(self._takers, item)
            insort(self._takers_by_zone.setdefault(self._zone[h], []), item)
            self._taking.add(h)
            tr = self.taker_room
            tr[0] += share[0]
            tr[1] += share[1]
            tr[2] += share[2]

    def close(self, h: int) -> None:
        share = self._share.pop(h, None)
        if share is None:
            return
        if h in self._taking:
            item = (self.key[h], h)
            _remove(self._takers, item)
            _remove(self._takers_by_zone[self._zone[h]], item)
            self._taking.discard(h)
            tr = self.taker_room
            tr[0] -= share[0]
            tr[1] -= share[1]
            tr[2] -= share[2]
        super().close(h)
        room = self.room
        room[0] -= share[0]
        room[1] -= share[1]
        room[2] -= share[2]

    def could_take(self, need: Demand) -> bool:
        """False when the open hosts together lack the room: no placement can succeed."""
        room = self.room
        return need[0] <= room[0] + EPS and need[1] <= room[1] + EPS and need[2] <= room[2] + EPS

    def could_fill(self, need: Demand) -> bool:
        """False when the open hosts that can take an instance at all lack the room together:
        room stranded on hosts out of some resource (RAM free, no vCPU left) does not count.

        Stricter than could_take, and a heuristic once room can be made by moving instances
        on (that can free the missing resource on a stranded host); it saves lifting a whole
        host only to find it cannot be emptied."""
        room = self.taker_room
        return need[0] <= room[0] + EPS and need[1] <= room[1] + EPS and need[2] <= room[2] + EPS

    def candidates(self, need: Demand, zone: str | None) -> Iterator[int]:
        """Open hosts with at least `need` room in the indexed resource, tightest first
        (hosts with no room for the cloud's smallest instance left out)."""
        lst = self._takers if zone is None else self._takers_by_zone.get(zone, [])
        i = bisect_left(lst, (need[self.dim] - EPS, -1))
        n = len(lst)
        while i < n:
            yield lst[i][1]
            i += 1


class LoadIndex(SortedHosts):
    """Hosts sorted by load (max over resources of used / usable): coolest first."""

    def sort_key(self, h: int) -> float:
        return self.cluster.load(h)


class CpuLoadIndex(SortedHosts):
    """Hosts sorted by measured CPU load (busy cores over physical threads): coolest first."""

    def sort_key(self, h: int) -> float:
        return self.cluster.busy[h] / self.cluster.threads[h]


def _remove(lst: list[tuple[float, int]], item: tuple[float, int]) -> None:
    i = bisect_left(lst, item)
    if i < len(lst) and lst[i] == item:
        del lst[i]
    else:  # pragma: no cover - keys always come from the same float
        lst.remove(item)


def scarcest_resource(cluster: Cluster) -> int:
    """The resource with the highest used / usable ratio across the cluster (0, 1 or 2)."""
    best, best_ratio = 1, -1.0
    for d, free in enumerate((cluster.free_c, cluster.free_r, cluster.free_d)):
        cap = sum(u[d] for u in cluster.usable)
        if cap <= EPS:
            continue
        ratio = (cap - sum(free)) / cap
        if ratio > best_ratio + 1e-12:
            best, best_ratio = d, ratio
    return best
