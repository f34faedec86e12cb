"""drain: plan every instance off the given hosts onto hosts with room, or say why it stays."""

from __future__ import annotations

from collections.abc import Callable

from novaflow.models import DrainRequest, Method, Move, Plan, Skip, Snapshot
from novaflow.planner.assemble import build_plan, capacity, free_total, move, skip
from novaflow.planner.bounds import down_cell_warning
from novaflow.planner.constraints import Choice, Refusal, choose_method
from novaflow.planner.groups import hold_stranded
from novaflow.planner.inputs import check_drain
from novaflow.planner.place import explain_no_room, find_host, fmt_demand, unit_demand, unit_zone
from novaflow.planner.state import EPS, RESOURCE_NAMES, Cluster, Demand, FitIndex


def open_targets(cluster: Cluster, closed: set[int], only: list[str] | None = None) -> list[int]:
    """Hosts that may receive instances: up, enabled, not closed, within `only` if given."""
    pool = range(len(cluster.names)) if not only else [cluster.index[n] for n in only]
    return [h for h in pool if h not in closed and cluster.host_models[h].accepts_instances]


def big_first(cluster: Cluster, units: list[list[str]]) -> list[list[str]]:
    """Units by size relative to an average host, in their largest resource, biggest first:
    big items placed first pack better (first-fit-decreasing)."""
    avg = cluster_avg_usable(cluster)
    inv = [1.0 / a if a > EPS else 0.0 for a in avg]

    def key(unit: list[str]) -> tuple[float, str]:
        n = unit_demand(cluster, unit)
        return (-max(n[0] * inv[0], n[1] * inv[1], n[2] * inv[2]), unit[0])

    return sorted(units, key=key)


def cluster_avg_usable(cluster: Cluster) -> Demand:
    return cluster.avg_usable


def make_units(cluster: Cluster, movable: list[str], leaving: set[int]) -> list[list[str]]:
    """Group instances that must land together (hard affinity) among those leaving."""
    units: list[list[str]] = []
    assigned: set[str] = set()
    movable_set = set(movable)
    for iid in movable:
        if iid in assigned:
            continue
        if cluster.groups_of.get(iid):
            peers = cluster.hard_affinity_peers(iid)
            unit = [p for p in peers if p in movable_set and cluster.where[p] in leaving]
        else:
            unit = [iid]
        assigned.update(unit)
        units.append(unit)
    return units


def shortfall_text(needed: Demand, free: Demand) -> str:
    short = [
        f"{RESOURCE_NAMES[d]} short by {needed[d] - free[d]:g}"
        for d in range(3)
        if needed[d] > free[d] + EPS
    ]
    return ", ".join(short)


def place_units(
    cluster: Cluster,
    index: FitIndex,
    units: list[list[str]],
    fallback_index: FitIndex | None = None,
    find: Callable[[Cluster, FitIndex, list[str], Demand, str | None], int | None] = find_host,
) -> tuple[dict[str, int], dict[str, tuple[str, str]]]:
    """Place lifted units in the given order with `find` choosing each target (best fit by
    default); failures go back to their origin host.

    Returns (instance -> target host, instance -> (reason, remedy) for those left behind).
    """
    placed: dict[str, int] = {}
    failed: dict[str, tuple[str, str]] = {}
    for unit in units:
        need = unit_demand(cluster, unit)
        ok, zone = unit_zone(cluster, unit)
        h = find(cluster, index, unit, need, zone) if ok else None
        if h is None and ok and fallback_index is not None:
            h = find(cluster, fallback_index, unit, need, zone)
        if h is None:
            if ok:
                why = explain_no_room(cluster, fallback_index or index, unit, need, zone)
            else:
                why = (
                    "its affinity group spans availability zones; no host satisfies both",
                    "fix the group's zones, then re-plan",
                )
            for iid in unit:
                o = cluster.origin[iid]
                if o is not None:
                    cluster.put(iid, o)
                failed[iid] = why
            continue
        for iid in unit:
            cluster.put(iid, h)
            placed[iid] = h
    return placed, failed


def preference_tiers(cluster: Cluster, index: FitIndex, req: DrainRequest) -> list[FitIndex]:
    """The open targets split by preference: preferred, then ordinary, then last resort;
    empty when the request states no preference (one best-fit pass over every target)."""
    if not (req.prefer_hosts or req.last_resort_hosts):
        return []
    prefer, last = set(req.prefer_hosts), set(req.last_resort_hosts)
    open_hosts = list(index.key)
    first = [h for h in open_hosts if cluster.names[h] in prefer]
    final = [h for h in open_hosts if cluster.names[h] in last and cluster.names[h] not in prefer]
    taken = set(first) | set(final)
    middle = [h for h in open_hosts if h not in taken]
    return [FitIndex(cluster, hosts) for hosts in (first, middle, final) if hosts]


def first_tier_that_fits(
    tiers: list[FitIndex],
) -> Callable[[Cluster, FitIndex, list[str], Demand, str | None], int | None]:
    """A `find` for place_units: the best fit in the first tier with room for the unit."""

    def find(
        cluster: Cluster, _index: FitIndex, unit: list[str], need: Demand, zone: str | None
    ) -> int | None:
        for tier in tiers:
            h = find_host(cluster, tier, unit, need, zone)
            if h is not None:
                return h
        return None

    return find


