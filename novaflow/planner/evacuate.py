"""evacuate: rebuild every instance of a failed host elsewhere, most important first."""

from __future__ import annotations

from novaflow.models import EvacuateRequest, Method, Move, Plan, Skip, Snapshot
from novaflow.planner.assemble import build_plan, capacity, free_total, move, skip
from novaflow.planner.bounds import down_cell_warning
from novaflow.planner.constraints import Evacuation, Refusal, evacuation
from novaflow.planner.drain import (
    big_first,
    make_units,
    open_targets,
    place_units,
    shortfall_text,
)
from novaflow.planner.groups import hold_stranded
from novaflow.planner.inputs import check_evacuate
from novaflow.planner.place import find_host, fmt_demand, unit_demand
from novaflow.planner.recovery import RebuildSpreader
from novaflow.planner.state import EPS, Cluster, FitIndex

NAMES_SHOWN = 5


def priority_of(value: str | None) -> int | None:
    """The integer priority in an instance's metadata; None when it is not a number."""
    if value is None or value.strip() == "":
        return 0
    try:
        return int(float(value))
    except ValueError:
        return None


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


def evacuate(snapshot: Snapshot, req: EvacuateRequest) -> Plan:
    """Targets for every evacuable instance on `req.host`: reserved hosts first, by priority,
    rebuilds shared out across the targets (or packed onto them with `req.pack_targets`)."""
    warnings = check_evacuate(snapshot, req)
    cluster = Cluster(snapshot)
    src = cluster.index[req.host]
    excluded = {src} | {cluster.index[n] for n in req.exclude_hosts}
    reserved: list[int] = []
    for name in req.reserved_hosts:
        h = cluster.index[name]
        hm = cluster.host_models[h]
        if h in excluded:
            continue
        if not hm.is_up:
            warnings.append(f"reserved host {name} is down: not used")
            continue
        if hm.status == "disabled":
            warnings.append(
                f"reserved host {name} is disabled: enable it (`openstack compute service set "
                f"--enable {name} nova-compute`) before evacuating onto it"
            )
        reserved.append(h)
    general = open_targets(cluster, excluded | set(reserved))
    res_index = FitIndex(cluster, reserved)
    gen_index = FitIndex(cluster, general)
    skips: list[Skip] = []
    evacs: dict[str, Evacuation] = {}
    prio: dict[str, int] = {}
    movable: list[str] = []
    bad_prio: list[str] = []
    ids = list(cluster.on_host[src])
    if not ids:
        warnings.append(f"{req.host} has no instances: nothing to evacuate")
    for iid in ids:
        inst = cluster.instances[iid]
        ev = evacuation(inst, req.shared_storage)
        if isinstance(ev, Refusal):
            skips.append(skip(cluster, iid, ev.reason, ev.remedy))
            continue
        p = priority_of(inst.metadata.get(req.priority_key))
        if p is None:
            bad_prio.append(inst.name)
            p = 0
        evacs[iid] = ev
        prio[iid] = p
        movable.append(iid)
    if bad_prio:
        warnings.append(
            f"metadata {req.priority_key} is not a number on {_names(bad_prio)}: "
            "treated as priority 0"
        )
    down = down_cell_warning(snapshot.instances, [req.host])
    if down:
        warnings.append(down)
    units = make_units(cluster, movable, {src})
    for unit in units:
        for iid in unit:
            cluster.lift(iid)
    units, held, held_warnings = hold_stranded(cluster, units, "evacuate")
    skips.extend(held)
    warnings.extend(held_warnings)
    movable = [iid for unit in units for iid in unit]
    # Highest priority first so it gets the room (and the reserved hosts); big first within.
    units = big_first(cluster, units)
    units.sort(key=lambda u: -max(prio[i] for i in u))
    # Share the rebuilds out unless asked to pack: a target runs only so many at once.
    spreader = None if req.pack_targets else RebuildSpreader()
    placed, failed = place_units(
        cluster, res_index, units, fallback_index=gen_index, find=spreader or find_host
    )
    needed = unit_demand(cluster, movable)
    # Everything placed was lifted back out of the free room; add it back for the total.
    free_after = free_total(cluster, reserved + general)
    free = tuple(free_after[d] + sum(cluster.demand(i)[d] for i in placed) for d in range(3))
    free3 = (free[0], free[1], free[2])
    fits_total = all(needed[d] <= free3[d] + EPS for d in range(3))
    if not fits_total:
        warnings.insert(
            0,
            f"the cloud cannot absorb {req.host}'s instances: needed {fmt_demand(needed)}, "
            f"free {fmt_demand(free3)} ({shortfall_text(needed, free3)}); lowest priorities stay "
            "down",
        )
    moves: list[Move] = []
    reset: list[str] = []
    lost: list[str] = []
    reserved_set = set(reserved)
    for unit in units:
        for iid in unit:
            if iid in failed:
                reason, remedy = failed[iid]
                skips.append(skip(cluster, iid, reason, remedy))
                continue
            ev = evacs[iid]
            h = placed[iid]
            name = cluster.instances[iid].name
            if ev.needs_state_reset:
                reset.append(name)
            if ev.loses_local_disk:
                lost.append(name)
            hide = req.let_scheduler_choose or ev.scheduler_picks
            if hide:
                where = "Nova's scheduler picks the host, room checked"
            elif spreader is not None:
                kind = "reserved host " if h in reserved_set else ""
                where = (
                    f"to {kind}{cluster.names[h]}, one of {spreader.planned[h]} rebuilds there "
                    "(shared out across targets for a fast recovery)"
                )
            elif h in reserved_set:
                where = f"to reserved host {cluster.names[h]}"
            else:
                where = f"to {cluster.names[h]}, the tightest fit with room"
            p = prio[iid]
            pr = f"priority {p}, " if p else ""
            moves.append(
                move(
                    cluster,
                    iid,
                    None if hide else h,
                    Method.EVACUATE,
                    f"evacuate {req.host}: {pr}{ev.why}, {where}",
                    priority=p,
                    needs_state_reset=ev.needs_state_reset,
                )
            )
    if lost:
        warnings.append(
            f"{len(lost)} instance(s) lose their local disk (rebuilt from the image): "
            f"{_names(lost)}"
        )
    if reset:
        warnings.append(
            f"{len(reset)} instance(s) need a state reset before evacuation: {_names(reset)}"
        )
    if failed and fits_total:
        warnings.append(
            f"{len(failed)} instance(s) found no host although the total room suffices "
            "(server groups, zones, cells or fragmentation): see the skips"
        )
    cap = capacity(needed, free3, fits_total and not failed)
    return build_plan(
        cluster, req, moves, skips, warnings, cap=cap, shared_storage=req.shared_storage
    )
