"""Nova's hard-affinity rule in the operator's words: which members cannot leave, and why.

Nova's ServerGroupAffinityFilter accepts only hosts in the group's hosts: the hosts of all
its members, the moving member's own host included (nova/scheduler/utils.py,
`_get_group_details`). The source host is never a destination, so a member can move only to
a host where another member already runs. A group whose members all sit on the hosts being
emptied can therefore not be moved by Nova's scheduler at all: not live, not cold, not
evacuated. A member elsewhere makes its host a valid target for the others (room allowing).
Only a forced target (microversion 2.29-2.67 for evacuate, 2.30-2.67 for live migration)
skips the filters.
"""

from __future__ import annotations

from typing import Literal

from novaflow.models import Skip
from novaflow.planner.assemble import skip
from novaflow.planner.state import Cluster

Scenario = Literal["drain", "evacuate", "rebalance"]


def group_hosts(cluster: Cluster, gid: str) -> list[str]:
    """Where the group's members were at snapshot time, by host name."""
    hosts = {cluster.origin[m] for m in cluster.members[gid]}
    return sorted(cluster.names[h] for h in hosts if h is not None)


def stranded(cluster: Cluster, unit: list[str]) -> str | None:
    """The hard-affinity group that pins a lifted `unit` where it is (None: none does)."""
    for iid in unit:
        gids = cluster.stranded_groups(iid)
        if gids:
            return gids[0]
    return None


def stranded_refusal(cluster: Cluster, gid: str, scenario: Scenario) -> tuple[str, str]:
    """(reason, remedy) for every member of an affinity group Nova cannot move."""
    name = cluster.group_name[gid]
    n = len(cluster.members[gid])
    hosts = ", ".join(group_hosts(cluster, gid))
    reason = (
        f"affinity group {name}: Nova places a member only on a host that already runs one, "
        f"and all {n} member(s) are on {hosts}, which this plan empties; every move of them "
        "(live, cold or evacuation) would end in NoValidHost"
    )
    if scenario == "evacuate":
        remedy = (
            "Nova rebuilds them only onto a forced target, skipping the scheduler: "
            "`nova --os-compute-api-version 2.67 evacuate --force <server> <host>` for each "
            "member onto one host with room for all; or re-create the servers in a new group"
        )
    elif scenario == "drain":
        remedy = (
            f"leave them on {hosts}: stop them (`openstack server stop <server>`) for the work; "
            "or move one member by hand with the scheduler skipped (`nova "
            "--os-compute-api-version 2.67 live-migration --force <server> <host>`) so the "
            "others can follow it, then re-plan; or accept downtime and re-create the group's "
            "servers elsewhere"
        )
    else:
        remedy = (
            "leave the group where it is; if it must move, re-create its servers where they "
            "should run (Nova moves no member to a host without another)"
        )
    return reason, remedy


def stranded_warning(cluster: Cluster, gid: str) -> str:
    """One plan warning per group that stays, so it is not read as a failure later."""
    hosts = ", ".join(group_hosts(cluster, gid))
    n = len(cluster.members[gid])
    return (
        f"affinity group {cluster.group_name[gid]}: its {n} member(s) stay on {hosts} "
        "(Nova's affinity filter allows no other host while no member runs elsewhere); "
        "see the skips for what to do"
    )


def hold_stranded(
    cluster: Cluster, units: list[list[str]], scenario: Scenario
) -> tuple[list[list[str]], list[Skip], list[str]]:
    """Put back the lifted units whose hard-affinity group Nova cannot move (no member left
    on another host); return the other units, a skip per member held and a warning per group."""
    keep: list[list[str]] = []
    skips: list[Skip] = []
    warned: list[str] = []
    for unit in units:
        gid = stranded(cluster, unit)
        if gid is None:
            keep.append(unit)
            continue
        if gid not in warned:
            warned.append(gid)
        reason, remedy = stranded_refusal(cluster, gid, scenario)
        for iid in unit:
            cluster.put(iid, cluster.origin[iid])
            skips.append(skip(cluster, iid, reason, remedy))
    return keep, skips, [stranded_warning(cluster, gid) for gid in warned]
