"""rebalance: dispatch to the consolidate, spread or proximity strategy, and show the load."""

from __future__ import annotations

from novaflow.models import Plan, RebalanceRequest, Snapshot
from novaflow.planner.consolidate import consolidate
from novaflow.planner.metrics import has_measured_load, plan_loads
from novaflow.planner.proximity import proximity
from novaflow.planner.spread import spread

ALLOCATION_NOTE = (
    "no measured CPU load in the snapshot: planned on allocation (the highest of vCPU, RAM "
    "and disk used over usable), which can leave a busy host as busy as it was"
)


def rebalance(snapshot: Snapshot, req: RebalanceRequest) -> Plan:
    """Plan a rebalance with the strategy the request names."""
    if req.strategy == "consolidate":
        plan = consolidate(snapshot, req)
    elif req.strategy == "spread":
        plan = spread(snapshot, req)
    else:
        plan = proximity(snapshot, req)
    return with_load(snapshot, plan)


def with_load(snapshot: Snapshot, plan: Plan) -> Plan:
    """The plan with each host's load before and after it, and what that load is.

    Without measured load the plan says it went by allocation, with the telemetry's own
    note (which server did not answer) when the snapshot has one.
    """
    measured = has_measured_load(snapshot)
    warnings = list(plan.warnings)
    if not measured:
        note = snapshot.load.note if snapshot.load is not None and snapshot.load.note else ""
        warnings.append(f"{note}; {ALLOCATION_NOTE}" if note else ALLOCATION_NOTE)
    return plan.model_copy(
        update={
            "load_basis": "cpu" if measured else "allocation",
            "load_before": plan_loads(snapshot),
            "load_after": plan_loads(snapshot, plan),
            "warnings": warnings,
        }
    )
