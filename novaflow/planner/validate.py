"""An independent check of any plan against its snapshot: what would break if it ran.

Written apart from the planner's bookkeeping (it recomputes everything from the pydantic
models) so that a planner bug shows up as a violation instead of being trusted. Rules:
capacity with allocation ratios on every host that receives instances (also mid-way, when
a host both sends and receives), hard affinity and
anti-affinity, availability zones, targets that take instances, nothing moved twice, no
move off a host the request did not name, methods Nova accepts for the instance's state,
and for drain / evacuate every instance of the host either moved or skipped.
"""

from __future__ import annotations

from collections import defaultdict

from novaflow.models import (
    DrainRequest,
    EvacuateRequest,
    Host,
    Instance,
    Method,
    Plan,
    RebalanceRequest,
    Resources,
    Snapshot,
)
from novaflow.planner.bounds import pinned_zone
from novaflow.planner.units import fits_units, placement_demand

_SLACK = 1e-6


def _allowed_sources(snapshot: Snapshot, plan: Plan) -> set[str]:
    req = plan.request
    if isinstance(req, DrainRequest):
        return set(req.hosts)
    if isinstance(req, EvacuateRequest):
        return {req.host}
    excluded = set(req.exclude_hosts)
    return {h.name for h in snapshot.hosts if h.name not in excluded}


def _target_rule(snapshot: Snapshot, plan: Plan) -> tuple[set[str], set[str] | None, set[str]]:
    """(forbidden targets, only-these targets or None, hosts usable even if disabled)."""
    req = plan.request
    if isinstance(req, DrainRequest):
        only = set(req.target_hosts) or None
        return set(req.hosts) | set(req.exclude_hosts), only, set()
    if isinstance(req, EvacuateRequest):
        return {req.host} | set(req.exclude_hosts), None, set(req.reserved_hosts)
    assert isinstance(req, RebalanceRequest)
    only: set[str] | None = None
    if req.strategy == "proximity":
        only = {
            h.name
            for h in snapshot.hosts
            if (not req.target_hosts or h.name in req.target_hosts)
            and (not req.target_aggregate or req.target_aggregate in h.aggregates)
            and (not req.target_zone or h.zone == req.target_zone)
        }
    return set(req.exclude_hosts), only, set()


def _method_problem(inst: Instance, method: Method, evacuation: bool) -> str | None:
    status = inst.status.upper()
    if evacuation:
        return None if method is Method.EVACUATE else f"{method.value} move in an evacuation"
    if method is Method.EVACUATE:
        return "evacuation of an instance whose host was not declared failed"
    if inst.task_state:
        return f"{method.value} migration while task '{inst.task_state}' runs"
    if method is Method.LIVE and status not in ("ACTIVE", "PAUSED"):
        return f"live migration of a {status} instance"
    if method is Method.COLD and status not in ("ACTIVE", "SHUTOFF"):
        return f"cold migration of a {status} instance"
    return None


def _over(used: Resources, host: Host) -> list[str]:
    u = host.usable
    out = []
    for name in ("vcpus", "ram_mb", "disk_gb"):
        have, cap = getattr(used, name), getattr(u, name)
        if have > cap + _SLACK:
            out.append(f"{name} {have:g} > {cap:g}")
    return out


