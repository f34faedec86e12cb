"""consolidate: empty as many hosts as possible with as few moves as possible.

Hosts are tried smallest first (capacity relative to an average host), the least loaded
first among equal sizes, so the big hosts are the ones kept. A try lifts every instance of
the host and places them best-fit, biggest first, on the other hosts still in use; when
one finds no room, room is made where the plan itself brought instances that can move on
(planner/eject.py); if that fails too, the try is rolled back and the host stays. Best fit
fills the fullest hosts, which are the last ones anybody would try to empty, so few
instances move twice; when one does, the plan still migrates it once, from where it is now
to where it ends.
"""

from __future__ import annotations

from novaflow.models import Plan, RebalanceRequest, Snapshot
from novaflow.planner.assemble import build_plan
from novaflow.planner.common import Methods, moves_from_state, universe, unmovable_summary
from novaflow.planner.constraints import Choice
from novaflow.planner.drain import big_first, cluster_avg_usable, make_units
from novaflow.planner.eject import Hopeless, Journal, make_room, undo
from novaflow.planner.inputs import check_rebalance
from novaflow.planner.place import find_host, unit_demand, unit_zone
from novaflow.planner.state import EPS, Cluster, FitIndex


def consolidate(snapshot: Snapshot, req: RebalanceRequest) -> Plan:
    """Empty hosts, least loaded first, within `req.max_moves` migrations."""
    check_rebalance(snapshot, req)
    cluster = Cluster(snapshot)
    methods = Methods(cluster, req)
    hosts = universe(cluster, req)
    # Hosts empty already stay empty: they take nothing.
    in_use = [h for h in hosts if cluster.on_host[h]]
    already_empty = [cluster.names[h] for h in hosts if not cluster.on_host[h]]
    index = FitIndex(cluster, in_use)
    avg = cluster_avg_usable(cluster)
    inv = [1.0 / a if a > EPS else 0.0 for a in avg]

    def held(h: int) -> tuple[float, float, int]:
        used = cluster.used(h)
        u = cluster.usable[h]
        return (
            max(used[0] * inv[0], used[1] * inv[1], used[2] * inv[2]),
            u[0] * inv[0] + u[1] * inv[1] + u[2] * inv[2],
            len(cluster.on_host[h]),
        )

    budget = req.max_moves
    migrations = 0
    over_budget = False
    emptied: list[int] = []
    blocked: list[int] = []
    hopeless = Hopeless()
    for h in sorted(in_use, key=lambda h: (held(h)[1], held(h)[0], held(h)[2])):
        ids = list(cluster.on_host[h])
        if not all(methods.movable(i) for i in ids):
            blocked.append(h)
            continue
        new = sum(1 for i in ids if cluster.origin[i] == h)
        if budget is not None and migrations + new > budget:
            over_budget = True
            continue
        if _try_empty(cluster, index, h, ids, hopeless):
            emptied.append(h)
            migrations += new
    warnings: list[str] = []
    note = unmovable_summary(methods, blocked, "their hosts stay in use")
    if note:
        warnings.append(note)
    if over_budget:
        warnings.append(
            f"move budget of {budget} migrations stops the plan: more hosts could be emptied "
            "with a larger max_moves"
        )
    if already_empty:
        shown = ", ".join(already_empty[:10]) + (" ..." if len(already_empty) > 10 else "")
        warnings.append(f"{len(already_empty)} host(s) were empty already: {shown}")
    emptied_names = {cluster.names[h] for h in emptied}

    def reason(iid: str, origin: int, target: int) -> str:
        c = methods.get(iid)
        assert isinstance(c, Choice)
        src = cluster.names[origin]
        why = f"empties {src}" if src in emptied_names else f"leaves {src}"
        return f"consolidate: {why}; {c.why} to {cluster.names[target]}, the tightest fit"

    moves = moves_from_state(cluster, methods, reason)
    names = [cluster.names[h] for h in emptied]
    return build_plan(cluster, req, moves, [], warnings, emptied=names)


def _try_empty(
    cluster: Cluster, index: FitIndex, h: int, ids: list[str], hopeless: Hopeless
) -> bool:
    """Move everything off `h` onto the other open hosts, or change nothing and say False."""
    index.close(h)
    if not index.could_fill(unit_demand(cluster, ids)):  # cheap: most failed tries end here
        index.open(h)
        return False
    units = make_units(cluster, ids, {h})
    journal: Journal = []
    for unit in units:
        for iid in unit:
            journal.append((iid, h))
            cluster.lift(iid)
    for unit in big_first(cluster, units):
        need = unit_demand(cluster, unit)
        consistent, zone = unit_zone(cluster, unit)
        if not consistent:
            break
        t = find_host(cluster, index, unit, need, zone)
        if t is None:
            t = make_room(cluster, index, unit, need, zone, journal, hopeless)
        if t is None:
            break
        for iid in unit:
            cluster.put(iid, t)
    else:
        return True
    undo(cluster, journal, 0)
    index.open(h)
    return False
