"""Evacuation off a down host: REBUILD on a new host (at most max_concurrent_builds at once
per target), ending ACTIVE (<2.95) or SHUTOFF."""

from __future__ import annotations

from novaflow.sim import placement
from novaflow.sim.action_log import add_event
from novaflow.sim.errors import bad_request, conflict, not_found
from novaflow.sim.model import RUNNING, SHUTDOWN, Instance, Migration
from novaflow.sim.moves.common import (
    CONDUCTOR_DELAY,
    check_state,
    destination,
    duration,
    is_vtpm,
    later,
    new_migration,
    set_status,
    set_task,
)
from novaflow.sim.state import SimCloud


def evacuate(
    cloud: SimCloud, inst: Instance, host: str | None, force: bool, stop_after: bool
) -> Migration:
    if host is not None:
        if host not in cloud.hosts:
            raise not_found(f"Compute host {host} not found.")
        if host == inst.host:
            raise bad_request("The target host can't be the same one.")
    check_state(inst, "evacuate", ("active", "stopped", "error"))
    if is_vtpm(inst):
        raise conflict(f"Operation 'evacuate' not supported for vTPM-enabled instance ({inst.id}).")
    assert inst.host is not None
    if cloud.hosts[inst.host].is_up:
        raise bad_request(f"Compute service of {inst.host} is still in use.")
    m = new_migration(cloud, inst, "evacuation", "accepted", host)
    m.forced_host = force and host is not None
    m.stop_after_evacuate = stop_after
    inst.prior_vm_state = inst.vm_state
    set_task(cloud, inst, "rebuilding")
    later(cloud, m, CONDUCTOR_DELAY, lambda: _evac_scheduled(cloud, m))
    return m


def _evac_scheduled(cloud: SimCloud, m: Migration) -> None:
    inst = cloud.instances[m.instance_id]
    dest = destination(cloud, m, inst, "conductor_rebuild_server")
    if dest is None:
        return
    # The target claims its resources now but rebuilds only when a build slot is free.
    cloud.build_queues.setdefault(dest, []).append(m.id)
    start_queued_rebuilds(cloud, dest)


def rebuilding_on(cloud: SimCloud, host: str) -> int:
    """Evacuations the target is rebuilding now (each holds one of its build slots)."""
    return sum(
        1
        for m in cloud.migrations.values()
        if m.migration_type == "evacuation"
        and m.dest_compute == host
        and m.status == "pre-migrating"
    )


def start_queued_rebuilds(cloud: SimCloud, host: str) -> None:
    """Fill free build slots on `host` (Nova's max_concurrent_builds) in arrival order."""
    queue = cloud.build_queues.setdefault(host, [])
    busy = rebuilding_on(cloud, host)
    target = cloud.hosts[host]
    while queue and busy < target.max_concurrent_builds and target.alive:
        m = cloud.migrations.get(queue.pop(0))
        if m is None or m.status != "accepted" or m.instance_id not in cloud.instances:
            continue
        busy += 1
        _rebuild(cloud, m, host)


def _rebuild(cloud: SimCloud, m: Migration, dest: str) -> None:
    inst = cloud.instances[m.instance_id]
    set_status(cloud, m, "pre-migrating")
    inst.host = dest
    inst.zone = cloud.hosts[dest].zone
    inst.power_state = SHUTDOWN
    inst.updated = cloud.now
    total = duration(cloud, m, inst, "evacuation")
    if m.hang:
        return
    if m.fail:
        later(cloud, m, total * 0.6, lambda: evacuation_failed(cloud, m))
        return
    later(cloud, m, total * 0.4, lambda: set_task(cloud, inst, "rebuild_spawning"))
    later(cloud, m, total, lambda: _evac_done(cloud, m))


def _evac_done(cloud: SimCloud, m: Migration) -> None:
    inst = cloud.instances[m.instance_id]
    set_status(cloud, m, "done")
    add_event(cloud, m.request_id, "compute_rebuild_instance", ok=True, host=m.dest_compute)
    stopped = m.stop_after_evacuate or inst.prior_vm_state == "stopped"
    inst.vm_state = "stopped" if stopped else "active"
    inst.power_state = SHUTDOWN if stopped else RUNNING
    inst.fault = None
    inst.launched_at = cloud.now
    set_task(cloud, inst, None)
    start_queued_rebuilds(cloud, m.dest_compute)


def evacuation_failed(cloud: SimCloud, m: Migration, reason: str | None = None) -> None:
    """A rebuild that fails on the target leaves the instance in ERROR, as Nova does."""
    inst = cloud.instances[m.instance_id]
    m.generation += 1
    set_status(cloud, m, "failed")
    add_event(
        cloud,
        m.request_id,
        "compute_rebuild_instance",
        ok=False,
        host=m.dest_compute,
        details=reason or f"Rebuild of instance on {m.dest_compute} failed.",
        exception="BuildAbortException",
    )
    if m.dest_compute in cloud.hosts:
        placement.drop_host(cloud, inst.id, m.dest_compute)
    inst.host = m.source_compute
    inst.zone = cloud.hosts[m.source_compute].zone
    inst.vm_state = "error"
    inst.power_state = SHUTDOWN
    inst.fault = {
        "code": 500,
        "created": cloud.now,
        "message": reason or f"Rebuild of instance on {m.dest_compute} failed.",
    }
    set_task(cloud, inst, None)
    if m.dest_compute in cloud.hosts:
        start_queued_rebuilds(cloud, m.dest_compute)