def drain(snapshot: Snapshot, req: DrainRequest) -> Plan:
    """Every instance off `req.hosts`, best fit onto hosts with room, or a Skip saying why not."""
    check_drain(snapshot, req)
    cluster = Cluster(snapshot)
    sources = [cluster.index[n] for n in req.hosts]
    leaving = set(sources)
    closed = leaving | {cluster.index[n] for n in req.exclude_hosts}
    index = FitIndex(cluster, open_targets(cluster, closed, req.target_hosts))
    warnings: list[str] = [
        f"target host {n} does not take instances (down or disabled): not used"
        for n in req.target_hosts
        if not cluster.host_models[cluster.index[n]].accepts_instances
    ]
    if req.let_scheduler_choose and req.target_hosts:
        warnings.append(
            "targets are left to Nova's scheduler, which may pick hosts outside target_hosts"
        )
    skips: list[Skip] = []
    choices: dict[str, Choice] = {}
    movable: list[str] = []
    for h in sources:
        ids = list(cluster.on_host[h])
        if not ids:
            warnings.append(f"{cluster.names[h]} has no instances: nothing to move off it")
        for iid in ids:
            c = choose_method(cluster.instances[iid], req.policy, snapshot.features)
            if isinstance(c, Refusal):
                skips.append(skip(cluster, iid, c.reason, c.remedy))
            else:
                choices[iid] = c
                movable.append(iid)
                if snapshot.features.cross_cell_resize and _cold_only(c):
                    cluster.may_leave_cell.add(iid)
    down = down_cell_warning(snapshot.instances, req.hosts)
    if down:
        warnings.append(down)
    units = make_units(cluster, movable, leaving)
    for unit in units:
        for iid in unit:
            cluster.lift(iid)
    units, held, held_warnings = hold_stranded(cluster, units, "drain")
    skips.extend(held)
    warnings.extend(held_warnings)
    movable = [iid for unit in units for iid in unit]
    needed = unit_demand(cluster, movable)
    free = free_total(cluster, list(index.key))
    fits_total = all(needed[d] <= free[d] + EPS for d in range(3))
    names = ", ".join(req.hosts)
    if not fits_total:
        warnings.insert(
            0,
            f"the cloud cannot absorb {names}: needed {fmt_demand(needed)}, free "
            f"{fmt_demand(free)} ({shortfall_text(needed, free)}); some instances stay",
        )
    warnings.extend(_zone_shortfalls(cluster, index, units))
    units = big_first(cluster, units)
    tiers = preference_tiers(cluster, index, req)
    if tiers:
        placed, failed = place_units(cluster, index, units, find=first_tier_that_fits(tiers))
    else:
        placed, failed = place_units(cluster, index, units)
    moves: list[Move] = []
    for unit in units:
        for iid in unit:
            if iid in failed:
                reason, remedy = failed[iid]
                skips.append(skip(cluster, iid, reason, remedy))
                continue
            c = choices[iid]
            h = placed[iid]
            hide = req.let_scheduler_choose or c.scheduler_picks
            src = cluster.instances[iid].host
            if hide:
                where = (
                    "Nova's scheduler picks the host (PCI devices), room checked"
                    if c.scheduler_picks
                    else "Nova's scheduler picks the host, room checked"
                )
            else:
                where = f"to {cluster.names[h]}, the tightest fit with room"
            group = _joins(cluster, iid)
            moves.append(
                move(
                    cluster,
                    iid,
                    None if hide else h,
                    c.method,
                    f"drain {src}: {c.why}{group}, {where}",
                    fallback=c.fallback,
                )
            )
    if failed and fits_total:
        warnings.append(
            f"{len(failed)} instance(s) found no host although the total room suffices "
            "(server groups, zones, cells or fragmentation): see the skips"
        )
    cap = capacity(needed, free, fits_total and not failed)
    return build_plan(cluster, req, moves, skips, warnings, cap=cap)


def _cold_only(c: Choice) -> bool:
    """A cold migration with no live attempt: the one move policy may let leave its cell."""
    return c.method is Method.COLD and c.fallback is None


def _joins(cluster: Cluster, iid: str) -> str:
    """ ", next to its affinity group g" when a hard-affinity group decided the target."""
    for gid in cluster.groups_of.get(iid, ()):
        if cluster.policy[gid] == "affinity" and gid in cluster.placed_groups:
            return f", next to its affinity group {cluster.group_name[gid]}"
    return ""


def _zone_shortfalls(cluster: Cluster, index: FitIndex, units: list[list[str]]) -> list[str]:
    """Warnings for zones whose pinned instances need more than the zone has free."""
    need: dict[str, list[float]] = {}
    for unit in units:
        ok, zone = unit_zone(cluster, unit)
        if ok and zone is not None:
            d = unit_demand(cluster, unit)
            acc = need.setdefault(zone, [0.0, 0.0, 0.0])
            for k in range(3):
                acc[k] += d[k]
    out = []
    for zone, n in sorted(need.items()):
        hosts = [h for _k, h in index.by_zone.get(zone, [])]
        free = free_total(cluster, hosts)
        nd = (n[0], n[1], n[2])
        if any(nd[d] > free[d] + EPS for d in range(3)):
            out.append(
                f"availability zone {zone} cannot absorb the instances pinned to it: needed "
                f"{fmt_demand(nd)}, free {fmt_demand(free)} ({shortfall_text(nd, free)})"
            )
    return out
