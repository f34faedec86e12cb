"""Choosing a target host for a unit of instances (best fit), and saying why none fits.

A unit is one instance, or the members of a hard-affinity group that must land together.
Best fit (the tightest host that still has room) keeps large holes free for large flavors
and touches few hosts; among the first few tight hosts the score also weighs the other
resources and the soft server-group policies.
"""

from __future__ import annotations

from collections.abc import Iterable

from novaflow.planner.bounds import cell_block, pinned_zone
from novaflow.planner.groups import stranded, stranded_refusal
from novaflow.planner.state import EPS, Cluster, Demand, FitIndex
from novaflow.planner.units import unit_limit_block

TIGHT_CANDIDATES = 4
"""Feasible hosts compared by score before choosing; more costs time for little gain."""
SCAN_LIMIT = 64
"""Feasible hosts looked at while hunting one without a soft-anti-affinity peer."""


def unit_demand(cluster: Cluster, unit: Iterable[str]) -> Demand:
    c = r = d = 0.0
    for iid in unit:
        x = cluster.demand(iid)
        c += x[0]
        r += x[1]
        d += x[2]
    return (c, r, d)


def unit_zone(cluster: Cluster, unit: Iterable[str]) -> tuple[bool, str | None]:
    """(consistent, zone): the zone every pinned member needs, or (False, None) on conflict."""
    zone: str | None = None
    features = cluster.snapshot.features
    for iid in unit:
        z = pinned_zone(cluster.instances[iid], features)
        if z is None:
            continue
        if zone is not None and z != zone:
            return False, None
        zone = z
    return True, zone


def _required(cluster: Cluster, unit: list[str]) -> set[int] | None:
    req: set[int] | None = None
    for iid in unit:
        r = cluster.required_hosts(iid)
        if r is not None:
            req = r if req is None else req & r
    return req


def _blocked(cluster: Cluster, unit: list[str], h: int) -> str | None:
    """Why Nova would refuse host `h` for `unit` though it has the room (None: it would not):
    server groups, the cell, Placement's unit limits."""
    for iid in unit:
        why = cluster.group_block(iid, h)
        if why:
            return why
    if cluster.cpu_ceiling is not None:
        why = cluster.cpu_block(unit, h)
        if why:
            return why
    if cluster.cells_known:
        why = cell_block(cluster, unit, h)
        if why:
            return why
    if cluster.inventories_known:
        return unit_limit_block(cluster, unit, h)
    return None


def find_host(
    cluster: Cluster, index: FitIndex, unit: list[str], need: Demand, zone: str | None
) -> int | None:
    """Best-fit open host for the lifted `unit` that keeps hard policies and the zone."""
    req = _required(cluster, unit)
    if req is not None:
        cands: Iterable[int] = sorted(
            h for h in req if h in index and (zone is None or cluster.zone[h] == zone)
        )
    else:
        soft = [
            h
            for iid in unit
            for h in cluster.soft_affinity_hosts(iid)
            if h in index and (zone is None or cluster.zone[h] == zone)
        ]
        cands = index.candidates(need, zone)
        if soft:
            cands = [*soft, *cands]
    usable = cluster.usable
    free_c, free_r, free_d = cluster.free_c, cluster.free_r, cluster.free_d
    n0, n1, n2 = need
    best: int | None = None
    best_score = 0.0
    clean = seen = 0
    for h in cands:
        if n0 > free_c[h] + EPS or n1 > free_r[h] + EPS or n2 > free_d[h] + EPS:
            continue
        if _blocked(cluster, unit, h):
            continue
        u = usable[h]
        score = 0.0
        if u[0] > EPS:
            score += (free_c[h] - n0) / u[0]
        if u[1] > EPS:
            score += (free_r[h] - n1) / u[1]
        if u[2] > EPS:
            score += (free_d[h] - n2) / u[2]
        penalty = 0.0
        for iid in unit:
            penalty += cluster.soft_score(iid, h)
        score += 4.0 * penalty
        if best is None or score < best_score - 1e-12:
            best, best_score = h, score
        seen += 1
        if penalty <= 0:
            clean += 1
        if clean >= TIGHT_CANDIDATES or seen >= SCAN_LIMIT:
            break
    return best


