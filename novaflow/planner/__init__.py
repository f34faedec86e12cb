"""The planner: pure functions from a Snapshot and a request to a Plan (no I/O).

`plan(snapshot, request)` dispatches on the request's kind: drain (maintenance), evacuate
(a failed host) or rebalance (consolidate, spread, proximity). Every Move and Skip carries
a one-line reason; `violations` re-checks any plan independently of how it was made.
"""

from __future__ import annotations

from novaflow.models import (
    DrainRequest,
    EvacuateRequest,
    Plan,
    PlanRequest,
    RebalanceRequest,
    Snapshot,
)
from novaflow.planner.constraints import (
    Choice,
    Evacuation,
    Mobility,
    Refusal,
    choose_method,
    evacuation,
    mobility,
)
from novaflow.planner.drain import drain
from novaflow.planner.evacuate import evacuate
from novaflow.planner.metrics import ffd_repack, host_loads, lower_bound_hosts
from novaflow.planner.order import estimate_seconds, makespan, order_moves
from novaflow.planner.quiet_gc import collector_paused
from novaflow.planner.rebalance import rebalance
from novaflow.planner.validate import violations

__all__ = [
    "Choice",
    "Evacuation",
    "Mobility",
    "Refusal",
    "choose_method",
    "drain",
    "estimate_seconds",
    "evacuate",
    "evacuation",
    "ffd_repack",
    "host_loads",
    "lower_bound_hosts",
    "makespan",
    "mobility",
    "order_moves",
    "plan",
    "rebalance",
    "violations",
]


def plan(snapshot: Snapshot, request: PlanRequest) -> Plan:
    """The plan for `request` on `snapshot`; raises BadRequest on input it cannot act on."""
    if not isinstance(request, DrainRequest | EvacuateRequest | RebalanceRequest):
        raise TypeError(f"not a plan request: {type(request).__name__}")
    with collector_paused():  # see quiet_gc: planning makes no cycles, the snapshot is big
        if isinstance(request, DrainRequest):
            return drain(snapshot, request)
        if isinstance(request, EvacuateRequest):
            return evacuate(snapshot, request)
        return rebalance(snapshot, request)
