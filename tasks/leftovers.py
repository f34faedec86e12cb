"""Finish what a crashed run left behind before planning anew.

Every instance novaflow moves is locked with the reason "novaflow: moving off <host>". A
run whose process died leaves those locks (and maybe an instance in VERIFY_RESIZE or
MIGRATING). Giving each such instance back to the idempotent mover finishes it: a
finished move is recognised and its lock released, a pending resize is confirmed, a
migration in flight is waited on. Only locked instances are read one by one, so the cost
is the number of leftovers, not the size of the cloud.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from novaflow.cloud import NOVAFLOW_LOCK_PREFIX
from novaflow.models import Method, Move, Snapshot
from tasks.connect import cloud_for

LOCK_PREFIX = f"{NOVAFLOW_LOCK_PREFIX} moving off "


@task(name="leftover-hosts", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def leftover_hosts(cloud: str, snapshot: Snapshot) -> set[str]:
    """The hosts an earlier run was emptying when it died, as its locks name them.

    A flow that does not know its hosts in advance (rebalance) claims these too, so that it
    finishes those moves (and releases their locks) even when its new plan no longer
    touches the host an instance left.
    """
    conn = cloud_for(cloud)
    hosts = set()
    for inst in snapshot.instances:
        if inst.locked:
            state = conn.server_state(inst.id)
            reason = (state.locked_reason or "") if state else ""
            if reason.startswith(LOCK_PREFIX):
                hosts.add(reason.removeprefix(LOCK_PREFIX))
    return hosts


@task(name="find-leftovers", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def find_leftovers(cloud: str, snapshot: Snapshot, hosts: list[str]) -> list[Move]:
    """Moves that finish the work of an earlier run on `hosts` (locked by novaflow)."""
    conn = cloud_for(cloud)
    wanted = {f"{LOCK_PREFIX}{h}": h for h in hosts}
    moves = []
    for inst in snapshot.instances:
        if not inst.locked:
            continue
        state = conn.server_state(inst.id)
        source = wanted.get(state.locked_reason or "") if state else None
        if source is None:
            continue
        method = (
            Method.EVACUATE
            if inst.host == source and not snapshot.host(source).is_up
            else (
                Method.COLD
                if inst.status in ("VERIFY_RESIZE", "RESIZE", "SHUTOFF")
                else Method.LIVE
            )
        )
        moves.append(
            Move(
                instance_id=inst.id,
                instance_name=inst.name,
                source=source,
                target=None,
                method=method,
                reason=f"finish the move an earlier run started off {source} ({inst.status})",
            )
        )
    if moves:
        get_run_logger().warning(
            "Finishing %d move(s) an earlier run left: %s",
            len(moves),
            ", ".join(m.instance_name for m in moves),
        )
    return moves
