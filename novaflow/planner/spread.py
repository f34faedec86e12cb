"""spread: lower the hottest host's load, and with it the spread of load, one move at a time.

Load is measured CPU over physical threads when the snapshot has it (hot spots are busy
CPUs, not allocations), else the max over vCPU, RAM and disk of used / usable. Each step
takes the hottest host and makes the single move off it that lowers the pair's peak the
most: the gain is the hottest load minus max(its load after, the target's load after), so
a target never ends hotter than the source was. Targets are the coolest hosts (in the
instance's zone, if it has one). A host with no move worth `min_gain` is set aside and the
next hottest is tried: that hysteresis keeps tiny gains from costing a migration. A pass
stops at the move budget, or once the hottest host is within `SPREAD_TOLERANCE` of the
mean load: beyond that, more migrations buy little.

Two passes are made and the cooler plan kept (fewer moves on a tie). The even pass prefers
targets that stay under that goal, so none turns into a hot host of its own: that evens a
whole cloud out, but it spends its first moves on small instances. The cutting pass takes
the move that cuts the hottest host most wherever the target ends (below the source's old
load): with a small budget that is what lowers the peak most. Each pass is a prefix of its
unbounded self, so neither, nor the better of the two, gets hotter with more budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from novaflow.models import Plan, RebalanceRequest, Snapshot
from novaflow.planner.assemble import build_plan
from novaflow.planner.bounds import cell_block, pinned_zone
from novaflow.planner.common import Methods, moves_from_state, universe, unmovable_summary
from novaflow.planner.constraints import Choice
from novaflow.planner.inputs import check_rebalance
from novaflow.planner.state import EPS, Cluster, CpuLoadIndex, LoadIndex
from novaflow.planner.units import unit_limit_block

SPREAD_TOLERANCE = 1.05
"""Stop once the hottest host's load is at most this multiple of the mean load."""
COOL_CANDIDATES = 6
"""Feasible cool targets compared per instance."""
COOL_SCAN = 24
"""Cool hosts looked at per instance before giving up on it."""


def spread(snapshot: Snapshot, req: RebalanceRequest) -> Plan:
    """Move instances from the hottest hosts to the coolest ones, within the move budget."""
    check_rebalance(snapshot, req)
    cluster = Cluster(snapshot)
    methods = Methods(cluster, req)
    hosts = universe(cluster, req)
    warnings: list[str] = []
    if not hosts:
        warnings.append("no host takes part: every host is down, disabled or excluded")
        return build_plan(cluster, req, [], [], warnings)
    index = CpuLoadIndex(cluster, hosts) if cluster.measured else LoadIndex(cluster, hosts)
    what = "CPU load" if cluster.measured else "load"
    mean = sum(k for k, _ in index.all) / len(hosts)
    goal = mean * SPREAD_TOLERANCE
    budget = req.max_moves
    even = _run(cluster, index, methods, req, goal, goal)
    even_peak = index.all[-1][0]
    _undo(cluster, even.moves)
    cut = _run(cluster, index, methods, req, goal, float("inf"))
    cut_peak = index.all[-1][0]
    chosen = cut
    cooler = cut_peak < even_peak - EPS
    as_cool = cut_peak <= even_peak + EPS
    if not (cooler or (as_cool and len(cut.moves) < len(even.moves))):
        _undo(cluster, cut.moves)
        _redo(cluster, even.moves)
        chosen = even
    hottest = max((k for k, _ in index.all), default=0.0)
    mean = sum(k for k, _ in index.all) / len(hosts)
    if hottest > mean * SPREAD_TOLERANCE + EPS:
        why = (
            f"the move budget of {budget} is spent"
            if budget is not None and len(chosen.moves) >= budget
            else "no further move lowers it enough"
        )
        warnings.append(
            f"hottest host stays at {hottest:.0%} {what} against a mean of {mean:.0%}: {why}"
        )
        note = unmovable_summary(methods, sorted(chosen.set_aside), "they pin load on hot hosts")
        if note:
            warnings.append(note)

    def reason(iid: str, origin: int, target: int) -> str:
        c = methods.get(iid)
        assert isinstance(c, Choice)
        return (
            f"spread: {cluster.names[origin]} is among the hottest; {c.why} to "
            f"{cluster.names[target]} ({index.key[target]:.0%} {what} after)"
        )

    moves = moves_from_state(cluster, methods, reason)
    return build_plan(cluster, req, moves, [], warnings)


@dataclass
class _Pass:
    moves: list[tuple[str, int, int]] = field(default_factory=list)
    """(instance, from, to) in the order the pass made them."""
    set_aside: set[int] = field(default_factory=set)
    """Hosts the pass gave up on: nothing off them gained enough."""


