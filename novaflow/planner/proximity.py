"""proximity: move the chosen instances (project, metadata, name) onto a target set of hosts."""

from __future__ import annotations

from novaflow.errors import BadRequest
from novaflow.models import Instance, Move, Plan, RebalanceRequest, Skip, Snapshot
from novaflow.planner.assemble import build_plan, move, skip
from novaflow.planner.common import Methods, universe
from novaflow.planner.constraints import Choice, Refusal
from novaflow.planner.drain import big_first, make_units, place_units
from novaflow.planner.inputs import check_rebalance
from novaflow.planner.state import Cluster, FitIndex


def selected(inst: Instance, req: RebalanceRequest) -> bool:
    """Every selector given must match: project, all metadata pairs, a name substring."""
    if req.select_project and inst.project_id != req.select_project:
        return False
    md = inst.metadata
    if any(md.get(k) != v for k, v in req.select_metadata.items()):
        return False
    return not (req.select_name and req.select_name not in inst.name)


def target_set(cluster: Cluster, req: RebalanceRequest) -> list[int]:
    """Hosts named, in the aggregate and in the zone (each given one narrows the set)."""
    hosts = universe(cluster, req)
    if req.target_hosts:
        named = {cluster.index[n] for n in req.target_hosts}
        hosts = [h for h in hosts if h in named]
    if req.target_aggregate:
        hosts = [h for h in hosts if req.target_aggregate in cluster.host_models[h].aggregates]
    if req.target_zone:
        hosts = [h for h in hosts if cluster.zone[h] == req.target_zone]
    return hosts


def _describe(req: RebalanceRequest) -> str:
    parts = []
    if req.target_hosts:
        parts.append("hosts " + ", ".join(req.target_hosts))
    if req.target_aggregate:
        parts.append(f"aggregate {req.target_aggregate}")
    if req.target_zone:
        parts.append(f"zone {req.target_zone}")
    return " in ".join(parts)


def proximity(snapshot: Snapshot, req: RebalanceRequest) -> Plan:
    """Bring the selected instances onto the target hosts, biggest first, within max_moves."""
    check_rebalance(snapshot, req)
    cluster = Cluster(snapshot)
    methods = Methods(cluster, req)
    targets = target_set(cluster, req)
    dest = _describe(req)
    if not targets:
        raise BadRequest(
            f"no host of {dest} takes instances (all down, disabled or excluded)",
            "enable a host there or choose other targets",
        )
    target_set_ = set(targets)
    excluded = {cluster.index[n] for n in req.exclude_hosts}
    warnings: list[str] = []
    skips: list[Skip] = []
    chosen = [i for i in snapshot.instances if i.host and selected(i, req)]
    if not chosen:
        warnings.append("no instance matches the selection: nothing to move")
    in_place = 0
    movable: list[str] = []
    for inst in chosen:
        h = cluster.index.get(inst.host or "")
        if h in target_set_:
            in_place += 1
            continue
        if h is None or h in excluded:
            skips.append(
                skip(
                    cluster,
                    inst.id,
                    f"its host {inst.host} is excluded from this run",
                    "run again without excluding it",
                )
            )
            continue
        c = methods.get(inst.id)
        if isinstance(c, Refusal):
            skips.append(skip(cluster, inst.id, c.reason, c.remedy))
            continue
        if c.scheduler_picks:
            skips.append(
                skip(
                    cluster,
                    inst.id,
                    "PCI device: only Nova's scheduler can pick a host with it, not a target set",
                    "detach the device, or move it by hand to a target host that has one",
                )
            )
            continue
        movable.append(inst.id)
    if in_place:
        warnings.append(f"{in_place} selected instance(s) already run on {dest}")
    sources = {cluster.where[i] for i in movable if cluster.where[i] is not None}
    units = big_first(cluster, make_units(cluster, movable, {h for h in sources if h is not None}))
    if req.max_moves is not None:
        kept: list[list[str]] = []
        used = 0
        for unit in units:
            if used + len(unit) <= req.max_moves:
                kept.append(unit)
                used += len(unit)
                continue
            for iid in unit:
                skips.append(
                    skip(
                        cluster,
                        iid,
                        f"move budget of {req.max_moves} migrations reached",
                        "raise max_moves or run the plan again afterwards",
                    )
                )
        units = kept
    index = FitIndex(cluster, targets)
    for unit in units:
        for iid in unit:
            cluster.lift(iid)
    placed, failed = place_units(cluster, index, units)
    moves: list[Move] = []
    for unit in units:
        for iid in unit:
            if iid in failed:
                reason, remedy = failed[iid]
                skips.append(skip(cluster, iid, reason, remedy))
                continue
            c = methods.get(iid)
            assert isinstance(c, Choice)
            h = placed[iid]
            src = cluster.instances[iid].host
            moves.append(
                move(
                    cluster,
                    iid,
                    h,
                    c.method,
                    f"proximity: from {src} onto {dest}; {c.why} to {cluster.names[h]}",
                    fallback=c.fallback,
                )
            )
    return build_plan(cluster, req, moves, skips, warnings)
