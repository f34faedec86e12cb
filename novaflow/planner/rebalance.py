"""rebalance: dispatch to the consolidate, spread or proximity strategy."""

from __future__ import annotations

from novaflow.models import Plan, RebalanceRequest, Snapshot
from novaflow.planner.consolidate import consolidate
from novaflow.planner.proximity import proximity
from novaflow.planner.spread import spread


def rebalance(snapshot: Snapshot, req: RebalanceRequest) -> Plan:
    """Plan a rebalance with the strategy the request names."""
    if req.strategy == "consolidate":
        return consolidate(snapshot, req)
    if req.strategy == "spread":
        return spread(snapshot, req)
    return proximity(snapshot, req)