def fmt_demand(d: Demand) -> str:
    return f"{d[0]:g} vCPU / {d[1]:g} MiB RAM / {d[2]:g} GiB disk"


def explain_no_room(
    cluster: Cluster, index: FitIndex, unit: list[str], need: Demand, zone: str | None
) -> tuple[str, str]:
    """(reason, remedy) for a unit find_host could not place, with the numbers."""
    what = fmt_demand(need)
    together = f" (affinity group of {len(unit)} moves together)" if len(unit) > 1 else ""
    req = _required(cluster, unit)
    if req is not None and not req:
        return stranded_refusal(cluster, stranded(cluster, unit) or "", "rebalance")
    if req is not None:
        names = ", ".join(sorted(cluster.names[h] for h in req))
        group = _affinity_group_name(cluster, unit)
        if not any(h in index for h in req):
            return (
                f"affinity group {group}: its peers stay on {names}, which takes no new "
                f"instances, and Nova places a member only where another one runs{together}",
                f"deal with the members on {names} first (their skips say how), or enable that "
                "host if it is only disabled, then re-plan",
            )
        h = min(req)
        if cluster.fits(need, h):
            why = _blocked(cluster, unit, h) or f"its zone {zone} is not that host's zone"
            return (
                f"affinity group {group}: its peers are on {names}, ruled out by {why}",
                f"Nova allows no other host for it: lift that limit on {names}, or leave it "
                "where it is",
            )
        return (
            f"affinity group {group}: it must join its peers on {names}, which has "
            f"{fmt_demand(cluster.free(h))} free, not {what}{together}",
            f"free room on {names} (move instances outside the group off it), then re-plan",
        )
    in_zone = [h for _, h in (index.by_zone.get(zone, []) if zone else index.all)]
    room = [h for h in in_zone if cluster.fits(need, h)]
    if room:
        whys = [_blocked(cluster, unit, h) for h in room]
        why = next((w for w in whys if w), None) or "its server group"
        if why.startswith("cell "):
            others = ", ".join(sorted(cluster.names[h] for h in room)[:3])
            return (
                f"no host in its {why.split(' (')[0]} has room for {what}{together}; Nova keeps "
                f"live migrations and evacuations inside a cell, and {others} (with room) are "
                "in another",
                "free room in that cell (enable a host, drain fewer hosts at once)",
            )
        if not why.startswith(("affinity", "anti-affinity")):
            return (
                f"Placement refuses it on every host with room ({why}){together}",
                "move it to a host whose inventory allows the flavor, or resize it to a "
                "smaller flavor, then re-plan",
            )
        return (
            f"{why}: every host with room for {what} already holds a member{together}",
            "add a host, or relax the group to a soft policy, then re-plan",
        )
    if zone is not None:
        elsewhere = [h for _, h in index.all if cluster.fits(need, h)]
        if elsewhere:
            return (
                f"no host in its availability zone {zone} has room for {what}{together}",
                f"free room in zone {zone} (enable a host, drain fewer hosts at once)",
            )
    best = _roomiest(cluster, index, zone)
    if best is None:
        return (
            f"no host accepts instances{' in zone ' + zone if zone else ''}{together}",
            "enable a compute service or add hosts, then re-plan",
        )
    return (
        f"no host has room for {what}{together}; the roomiest, {cluster.names[best]}, "
        f"has {fmt_demand(cluster.free(best))} free",
        "free room first (enable a host, raise allocation ratios, drain fewer hosts at once)",
    )


def _affinity_group_name(cluster: Cluster, unit: list[str]) -> str:
    for iid in unit:
        for gid in cluster.groups_of.get(iid, ()):
            if cluster.policy[gid] == "affinity":
                return cluster.group_name[gid]
    return "?"


def _roomiest(cluster: Cluster, index: FitIndex, zone: str | None) -> int | None:
    lst = index.by_zone.get(zone, []) if zone else index.all
    return lst[-1][1] if lst else None
