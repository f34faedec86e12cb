"""Turning the scratch-pad state into a Plan: moves, skips, usage before/after, order."""

from __future__ import annotations

from novaflow.models import (
    Capacity,
    Method,
    Move,
    Plan,
    PlanRequest,
    Resources,
    Skip,
)
from novaflow.planner.order import order_moves
from novaflow.planner.state import Cluster, Demand


def res(d: Demand) -> Resources:
    return Resources(vcpus=d[0], ram_mb=d[1], disk_gb=d[2])


def skip(cluster: Cluster, iid: str, reason: str, remedy: str) -> Skip:
    inst = cluster.instances[iid]
    return Skip(
        instance_id=iid, instance_name=inst.name, host=inst.host, reason=reason, remedy=remedy
    )


def move(
    cluster: Cluster,
    iid: str,
    target: int | None,
    method: Method,
    reason: str,
    *,
    fallback: Method | None = None,
    priority: int = 0,
    needs_state_reset: bool = False,
) -> Move:
    inst = cluster.instances[iid]
    return Move(
        instance_id=iid,
        instance_name=inst.name,
        source=inst.host or "",
        target=None if target is None else cluster.names[target],
        method=method,
        fallback=fallback,
        reason=reason,
        priority=priority,
        resources=res(cluster.demand(iid)),
        needs_state_reset=needs_state_reset,
    )


def capacity(needed: Demand, free: Demand, fits: bool) -> Capacity:
    return Capacity(needed=res(needed), free=res(free), fits=fits)


def free_total(cluster: Cluster, hosts: list[int]) -> Demand:
    """Room left across `hosts`, counting an overcommitted host as zero, not negative."""
    c = r = d = 0.0
    for h in hosts:
        c += max(0.0, cluster.free_c[h])
        r += max(0.0, cluster.free_r[h])
        d += max(0.0, cluster.free_d[h])
    return (c, r, d)


def build_plan(
    cluster: Cluster,
    request: PlanRequest,
    moves: list[Move],
    skips: list[Skip],
    warnings: list[str],
    *,
    cap: Capacity | None = None,
    emptied: list[str] | None = None,
    shared_storage: bool = False,
) -> Plan:
    """Order the moves, predict the timeline and record per-host usage before and after."""
    hosts = {h.name: h for h in cluster.host_models}
    virtual = {iid: cluster.names[h] for iid, _o, h in cluster.moved() if h is not None}
    ordered, timeline = order_moves(
        moves, hosts, virtual_targets=virtual, shared_storage=shared_storage
    )
    before = {h.name: h.used for h in cluster.host_models}
    # Usage after follows the moves as shown: a move left to Nova's scheduler frees its
    # source but, like its target, its arrival is not shown (the planner only checked room).
    delta: dict[str, list[float]] = {}
    for m in moves:
        d = cluster.demand(m.instance_id)
        src = delta.setdefault(m.source, [0.0, 0.0, 0.0])
        for k in range(3):
            src[k] -= d[k]
        if m.target is not None:
            dst = delta.setdefault(m.target, [0.0, 0.0, 0.0])
            for k in range(3):
                dst[k] += d[k]
    after = dict(before)
    for name, d in delta.items():
        b = before[name]
        after[name] = res((b.vcpus + d[0], b.ram_mb + d[1], b.disk_gb + d[2]))
    return Plan(
        request=request,
        moves=ordered,
        skips=skips,
        usage_before=before,
        usage_after=after,
        capacity=cap,
        warnings=[
            *warnings,
            *cluster.snapshot.ratio_notes(),
            *cluster.snapshot.placement_notes(moves),
        ],
        timeline=timeline,
        emptied_hosts=emptied or [],
    )