def violations(snapshot: Snapshot, plan: Plan) -> list[str]:
    """Every rule the plan breaks, as sentences naming instance and host; [] when it is sound."""
    out: list[str] = []
    hosts = {h.name: h for h in snapshot.hosts}
    insts = {i.id: i for i in snapshot.instances}
    req = plan.request
    evac = isinstance(req, EvacuateRequest)
    sources = _allowed_sources(snapshot, plan)
    forbidden, only, reserved = _target_rule(snapshot, plan)
    final: dict[str, str | None] = {i.id: i.host for i in snapshot.instances}
    unknown_final: set[str] = set()
    incoming: dict[str, Resources] = defaultdict(Resources)
    outgoing: dict[str, Resources] = defaultdict(Resources)
    moved: set[str] = set()
    for m in plan.moves:
        inst = insts.get(m.instance_id)
        if inst is None:
            out.append(f"move of unknown instance {m.instance_name} ({m.instance_id})")
            continue
        who = inst.label
        if m.instance_id in moved:
            out.append(f"{who} is moved twice")
            continue
        moved.add(m.instance_id)
        if m.source != inst.host:
            out.append(f"{who} is on {inst.host}, but the move starts from {m.source}")
        if m.source not in sources:
            out.append(f"{who} moves off {m.source}, a host the request did not name")
        problem = _method_problem(inst, m.method, evac)
        if problem:
            out.append(f"{who}: {problem}")
        outgoing[m.source] = outgoing[m.source] + inst.resources
        if m.target is None:
            final[m.instance_id] = None
            unknown_final.add(m.instance_id)
            continue
        t = hosts.get(m.target)
        if t is None:
            out.append(f"{who} moves to unknown host {m.target}")
            continue
        if m.target == m.source:
            out.append(f"{who} moves onto the host it is on ({m.target})")
        if m.target in forbidden:
            out.append(f"{who} moves to {m.target}, which this request excludes")
        if only is not None and m.target not in only:
            out.append(f"{who} moves to {m.target}, outside the requested targets")
        takes = t.accepts_instances or (m.target in reserved and t.is_up)
        if not takes:
            out.append(f"{who} moves to {m.target}, which does not take instances")
        pin = pinned_zone(inst, snapshot.features)
        if pin and t.zone != pin:
            out.append(f"{who} leaves its availability zone {pin} for {m.target} ({t.zone})")
        src = hosts.get(m.source)
        cross_ok = snapshot.features.cross_cell_resize and m.method is Method.COLD
        if src and src.cell and t.cell and src.cell != t.cell and not cross_ok:
            out.append(f"{who} leaves its cell {src.cell} for {m.target} ({t.cell})")
        units = fits_units(t, placement_demand(inst))
        if units:
            out.append(f"{who} moves to {m.target}, where Placement refuses it: {units}")
        final[m.instance_id] = m.target
        incoming[m.target] = incoming[m.target] + inst.resources
    for s in plan.skips:
        if s.instance_id in moved:
            out.append(f"{s.instance_name} is both moved and skipped")
    if isinstance(req, DrainRequest | EvacuateRequest):
        drained = set(req.hosts) if isinstance(req, DrainRequest) else {req.host}
        skipped = {s.instance_id for s in plan.skips}
        for inst in snapshot.instances:
            if inst.host in drained and inst.id not in moved and inst.id not in skipped:
                out.append(f"{inst.label} on {inst.host} is neither moved nor skipped")
    for name, add in incoming.items():
        h = hosts[name]
        after = h.used - outgoing.get(name, Resources()) + add
        over = _over(after, h)
        if over:
            out.append(f"{name} is over capacity after the plan: {', '.join(over)}")
    for name, add in incoming.items():
        if name not in outgoing:
            continue
        # Moves run in parallel in any order: if everything arrives before anything leaves,
        # the host must still hold it.
        over = _over(hosts[name].used + add, hosts[name])
        if over:
            out.append(
                f"{name} both sends and receives instances and would be over capacity if the "
                f"arrivals ran first: {', '.join(over)}"
            )
    for name, used in plan.usage_after.items():
        h = hosts.get(name)
        if h is None or name in incoming or used == h.used:
            continue
        over = _over(used, h)
        if over and _over(h.used, h) != over:
            out.append(f"{name} would be over capacity by the plan's own count: {', '.join(over)}")
    out.extend(_group_violations(snapshot, insts, final, moved, unknown_final))
    return out


def _group_violations(
    snapshot: Snapshot,
    insts: dict[str, Instance],
    final: dict[str, str | None],
    moved: set[str],
    unknown: set[str],
) -> list[str]:
    out = []
    listed: dict[str, set[str]] = defaultdict(set)
    for i in snapshot.instances:
        for gid in i.server_groups:
            listed[gid].add(i.id)
    for g in snapshot.server_groups:
        if g.policy not in ("affinity", "anti-affinity"):
            continue
        members = {m for m in g.members if m in insts} | listed.get(g.id, set())
        for mid in sorted(members & moved - unknown):
            where = final[mid]
            others = [
                o for o in members if o != mid and o not in unknown and final.get(o) is not None
            ]
            label = insts[mid].label
            if g.policy == "anti-affinity":
                clash = [o for o in others if final[o] == where]
                if len(clash) >= g.max_server_per_host:
                    out.append(
                        f"{label} joins {insts[clash[0]].label} on {where}, breaking "
                        f"anti-affinity group {g.name}"
                    )
            else:
                # Nova's affinity filter: the target must already hold a member.
                was = {insts[o].host for o in members if o != mid and o in insts}
                if where not in was:
                    out.append(
                        f"{label} moves to {where}, where no member of affinity group "
                        f"{g.name} runs: Nova's affinity filter refuses it"
                    )
                    continue
                apart = [o for o in others if final[o] != where]
                if apart:
                    out.append(
                        f"{label} ends on {where} but {insts[apart[0]].label} on "
                        f"{final[apart[0]]}, breaking affinity group {g.name}"
                    )
    return out
