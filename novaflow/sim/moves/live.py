"""Live migration: queued per source host, preparing, running, completed; abort and force."""

from __future__ import annotations

from novaflow.sim import placement
from novaflow.sim.action_log import add_event
from novaflow.sim.errors import bad_request, invalid_state, not_found
from novaflow.sim.model import Instance, Migration
from novaflow.sim.moves.common import (
    CONDUCTOR_DELAY,
    check_state,
    check_target,
    destination,
    duration,
    later,
    live_blocker,
    new_migration,
    set_status,
    set_task,
)
from novaflow.sim.state import SimCloud


def live_migrate(cloud: SimCloud, inst: Instance, host: str | None, force: bool) -> Migration:
    check_state(inst, "os-migrateLive", ("active", "paused"))
    blocker = live_blocker(inst)
    if blocker:
        raise blocker
    check_target(cloud, inst, host)
    assert inst.host is not None
    if not cloud.hosts[inst.host].is_up:
        raise bad_request(f"Compute service of {inst.host} is unavailable at this time.")
    m = new_migration(cloud, inst, "live-migration", "queued", host)
    m.forced_host = force and host is not None
    set_task(cloud, inst, "migrating")
    later(cloud, m, CONDUCTOR_DELAY, lambda: _live_scheduled(cloud, m))
    return m


def _live_scheduled(cloud: SimCloud, m: Migration) -> None:
    inst = cloud.instances[m.instance_id]
    if destination(cloud, m, inst, "conductor_live_migrate_instance") is None:
        return
    add_event(
        cloud,
        m.request_id,
        "compute_check_can_live_migrate_destination",
        ok=True,
        host=m.dest_compute,
    )
    cloud.live_queues.setdefault(m.source_compute, []).append(m.id)
    start_queued_live(cloud, m.source_compute)


def start_queued_live(cloud: SimCloud, source: str) -> None:
    """Fill free live-migration slots on `source` (Nova's max_concurrent_live_migrations)."""
    host = cloud.hosts[source]
    queue = cloud.live_queues.setdefault(source, [])
    busy = sum(
        1
        for m in cloud.migrations.values()
        if m.source_compute == source
        and m.migration_type == "live-migration"
        and m.status in ("preparing", "running")
    )
    while queue and busy < host.max_concurrent_live_migrations and host.is_up:
        m = cloud.migrations.get(queue.pop(0))
        if m is None or m.status != "queued":
            continue
        busy += 1
        set_status(cloud, m, "preparing")
        inst = cloud.instances[m.instance_id]
        total = duration(cloud, m, inst, "live")
        prep = max(2.0, total * 0.1)
        later(cloud, m, prep, lambda m=m, run=total - prep: _live_running(cloud, m, run))


def _live_running(cloud: SimCloud, m: Migration, run: float) -> None:
    add_event(cloud, m.request_id, "compute_pre_live_migration", ok=True, host=m.dest_compute)
    set_status(cloud, m, "running")
    m.running_since = cloud.now
    m.running_duration = run
    if m.hang:
        return
    if m.fail:
        later(cloud, m, run * 0.5, lambda: fail_live(cloud, m))
    else:
        later(cloud, m, run, lambda: _live_completed(cloud, m))


def _live_completed(cloud: SimCloud, m: Migration) -> None:
    inst = cloud.instances[m.instance_id]
    assert m.dest_compute is not None
    inst.host = m.dest_compute
    inst.zone = cloud.hosts[m.dest_compute].zone
    set_task(cloud, inst, None)
    set_status(cloud, m, "completed")
    placement.drop_migration(cloud, m)
    add_event(cloud, m.request_id, "compute_live_migration", ok=True, host=m.source_compute)
    add_event(
        cloud,
        m.request_id,
        "compute_post_live_migration_at_destination",
        ok=True,
        host=m.dest_compute,
    )
    start_queued_live(cloud, m.source_compute)


def fail_live(cloud: SimCloud, m: Migration, status: str = "failed") -> None:
    inst = cloud.instances.get(m.instance_id)
    was_active = m.status in ("preparing", "running")
    m.generation += 1
    set_status(cloud, m, status)
    placement.restore(cloud, m)
    add_event(
        cloud,
        m.request_id,
        "compute_live_migration",
        ok=status == "cancelled",
        host=m.source_compute,
        details=f"Live migration from {m.source_compute} to {m.dest_compute} failed.",
        exception="MigrationError",
    )
    if inst is not None:
        set_task(cloud, inst, None)
    queue = cloud.live_queues.get(m.source_compute, [])
    if m.id in queue:
        queue.remove(m.id)
    if was_active:
        start_queued_live(cloud, m.source_compute)


def find_migration(cloud: SimCloud, inst: Instance, ref: str) -> Migration:
    for m in cloud.migrations_of(inst.id):
        if ref in (str(m.id), m.uuid):
            return m
    raise not_found(f"Migration {ref} could not be found for instance {inst.id}.")


def abort_live(cloud: SimCloud, inst: Instance, m: Migration, allow_queued: bool) -> None:
    """DELETE /servers/{id}/migrations/{mid}: cancel a live migration (2.24; queued 2.65)."""
    if inst.task_state != "migrating":
        raise invalid_state("abort live migration", inst.id, "task_state", inst.task_state)
    allowed = ("queued", "preparing", "running") if allow_queued else ("running",)
    if m.migration_type != "live-migration" or m.status not in allowed:
        raise bad_request(
            f"Migration {m.id} state of instance {inst.id} is {m.status}. Cannot abort live "
            "migration while the migration is in this state."
        )
    fail_live(cloud, m, "cancelled")


def force_complete(cloud: SimCloud, inst: Instance, m: Migration) -> None:
    """POST .../migrations/{mid}/action force_complete: pause the guest and finish quickly."""
    if inst.task_state != "migrating":
        raise invalid_state("force_complete", inst.id, "task_state", inst.task_state)
    if m.migration_type != "live-migration" or m.status != "running":
        raise bad_request(
            f"Migration {m.id} state of instance {inst.id} is {m.status}. Cannot force complete "
            "while the migration is in this state."
        )
    if m.hang:
        return  # A stuck migration does not respond; only abort gets it out.
    m.generation += 1
    later(cloud, m, 3.0, lambda: _live_completed(cloud, m))
