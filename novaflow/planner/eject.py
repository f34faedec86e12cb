"""Making room for a unit no host can take: move on instances the plan already moved.

When a unit (an instance, or a hard-affinity group) finds no open host with room, a host
may still take it if instances the plan brought there move on to other hosts. Only those
can move on: an instance that was on the host from the start would make the host both
send and receive, and its room could then not be counted on while moves run in any order.
Moving on costs no extra migration (the instance still migrates once, from where it is
now to where it ends). This is one step of an ejection chain: the instances moved on must
each find room with a plain best fit, or the attempt is undone.
"""

from __future__ import annotations

from novaflow.planner.bounds import pinned_zone
from novaflow.planner.place import _blocked, find_host, unit_zone
from novaflow.planner.state import EPS, Cluster, Demand, FitIndex

Journal = list[tuple[str, int]]
"""(instance, host it was on) for every lift, in order, so a try can be undone."""

ROOM_HOSTS = 4
"""Hosts where room is tried per unit; each try scans the host's instances and re-places some."""
ROOM_SCAN = 64
"""Hosts looked at per unit (a constant-time check each) while choosing those to try."""


def undo(cluster: Cluster, journal: Journal, mark: int) -> None:
    """Put every instance lifted since `journal[mark]` back where it was, newest first."""
    while len(journal) > mark:
        iid, was = journal.pop()
        if cluster.where[iid] is not None:
            cluster.lift(iid)
        cluster.put(iid, was)


class Hopeless:
    """Needs for which making room failed: a bigger need in the same zone is not tried again.

    As consolidation goes on, the hosts it keeps only fill up, so room that could not be
    made once is unlikely to appear later in the same plan; not trying again keeps a long
    tail of hopeless tries from costing more on bigger clouds. It is a heuristic: instances
    brought to a host later might have made room by moving on.
    """

    def __init__(self) -> None:
        self.failed: list[tuple[Demand, str | None]] = []

    def covers(self, need: Demand, zone: str | None) -> bool:
        return any(
            (z is None or z == zone) and need[0] >= n[0] and need[1] >= n[1] and need[2] >= n[2]
            for n, z in self.failed
        )

    def add(self, need: Demand, zone: str | None) -> None:
        self.failed.append((need, zone))


def make_room(
    cluster: Cluster,
    index: FitIndex,
    unit: list[str],
    need: Demand,
    zone: str | None,
    journal: Journal,
    hopeless: Hopeless,
) -> int | None:
    """An open host for the lifted `unit` after moving on instances the plan put there.

    On success the unit is not placed yet (the caller puts it) and the moves are journalled.
    """
    if hopeless.covers(need, zone):
        return None
    tried = 0
    # The roomiest hosts first (fewest instances to move on); a copy, as the index changes.
    hosts = [t for _free, t in index.ascending(zone)[-ROOM_SCAN:]]
    free_c, free_r, free_d = cluster.free_c, cluster.free_r, cluster.free_d
    arrived = cluster.arrived
    for t in reversed(hosts):
        if tried >= ROOM_HOSTS:
            break
        a = arrived[t]
        if (
            need[0] > free_c[t] + a[0] + EPS
            or need[1] > free_r[t] + a[1] + EPS
            or need[2] > free_d[t] + a[2] + EPS
        ):
            continue  # even moving on everything the plan brought would not make room
        if _blocked(cluster, unit, t):
            continue
        tried += 1
        picked = _movers(cluster, t, need, index.dim, _largest_hole(index, t))
        if picked is None:
            continue
        mark = len(journal)
        for iid in picked:
            journal.append((iid, t))
            cluster.lift(iid)
        if cluster.fits(need, t):
            index.close(t)  # the instances moving on must go elsewhere
            ok = all(_replace(cluster, index, iid) for iid in picked)
            index.open(t)
            if ok:
                return t
        undo(cluster, journal, mark)
    hopeless.add(need, zone)
    return None


def _movable_on(cluster: Cluster, iid: str, t: int) -> bool:
    """An instance the plan brought to `t` that may move on alone (no hard affinity)."""
    if cluster.origin[iid] == t:
        return False
    return not any(cluster.policy[g] == "affinity" for g in cluster.groups_of.get(iid, ()))


def _largest_hole(index: FitIndex, t: int) -> float:
    """The most free room, in the index's resource, on an open host other than `t`."""
    for free, h in reversed(index.all):
        if h != t:
            return free
    return 0.0


def _movers(cluster: Cluster, t: int, need: Demand, dim: int, hole: float) -> list[str] | None:
    """The fewest movable-on instances of `t` (unzoned and biggest first) whose leaving
    frees `need`, or None when even all of them would not. An instance bigger than the
    largest hole elsewhere (`hole`, in resource `dim`) could not move on, so it stays."""
    short = [need[0] - cluster.free_c[t], need[1] - cluster.free_r[t], need[2] - cluster.free_d[t]]
    cands = [
        iid
        for iid in cluster.on_host[t]
        if cluster.demand(iid)[dim] <= hole + EPS and _movable_on(cluster, iid, t)
    ]
    total = [0.0, 0.0, 0.0]
    for iid in cands:
        d = cluster.demand(iid)
        total[0] += d[0]
        total[1] += d[1]
        total[2] += d[2]
    if any(short[k] > total[k] + EPS for k in range(3)):
        return None
    # The scarcest shortfall decides the order: the instance that covers most of it first.
    k = max(range(3), key=lambda j: short[j] / max(total[j], EPS))
    features = cluster.snapshot.features
    cands.sort(
        key=lambda i: (
            pinned_zone(cluster.instances[i], features) is not None,
            -cluster.demand(i)[k],
            i,
        )
    )
    picked: list[str] = []
    for iid in cands:
        if all(short[j] <= EPS for j in range(3)):
            break
        d = cluster.demand(iid)
        if all(short[j] <= EPS or d[j] <= EPS for j in range(3)):
            continue  # frees nothing that is short
        picked.append(iid)
        for j in range(3):
            short[j] -= d[j]
    return picked if picked and all(short[j] <= EPS for j in range(3)) else None


def _replace(cluster: Cluster, index: FitIndex, iid: str) -> bool:
    """Best fit for one lifted instance that moves on; False if no open host takes it (the
    caller's undo of the journal then puts it back, wherever it is)."""
    consistent, zone = unit_zone(cluster, [iid])
    t = find_host(cluster, index, [iid], cluster.demand(iid), zone) if consistent else None
    if t is None:
        return False
    cluster.put(iid, t)
    return True
