"""Where Nova lets a move land: the instance's pinned availability zone and its cell.

Zones. Nova schedules a move with the request spec's availability zone: the zone asked for
at boot (or `default_schedule_zone`, or the volumes' zone under `cross_az_attach = False`),
shown from microversion 2.96 as the server's `pinned_availability_zone`. A pinned instance
lands only in that zone; an unpinned one may land in any zone. Before 2.96 the pin cannot be
read, so the instance's current zone stands in for it: never a move Nova refuses, at worst
a cross-zone move Nova would have allowed left out.

Cells. Live migration and evacuation never leave the instance's cell (the conductor sets
the request spec's destination cell); cold migration leaves it only when policy
`compute:servers:resize:cross_cell` allows (its default, '!', allows nobody). Nova's API
shows no cell; `Host.cell` is filled where the cloud tags one (see CELL_KEY in
novaflow/cloud/inventory.py), and where no host has a cell, moves are not bounded by cells.
"""

from __future__ import annotations

from collections.abc import Iterable

from novaflow.models import CloudFeatures, Instance
from novaflow.planner.state import Cluster


def pinned_zone(inst: Instance, features: CloudFeatures) -> str | None:
    """The availability zone Nova keeps `inst` in on a move (None: any zone)."""
    if features.reports_pinned_zones:
        return inst.pinned_zone
    return inst.pinned_zone or inst.zone


def unit_cell(cluster: Cluster, unit: Iterable[str]) -> str | None:
    """The cell a lifted unit must stay in (None: not bounded), from its members' origins."""
    if not cluster.cells_known:
        return None
    for iid in unit:
        if iid in cluster.may_leave_cell:
            continue
        o = cluster.origin[iid]
        if o is not None and cluster.cell[o] is not None:
            return cluster.cell[o]
    return None


def cell_block(cluster: Cluster, unit: list[str], h: int) -> str | None:
    """Why `unit` may not go to host `h` for its cell (None: it may)."""
    cell = unit_cell(cluster, unit)
    if cell is None or cluster.cell[h] == cell:
        return None
    return f"cell {cell} (Nova does not move instances to cell {cluster.cell[h] or '?'})"


def down_cell_warning(snapshot_instances: Iterable[Instance], hosts: list[str]) -> str | None:
    """The warning for a drain or evacuation while some servers sit in a cell that does not
    answer (2.69 lists them with status UNKNOWN and no host): they may be on these hosts."""
    # Inline rather than Instance.in_down_cell: this runs over every instance of a big cloud.
    n = sum(1 for i in snapshot_instances if i.host is None and i.status == "UNKNOWN")
    if not n:
        return None
    where = ", ".join(hosts)
    return (
        f"{n} server(s) are in a cell that does not answer; novaflow cannot tell whether any "
        f"is on {where}: they are not planned, and are not taken as gone"
    )
