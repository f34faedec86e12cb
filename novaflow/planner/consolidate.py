"""consolidate: empty as many hosts as possible with as few moves as possible.

Hosts are tried smallest first (capacity relative to an average host), the least loaded
first among equal sizes, so the big hosts are the ones kept. A try lifts every instance of
the host and places them best-fit, biggest first, on the other hosts still in use; when
one finds no room, room is made where the plan itself brought instances that can move on
(planner/eject.py); if that fails too, the try is rolled back and the host stays. Best fit
fills the fullest hosts, which are the last ones anybody would try to empty, so few
instances move twice; when one does, the plan still migrates it once, from where it is now
to where it ends.

With measured load no host is filled past `cpu_ceiling` of its physical threads (a hot host
that is already past it only gives), and among hosts of one size the least busy are tried
first. A move budget stops a run, it never steers it: see `consolidate`.
"""

from __future__ import annotations

from bisect import bisect_right

from novaflow.models import Plan, RebalanceRequest, Snapshot
from novaflow.planner.assemble import build_plan
from novaflow.planner.common import Methods, moves_from_state, universe, unmovable_summary
from novaflow.planner.constraints import Choice
from novaflow.planner.drain import big_first, cluster_avg_usable, make_units
from novaflow.planner.eject import Hopeless, Journal, make_room, undo
from novaflow.planner.inputs import check_rebalance
from novaflow.planner.place import find_host, unit_demand, unit_zone
from novaflow.planner.state import EPS, Cluster, Demand, FitIndex


def consolidate(snapshot: Snapshot, req: RebalanceRequest) -> Plan:
    """Empty hosts within `req.max_moves` migrations, never filling one past the CPU ceiling.

    A budget takes the longest prefix of an unbounded run that fits it, from whichever of
    two runs empties more hosts with it: hosts tried smallest first (the run that reaches
    the fewest hosts when nothing bounds it) or cheapest first (fewest instances to move,
    the most hosts per migration). A prefix of a run that ignores the budget can only grow
    with a bigger budget, so more budget never gives a plan with more hosts in use.
    """
    check_rebalance(snapshot, req)
    budget = req.max_moves
    orders = ("size",) if budget is None else ("size", "cost")
    runs = [_Run(snapshot, req, order) for order in orders]
    for r in runs:
        r.go(budget)
    run, k = max(
        ((r, r.longest_within(budget)) for r in runs),
        key=lambda rk: (rk[1], -rk[0].migrations_at(rk[1]), -orders.index(rk[0].order)),
    )
    # More hosts could be emptied only if a run, let go on past the budget, empties more.
    nxt = run.migrations_at(k + 1) if len(run.events) > k else None
    for r in runs:
        if nxt is None and r is not run and not r.done:
            r.go(None)
            nxt = r.migrations_at(k + 1) if len(r.events) > k else None
    run.keep(k)
    run.go_blocked()
    cluster, methods = run.cluster, run.methods
    warnings: list[str] = []
    note = unmovable_summary(methods, run.blocked, "their hosts stay in use")
    if note:
        warnings.append(note)
    if nxt is not None:
        warnings.append(
            f"move budget of {budget} migrations stops the plan: more hosts could be emptied "
            f"with a larger max_moves (the next one at {nxt})"
        )
    if run.ceiling_stops:
        warnings.append(
            f"{run.ceiling_stops} host(s) stay in use because emptying them would fill another "
            f"past the CPU ceiling of {req.cpu_ceiling:.0%} of its threads"
        )
    if run.already_empty:
        shown = ", ".join(run.already_empty[:10]) + (" ..." if len(run.already_empty) > 10 else "")
        warnings.append(f"{len(run.already_empty)} host(s) were empty already: {shown}")
    emptied = [h for h, _mark, _mig in run.events[:k]]
    emptied_names = {cluster.names[h] for h in emptied}
    fit = "the tightest fit under the CPU ceiling" if cluster.measured else "the tightest fit"

    def reason(iid: str, origin: int, target: int) -> str:
        c = methods.get(iid)
        assert isinstance(c, Choice)
        src = cluster.names[origin]
        why = f"empties {src}" if src in emptied_names else f"leaves {src}"
        return f"consolidate: {why}; {c.why} to {cluster.names[target]}, {fit}"

    moves = moves_from_state(cluster, methods, reason)
    names = [cluster.names[h] for h in emptied]
    return build_plan(cluster, req, moves, [], warnings, emptied=names)


