"""Choosing evacuation targets that share out the rebuilds, so a failed node recovers fast.

A compute node runs only so many rebuilds at once (Nova's ``max_concurrent_builds``), so
time to recover is set by the target with the most rebuilds queued. Among the hosts with
room that keep the hard server-group policies and the zone, the one with the fewest
rebuilds planned so far wins; soft server-group policies still come before the spread
(the owner asked for them), and the tightest fit breaks ties so large holes stay free.
"""

from __future__ import annotations

from collections.abc import Iterable

from novaflow.planner.place import TIGHT_CANDIDATES, _blocked, _required
from novaflow.planner.state import EPS, Cluster, Demand, FitIndex


class RebuildSpreader:
    """A `find_host` for place_units that counts the rebuilds it plans per target."""

    def __init__(self) -> None:
        self.planned: dict[int, int] = {}

    def __call__(
        self, cluster: Cluster, index: FitIndex, unit: list[str], need: Demand, zone: str | None
    ) -> int | None:
        h = self._pick(cluster, index, unit, need, zone)
        if h is not None:
            self.planned[h] = self.planned.get(h, 0) + len(unit)
        return h

    def _pick(
        self, cluster: Cluster, index: FitIndex, unit: list[str], need: Demand, zone: str | None
    ) -> int | None:
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
        best_key = (0.0, 0, 0.0)
        idle_clean = 0
        for h in cands:
            if n0 > free_c[h] + EPS or n1 > free_r[h] + EPS or n2 > free_d[h] + EPS:
                continue
            if _blocked(cluster, unit, h):
                continue
            penalty = sum(cluster.soft_score(iid, h) for iid in unit)
            u = usable[h]
            fit = 0.0
            if u[0] > EPS:
                fit += (free_c[h] - n0) / u[0]
            if u[1] > EPS:
                fit += (free_r[h] - n1) / u[1]
            if u[2] > EPS:
                fit += (free_d[h] - n2) / u[2]
            planned = self.planned.get(h, 0)
            key = (penalty, planned, fit)
            if best is None or key < best_key:
                best, best_key = h, key
            # Candidates come tightest first (soft-affinity hosts before them): after a few
            # clean hosts with nothing planned, later ones could only fit a little tighter,
            # and a big cloud is not scanned to the end for that.
            if penalty <= 0 and planned == 0:
                idle_clean += 1
                if idle_clean >= TIGHT_CANDIDATES:
                    break
        return best
