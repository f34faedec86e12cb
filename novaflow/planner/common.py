"""Shared pieces of the rebalance strategies: which hosts take part, which instances may move."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from novaflow.models import Method, Move, RebalanceRequest
from novaflow.planner.assemble import move
from novaflow.planner.constraints import Choice, Refusal, choose_method
from novaflow.planner.state import Cluster


def universe(cluster: Cluster, req: RebalanceRequest) -> list[int]:
    """Hosts a rebalance works on: up, enabled and not excluded (they give and take)."""
    excluded = {cluster.index[n] for n in req.exclude_hosts}
    return [
        h for h, hm in enumerate(cluster.host_models) if h not in excluded and hm.accepts_instances
    ]


class Methods:
    """choose_method per instance, computed once (rebalance asks about the same ones often)."""

    def __init__(self, cluster: Cluster, req: RebalanceRequest) -> None:
        self.cluster = cluster
        self.req = req
        self.cache: dict[str, Choice | Refusal] = {}

    def get(self, iid: str) -> Choice | Refusal:
        c = self.cache.get(iid)
        if c is None:
            inst = self.cluster.instances[iid]
            c = self.cache[iid] = choose_method(
                inst, self.req.policy, self.cluster.snapshot.features
            )
        return c

    def movable(self, iid: str) -> bool:
        c = self.get(iid)
        # PCI instances need Nova to pick a host with the device: rebalance cannot aim them.
        return isinstance(c, Choice) and not c.scheduler_picks

    def why_not(self, iid: str) -> str:
        c = self.get(iid)
        if isinstance(c, Refusal):
            return c.reason
        return "PCI device: only Nova's scheduler can choose its host"


def unmovable_summary(methods: Methods, hosts: list[int], what: str) -> str | None:
    """One warning line: how many instances on `hosts` cannot move, grouped by reason."""
    cluster = methods.cluster
    reasons: Counter[str] = Counter()
    blocked_hosts = 0
    for h in hosts:
        stuck = [i for i in cluster.on_host[h] if not methods.movable(i)]
        if stuck:
            blocked_hosts += 1
        for i in stuck:
            reasons[methods.why_not(i).split(":")[0]] += 1
    if not reasons:
        return None
    top = ", ".join(f"{r}: {n}" for r, n in reasons.most_common(4))
    return (
        f"{sum(reasons.values())} instance(s) on {blocked_hosts} host(s) cannot move ({top}); "
        f"{what}"
    )


def moves_from_state(
    cluster: Cluster, methods: Methods, reason: Callable[[str, int, int], str]
) -> list[Move]:
    """A Move for every instance whose host in the plan differs from where it is now."""
    out: list[Move] = []
    for iid, origin, h in cluster.moved():
        if origin is None or h is None:
            continue
        c = methods.get(iid)
        assert isinstance(c, Choice)
        out.append(
            move(
                cluster,
                iid,
                h,
                c.method,
                reason(iid, origin, h),
                fallback=c.fallback if c.method is Method.LIVE else None,
            )
        )
    return out