class _Run:
    """One consolidation run in a fixed order of hosts, which a budget only stops, never
    steers; journalled so that a prefix of it can be kept."""

    def __init__(self, snapshot: Snapshot, req: RebalanceRequest, order: str) -> None:
        self.order = order
        cluster = self.cluster = Cluster(snapshot)
        if cluster.measured:
            cluster.cpu_ceiling = req.cpu_ceiling
        self.methods = Methods(cluster, req)
        hosts = universe(cluster, req)
        # Hosts empty already stay empty: they take nothing.
        in_use = [h for h in hosts if cluster.on_host[h]]
        self.already_empty = [cluster.names[h] for h in hosts if not cluster.on_host[h]]
        self.index = FitIndex(cluster, in_use)
        avg = cluster_avg_usable(cluster)
        inv = [1.0 / a if a > EPS else 0.0 for a in avg]
        self.blocked: list[int] = []
        self.events: list[tuple[int, int, int]] = []
        """(host emptied, journal length after it, migrations so far) per emptied host."""
        self.ceiling_stops = 0
        self.journal: Journal = []
        self.hopeless = Hopeless()
        self.migrations = 0

        def held(h: int) -> float:
            if cluster.measured:
                return cluster.cpu_load(h)
            used = cluster.used(h)
            return max(used[0] * inv[0], used[1] * inv[1], used[2] * inv[2])

        def size(h: int) -> float:
            u = cluster.usable[h]
            return u[0] * inv[0] + u[1] * inv[1] + u[2] * inv[2]

        if order == "size":
            key = {h: (size(h), held(h), len(cluster.on_host[h])) for h in in_use}
        else:
            key = {h: (len(cluster.on_host[h]), size(h), held(h)) for h in in_use}
        self.order_of_hosts = sorted(in_use, key=key.__getitem__)
        self.next = 0

    @property
    def done(self) -> bool:
        return self.next >= len(self.order_of_hosts)

    def go(self, limit: int | None) -> None:
        """Empty hosts in order until one takes the run past `limit` migrations (that one
        is kept, so the caller knows more could be emptied) or no host is left."""
        cluster, methods = self.cluster, self.methods
        while not self.done:
            h = self.order_of_hosts[self.next]
            self.next += 1
            ids = list(cluster.on_host[h])
            if not all(methods.movable(i) for i in ids):
                self.blocked.append(h)
                continue
            # Only instances that started here cost a migration: any other was brought
            # by the plan and still migrates once, from its origin to where it ends.
            new = sum(1 for i in ids if cluster.origin[i] == h)
            result = _try_empty(cluster, self.index, h, ids, self.hopeless, self.journal)
            if result is True:
                self.migrations += new
                self.events.append((h, len(self.journal), self.migrations))
                if limit is not None and self.migrations > limit:
                    return
            elif result == "ceiling":
                self.ceiling_stops += 1

    def go_blocked(self) -> None:
        """Find the hosts with unmovable instances among those the run did not reach."""
        methods = self.methods
        for h in self.order_of_hosts[self.next :]:
            if not all(methods.movable(i) for i in self.cluster.on_host[h]):
                self.blocked.append(h)
        self.next = len(self.order_of_hosts)

    def migrations_at(self, k: int) -> int:
        """Migrations of the prefix that empties the first `k` hosts."""
        return self.events[k - 1][2] if k > 0 else 0

    def longest_within(self, budget: int | None) -> int:
        """Hosts emptied by the longest prefix within `budget` migrations."""
        if budget is None:
            return len(self.events)
        return bisect_right([mig for _h, _mark, mig in self.events], budget)

    def keep(self, k: int) -> None:
        """Undo every host emptied after the first `k`."""
        undo(self.cluster, self.journal, self.events[k - 1][1] if k > 0 else 0)
        self.index.detach()


def _try_empty(
    cluster: Cluster,
    index: FitIndex,
    h: int,
    ids: list[str],
    hopeless: Hopeless,
    journal: Journal,
) -> bool | str:
    """Move everything off `h` onto the other open hosts, or change nothing and say False
    ("ceiling" when the CPU ceiling, not room, stopped it)."""
    index.close(h)
    if not index.could_fill(unit_demand(cluster, ids)):  # cheap: most failed tries end here
        index.open(h)
        return False
    mark = len(journal)
    units = make_units(cluster, ids, {h})
    for unit in units:
        for iid in unit:
            journal.append((iid, h))
            cluster.lift(iid)
    failed: bool | str = False
    for unit in big_first(cluster, units):
        need = unit_demand(cluster, unit)
        consistent, zone = unit_zone(cluster, unit)
        if not consistent:
            break
        t = find_host(cluster, index, unit, need, zone)
        if t is None:
            t = make_room(cluster, index, unit, need, zone, journal, hopeless)
        if t is not None and cluster.cpu_block(unit, t):
            t = None  # room was made on a host the unit would push past the ceiling
        if t is None:
            if cluster.cpu_ceiling is not None and _ceiling_only(cluster, index, unit, need):
                failed = "ceiling"
            break
        for iid in unit:
            cluster.put(iid, t)
    else:
        return True
    undo(cluster, journal, mark)
    index.open(h)
    return failed


def _ceiling_only(cluster: Cluster, index: FitIndex, unit: list[str], need: Demand) -> bool:
    """Some open host has the room for `unit` and only the CPU ceiling refuses it."""
    for h in index.candidates(need, None):
        if cluster.fits(need, h) and cluster.cpu_block(unit, h):
            return True
    return False