def _run(
    cluster: Cluster,
    index: LoadIndex,
    methods: Methods,
    req: RebalanceRequest,
    goal: float,
    ceiling: float,
) -> _Pass:
    """One pass: off the hottest host, the move that lowers the pair's peak the most,
    preferring targets that stay at or under `ceiling`, until the budget or the goal."""
    min_gain = max(req.min_gain, 1e-6)
    budget = req.max_moves
    out = _Pass()
    set_aside = out.set_aside
    # A host either gives or takes, never both: then no execution order can overfill it
    # on the way (a target only grows towards its planned usage, a source only shrinks).
    gave: set[int] = set()
    took: set[int] = set()
    steps = 0
    step_cap = 4 * len(cluster.instances) + 10
    while steps < step_cap:
        steps += 1
        h = _hottest(index, set_aside)
        if h is None or index.key[h] <= goal + EPS:
            break
        if h in took:
            set_aside.add(h)  # it received instances: moving others off it could overlap
            continue
        if budget is not None and len(out.moves) >= budget:
            break
        best = _best_move(cluster, index, methods, h, min_gain, ceiling, gave)
        if best is None:
            set_aside.add(h)
            continue
        iid, t = best
        gave.add(h)
        took.add(t)
        cluster.lift(iid)
        cluster.put(iid, t)
        out.moves.append((iid, h, t))
    return out


def _undo(cluster: Cluster, moves: list[tuple[str, int, int]]) -> None:
    for iid, h, _t in reversed(moves):
        cluster.lift(iid)
        cluster.put(iid, h)


def _redo(cluster: Cluster, moves: list[tuple[str, int, int]]) -> None:
    for iid, _h, t in moves:
        cluster.lift(iid)
        cluster.put(iid, t)


def _hottest(index: LoadIndex, set_aside: set[int]) -> int | None:
    for i in range(len(index.all) - 1, -1, -1):
        h = index.all[i][1]
        if h not in set_aside:
            return h
    return None


def _best_move(
    cluster: Cluster,
    index: LoadIndex,
    methods: Methods,
    h: int,
    min_gain: float,
    goal: float,
    gave: set[int],
) -> tuple[str, int] | None:
    """The (instance, target) off `h` that lowers max(load h, load target) the most.

    Moves that keep the target at or under `goal` (the pass's ceiling) come first: a target
    pushed above it would become a hot host of its own, one that may not give instances back.
    """
    cur = index.key[h]
    usable = cluster.usable
    free_c, free_r, free_d = cluster.free_c, cluster.free_r, cluster.free_d
    uh = usable[h]
    used_h = (uh[0] - free_c[h], uh[1] - free_r[h], uh[2] - free_d[h])
    cpu = cluster.cpu if cluster.measured else None
    busy, threads = cluster.busy, cluster.threads
    limit = cur - min_gain + EPS
    best_in: tuple[str, int] | None = None  # target stays under the goal
    best_in_peak = limit
    best_any: tuple[str, int] | None = None
    best_any_peak = limit
    for iid in cluster.on_host[h]:
        d = cluster.demand(iid)
        if cpu is not None:
            c = cpu[iid]
            src_after = (busy[h] - c) / threads[h]
        else:
            src_after = _load(used_h[0] - d[0], used_h[1] - d[1], used_h[2] - d[2], uh)
        # Arithmetic first: most instances of a hot host cannot beat the best move so far,
        # and asking whether they may move at all costs more than that check.
        if src_after >= best_in_peak and (best_in is not None or src_after >= best_any_peak):
            continue
        if not methods.movable(iid):
            continue
        zone = pinned_zone(cluster.instances[iid], cluster.snapshot.features)
        looked = found = 0
        for load_t, t in index.ascending(zone):
            if load_t >= best_any_peak and (load_t > goal or load_t >= best_in_peak):
                break
            if t == h or t in gave:
                continue
            looked += 1
            if looked > COOL_SCAN:
                break
            if d[0] > free_c[t] + EPS or d[1] > free_r[t] + EPS or d[2] > free_d[t] + EPS:
                continue
            if cpu is not None:
                tgt_after = (busy[t] + c) / threads[t]
            else:
                ut = usable[t]
                tgt_after = _load(
                    ut[0] - free_c[t] + d[0],
                    ut[1] - free_r[t] + d[1],
                    ut[2] - free_d[t] + d[2],
                    ut,
                )
            peak = max(src_after, tgt_after)
            under = tgt_after <= goal + EPS
            if peak >= (best_in_peak if under else best_any_peak):
                continue
            if _group_blocks(cluster, iid, t):
                continue
            if under:
                best_in, best_in_peak = (iid, t), peak
            else:
                best_any, best_any_peak = (iid, t), peak
            found += 1
            if found >= COOL_CANDIDATES:
                break
    return best_in or best_any


def _group_blocks(cluster: Cluster, iid: str, t: int) -> bool:
    """Hard policies for moving a placed `iid` to `t` (its own count is on its current host),
    and what else Nova would refuse there: another cell, Placement's unit limits."""
    if cluster.cells_known and cell_block(cluster, [iid], t):
        return True
    if cluster.inventories_known and unit_limit_block(cluster, [iid], t):
        return True
    for gid in cluster.groups_of.get(iid, ()):
        pol = cluster.policy[gid]
        if pol == "anti-affinity" and cluster.count[gid].get(t, 0) >= cluster.max_per_host[gid]:
            return True
        if pol == "affinity" and not cluster.count[gid].get(t):
            return True  # Nova's affinity filter takes only a host already holding a member
        if pol == "soft-anti-affinity" and cluster.count[gid].get(t):
            return True  # spread must not create the clustering soft policies ask to avoid
    return False


def _load(c: float, r: float, d: float, u: tuple[float, float, float]) -> float:
    worst = 0.0
    if u[0] > EPS:
        worst = c / u[0]
    if u[1] > EPS and r / u[1] > worst:
        worst = r / u[1]
    if u[2] > EPS and d / u[2] > worst:
        worst = d / u[2]
    return worst
