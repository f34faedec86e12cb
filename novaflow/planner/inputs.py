"""Checks on a request before any planning: bad input fails early, naming host, cause, next step."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from novaflow.errors import BadRequest
from novaflow.models import DrainRequest, EvacuateRequest, Host, RebalanceRequest, Snapshot

LIST_HOSTS = "`openstack compute service list --service nova-compute` lists them"


def suggest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The closest known names to a mistyped one (difflib), best first."""
    return difflib.get_close_matches(name, list(known), n=n, cutoff=0.5)


def require_hosts(snapshot: Snapshot, names: Iterable[str], role: str) -> dict[str, Host]:
    """Every name must be a host of the snapshot; otherwise BadRequest with the closest names."""
    hosts = {h.name: h for h in snapshot.hosts}
    for name in names:
        if name not in hosts:
            close = suggest(name, hosts)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise BadRequest(
                f"unknown {role} '{name}': no compute host of that name in the snapshot",
                f"{hint}{LIST_HOSTS}",
            )
    return hosts


def _twice(names: list[str], role: str) -> None:
    twice = sorted({h for h in names if names.count(h) > 1})
    if twice:
        raise BadRequest(f"{role} named more than once: {', '.join(twice)}", "name each host once")


def check_drain(snapshot: Snapshot, req: DrainRequest) -> None:
    _twice(list(req.hosts), "host to drain")
    hosts = require_hosts(snapshot, req.hosts, "host to drain")
    require_hosts(snapshot, req.exclude_hosts, "excluded host")
    require_hosts(snapshot, req.target_hosts, "target host")
    for name in req.hosts:
        h = hosts[name]
        if not h.is_up:
            why = "its service is forced down" if h.forced_down else "its service is down"
            raise BadRequest(
                f"cannot drain {name}: {why}, so nothing can live- or cold-migrate off it",
                f"evacuate it instead (`novaflow plan evacuate {name}`) once it is fenced",
            )
    both = sorted(set(req.hosts) & set(req.target_hosts))
    if both:
        raise BadRequest(
            f"{', '.join(both)} is both drained and a target",
            "drop it from the targets or from the hosts to drain",
        )


def check_evacuate(snapshot: Snapshot, req: EvacuateRequest) -> list[str]:
    """Errors raise; a host that still looks alive is a warning (the flow asks for fencing)."""
    hosts = require_hosts(snapshot, [req.host], "failed host")
    require_hosts(snapshot, req.reserved_hosts, "reserved host")
    require_hosts(snapshot, req.exclude_hosts, "excluded host")
    _twice(list(req.reserved_hosts), "reserved host")
    if req.host in req.reserved_hosts:
        raise BadRequest(
            f"{req.host} is both the failed host and a reserved host",
            "drop it from the reserved hosts",
        )
    warnings: list[str] = []
    h = hosts[req.host]
    if h.state == "up" and not h.forced_down:
        warnings.append(
            f"{req.host}'s nova-compute service is up and not forced down: Nova refuses to "
            f"evacuate it, and if the node still runs, instances would run twice. Fence it "
            f"(power it off), then `openstack compute service set --down {req.host} "
            "nova-compute`; the flow asks you to confirm the fencing."
        )
    return warnings


def check_rebalance(snapshot: Snapshot, req: RebalanceRequest) -> None:
    require_hosts(snapshot, req.exclude_hosts, "excluded host")
    if req.strategy != "proximity":
        return
    require_hosts(snapshot, req.target_hosts, "target host")
    if not (req.select_project or req.select_metadata or req.select_name):
        raise BadRequest(
            "proximity needs instances to move: no project, metadata or name was given",
            "pass select_project, select_metadata or select_name",
        )
    if not (req.target_hosts or req.target_aggregate or req.target_zone):
        raise BadRequest(
            "proximity needs a destination: no target hosts, aggregate or zone was given",
            "pass target_hosts, target_aggregate or target_zone",
        )
    if req.target_aggregate:
        aggs = {a for h in snapshot.hosts for a in h.aggregates}
        if req.target_aggregate not in aggs:
            close = suggest(req.target_aggregate, aggs)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise BadRequest(
                f"unknown aggregate '{req.target_aggregate}': no host belongs to it",
                f"{hint}`openstack aggregate list` lists them",
            )
    if req.target_zone:
        zones = {h.zone for h in snapshot.hosts}
        if req.target_zone not in zones:
            close = suggest(req.target_zone, zones)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise BadRequest(
                f"unknown availability zone '{req.target_zone}': no host is in it",
                f"{hint}`openstack availability zone list --compute` lists them",
            )
