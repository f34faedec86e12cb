"""Moves as Nova runs them: live migration, cold migration (+confirm/revert) and evacuation."""

from __future__ import annotations

import random
from collections.abc import Callable

from novaflow.sim.action_log import NO_VALID_HOST, add_event, start_action
from novaflow.sim.errors import NovaError, bad_request, conflict, invalid_state, not_found
from novaflow.sim.model import RUNNING, SHUTDOWN, Instance, Migration
from novaflow.sim.scheduler import forced_destination, select_destination
from novaflow.sim.state import SimCloud

CONDUCTOR_DELAY = 1.0
_ACTION_NAMES = {
    "live-migration": "live-migration",
    "migration": "migrate",
    "evacuation": "evacuate",
}
_BOUNDS = {"live": (20.0, 180.0), "cold": (30.0, 240.0), "evacuation": (30.0, 120.0)}


def duration(cloud: SimCloud, m: Migration, inst: Instance, kind: str) -> float:
    """Seeded simulated seconds a move takes, growing with the flavor's RAM and disk."""
    rng = random.Random(f"{cloud.seed}:{m.id}:{kind}")
    ram_gb = inst.flavor.ram / 1024
    disk = 0 if inst.image_id is None else inst.flavor.disk + inst.flavor.ephemeral
    base = {
        "live": 20 + ram_gb * 4 + disk * 0.3,
        "cold": 30 + disk * 0.8 + ram_gb,
        "evacuation": 30 + ram_gb * 2 + disk * 0.2,
    }[kind]
    lo, hi = _BOUNDS[kind]
    return min(hi, max(lo, base * rng.uniform(0.8, 1.3)))


def _new_migration(
    cloud: SimCloud, inst: Instance, kind: str, status: str, dest: str | None
) -> Migration:
    mid = max(cloud.migrations, default=0) + 1
    assert inst.host is not None
    m = Migration(
        id=mid,
        uuid=cloud.new_uuid(),
        instance_id=inst.id,
        migration_type=kind,
        status=status,
        source_compute=inst.host,
        dest_compute=dest,
        flavor_id=inst.flavor.id,
        project_id=cloud.projects["admin"],
        user_id=cloud.users["admin"],
        created=cloud.now,
        updated=cloud.now,
        memory_total_bytes=inst.flavor.ram * 1024 * 1024,
        disk_total_bytes=0 if inst.image_id is None else inst.flavor.disk * 1024**3,
    )
    m.fail, m.hang = cloud.faults.next_migration(inst.host, dest)
    m.request_id = start_action(cloud, inst, _ACTION_NAMES[kind]).request_id
    cloud.migrations[mid] = m
    return m


def _destination(cloud: SimCloud, m: Migration, inst: Instance, event: str) -> str | None:
    """Ask the scheduler (or take the forced host); record NoValidHost as Nova does."""
    if m.forced_host:
        dest = forced_destination(cloud, inst, m.dest_compute)
    else:
        dest = select_destination(cloud, inst, exclude={m.source_compute}, requested=m.dest_compute)
    if dest is None:
        _status(cloud, m, "error")
        _task(cloud, inst, None)
        add_event(cloud, m.request_id, event, ok=False, details=NO_VALID_HOST)
        return None
    m.dest_compute = dest
    m.fail = m.fail or cloud.faults.host_fails(dest)
    m.hang = m.hang or cloud.faults.host_hangs(dest)
    m.updated = cloud.now
    return dest


def _status(cloud: SimCloud, m: Migration, status: str) -> None:
    m.status = status
    m.updated = cloud.now


def _task(cloud: SimCloud, inst: Instance, task: str | None) -> None:
    inst.task_state = task
    inst.updated = cloud.now


def _later(cloud: SimCloud, m: Migration, delay: float, step: Callable[[], object]) -> None:
    """Run `step()` after `delay` unless the migration changed course meanwhile."""
    gen = m.generation

    def run() -> None:
        if m.generation == gen and m.id in cloud.migrations:
            step()

    cloud.after(delay, run, f"migration {m.id}")


def _check_state(inst: Instance, action: str, vm_states: tuple[str, ...]) -> None:
    if inst.vm_state not in vm_states:
        raise invalid_state(action, inst.id, "vm_state", inst.vm_state)
    if inst.task_state is not None:
        raise invalid_state(action, inst.id, "task_state", inst.task_state)


def is_vtpm(inst: Instance) -> bool:
    return "hw:tpm_version" in inst.flavor.extra_specs or "hw:tpm_model" in inst.flavor.extra_specs


def live_blocker(inst: Instance) -> NovaError | None:
    """Nova's refusal for an instance whose devices cannot live-migrate, if any."""
    if is_vtpm(inst):
        return conflict(
            f"Operation 'live-migration' not supported for vTPM-enabled instance ({inst.id})."
        )
    alias = inst.flavor.extra_specs.get("pci_passthrough:alias")
    if alias:
        return bad_request(
            f"Migration pre-check error: Instance {inst.id} has PCI passthrough devices "
            f"(alias {alias}) which do not support live migration."
        )
    if inst.metadata.get("novaflow-sim:sriov", "").lower() == "true":
        return bad_request(
            f"Migration pre-check error: Instance {inst.id} has an SR-IOV port without a "
            "live-migratable tag."
        )
    return None


def _check_target(cloud: SimCloud, inst: Instance, host: str | None) -> None:
    if host is None:
        return
    if host not in cloud.hosts:
        raise bad_request(f"Compute host {host} could not be found.")
    if host == inst.host:
        raise bad_request(f"Unable to migrate instance ({inst.id}) to current host ({host}).")
    if not cloud.hosts[host].is_up:
        raise bad_request(f"Compute service of {host} is unavailable at this time.")


# -- live migration -----------------------------------------------------------------------


def live_migrate(cloud: SimCloud, inst: Instance, host: str | None, force: bool) -> Migration:
    _check_state(inst, "os-migrateLive", ("active", "paused"))
    blocker = live_blocker(inst)
    if blocker:
        raise blocker
    _check_target(cloud, inst, host)
    assert inst.host is not None
    if not cloud.hosts[inst.host].is_up:
        raise bad_request(f"Compute service of {inst.host} is unavailable at this time.")
    m = _new_migration(cloud, inst, "live-migration", "queued", host)
    m.forced_host = force and host is not None
    _task(cloud, inst, "migrating")
    _later(cloud, m, CONDUCTOR_DELAY, lambda: _live_scheduled(cloud, m))
    return m


def _live_scheduled(cloud: SimCloud, m: Migration) -> None:
    inst = cloud.instances[m.instance_id]
    if _destination(cloud, m, inst, "conductor_live_migrate_instance") is None:
        return
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
        _status(cloud, m, "preparing")
        inst = cloud.instances[m.instance_id]
        total = duration(cloud, m, inst, "live")
        prep = max(2.0, total * 0.1)
        _later(cloud, m, prep, lambda m=m, run=total - prep: _live_running(cloud, m, run))


def _live_running(cloud: SimCloud, m: Migration, run: float) -> None:
    _status(cloud, m, "running")
    m.running_since = cloud.now
    m.running_duration = run
    if m.hang:
        return
    if m.fail:
        _later(cloud, m, run * 0.5, lambda: fail_live(cloud, m))
    else:
        _later(cloud, m, run, lambda: _live_completed(cloud, m))


def _live_completed(cloud: SimCloud, m: Migration) -> None:
    inst = cloud.instances[m.instance_id]
    assert m.dest_compute is not None
    inst.host = m.dest_compute
    inst.zone = cloud.hosts[m.dest_compute].zone
    _task(cloud, inst, None)
    _status(cloud, m, "completed")
    add_event(cloud, m.request_id, "compute_live_migration", ok=True, host=m.source_compute)
    start_queued_live(cloud, m.source_compute)


def fail_live(cloud: SimCloud, m: Migration, status: str = "error") -> None:
    inst = cloud.instances.get(m.instance_id)
    was_active = m.status in ("preparing", "running")
    m.generation += 1
    _status(cloud, m, status)
    add_event(
        cloud,
        m.request_id,
        "compute_live_migration",
        ok=status != "error",
        host=m.source_compute,
        details=f"Live migration from {m.source_compute} to {m.dest_compute} failed.",
    )
    if inst is not None:
        _task(cloud, inst, None)
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
    _later(cloud, m, 3.0, lambda: _live_completed(cloud, m))


# -- cold migration -----------------------------------------------------------------------


def cold_migrate(cloud: SimCloud, inst: Instance, host: str | None) -> Migration:
    _check_state(inst, "migrate", ("active", "stopped"))
    if host is not None:
        if host not in cloud.hosts:
            raise bad_request(f"Compute host {host} could not be found.")
        if host == inst.host:
            raise bad_request("Cannot migrate to the host where the server exists.")
    m = _new_migration(cloud, inst, "migration", "pre-migrating", host)
    inst.prior_vm_state = inst.vm_state
    _task(cloud, inst, "resize_prep")
    _later(cloud, m, CONDUCTOR_DELAY, lambda: _cold_scheduled(cloud, m))
    return m


def _cold_scheduled(cloud: SimCloud, m: Migration) -> None:
    inst = cloud.instances[m.instance_id]
    if _destination(cloud, m, inst, "conductor_migrate_server") is None:
        return
    total = duration(cloud, m, inst, "cold")
    _status(cloud, m, "migrating")
    _task(cloud, inst, "resize_migrating")
    if m.hang:
        return
    if m.fail:
        _later(cloud, m, total * 0.35, lambda: cold_failed(cloud, m))
        return
    _later(cloud, m, total * 0.7, lambda: _cold_step(cloud, m, "post-migrating", "resize_migrated"))
    _later(cloud, m, total * 0.85, lambda: _cold_on_dest(cloud, m))
    _later(cloud, m, total, lambda: _cold_finished(cloud, m))


def _cold_step(cloud: SimCloud, m: Migration, status: str, task: str) -> None:
    _status(cloud, m, status)
    _task(cloud, cloud.instances[m.instance_id], task)


def _cold_on_dest(cloud: SimCloud, m: Migration) -> None:
    inst = cloud.instances[m.instance_id]
    assert m.dest_compute is not None
    inst.host = m.dest_compute
    inst.zone = cloud.hosts[m.dest_compute].zone
    _task(cloud, inst, "resize_finish")


def _cold_finished(cloud: SimCloud, m: Migration) -> None:
    inst = cloud.instances[m.instance_id]
    _status(cloud, m, "finished")
    add_event(cloud, m.request_id, "compute_finish_resize", ok=True, host=m.dest_compute)
    inst.vm_state = "resized"
    inst.power_state = RUNNING if inst.prior_vm_state == "active" else SHUTDOWN
    _task(cloud, inst, None)


def cold_failed(cloud: SimCloud, m: Migration) -> None:
    """A cold migration that breaks before finishing rolls back to its source."""
    inst = cloud.instances[m.instance_id]
    m.generation += 1
    _status(cloud, m, "error")
    add_event(
        cloud,
        m.request_id,
        "compute_resize_instance",
        ok=False,
        host=m.source_compute,
        details=f"Resize of instance from {m.source_compute} to {m.dest_compute} failed.",
    )
    inst.host = m.source_compute
    inst.zone = cloud.hosts[m.source_compute].zone
    inst.vm_state = inst.prior_vm_state or inst.vm_state
    _task(cloud, inst, None)


def _resized_migration(cloud: SimCloud, inst: Instance, status: str) -> Migration:
    for m in reversed(cloud.migrations_of(inst.id)):
        if m.migration_type in ("migration", "resize") and m.status == status:
            return m
    raise bad_request("Instance has not been resized.")


def confirm_resize(cloud: SimCloud, inst: Instance) -> None:
    if inst.vm_state != "resized":
        raise invalid_state("confirmResize", inst.id, "vm_state", inst.vm_state)
    m = _resized_migration(cloud, inst, "finished")
    _status(cloud, m, "confirming")

    def confirmed() -> None:
        _status(cloud, m, "confirmed")
        inst.vm_state = inst.prior_vm_state or "active"
        inst.power_state = RUNNING if inst.vm_state == "active" else SHUTDOWN
        _task(cloud, inst, None)

    _later(cloud, m, 3.0, confirmed)


def revert_resize(cloud: SimCloud, inst: Instance) -> None:
    if inst.vm_state != "resized":
        raise invalid_state("revertResize", inst.id, "vm_state", inst.vm_state)
    if inst.task_state is not None:
        raise invalid_state("revertResize", inst.id, "task_state", inst.task_state)
    m = _resized_migration(cloud, inst, "finished")
    _status(cloud, m, "reverting")
    _task(cloud, inst, "resize_reverting")

    def reverted() -> None:
        _status(cloud, m, "reverted")
        inst.host = m.source_compute
        inst.zone = cloud.hosts[m.source_compute].zone
        inst.vm_state = inst.prior_vm_state or "active"
        inst.power_state = RUNNING if inst.vm_state == "active" else SHUTDOWN
        _task(cloud, inst, None)

    _later(cloud, m, random.Random(f"{cloud.seed}:{m.id}:revert").uniform(10, 30), reverted)


# -- evacuation ---------------------------------------------------------------------------


def evacuate(
    cloud: SimCloud, inst: Instance, host: str | None, force: bool, stop_after: bool
) -> Migration:
    if host is not None:
        if host not in cloud.hosts:
            raise not_found(f"Compute host {host} not found.")
        if host == inst.host:
            raise bad_request("The target host can't be the same one.")
    _check_state(inst, "evacuate", ("active", "stopped", "error"))
    if is_vtpm(inst):
        raise conflict(f"Operation 'evacuate' not supported for vTPM-enabled instance ({inst.id}).")
    assert inst.host is not None
    if cloud.hosts[inst.host].is_up:
        raise bad_request(f"Compute service of {inst.host} is still in use.")
    m = _new_migration(cloud, inst, "evacuation", "accepted", host)
    m.forced_host = force and host is not None
    m.stop_after_evacuate = stop_after
    inst.prior_vm_state = inst.vm_state
    _task(cloud, inst, "rebuilding")
    _later(cloud, m, CONDUCTOR_DELAY, lambda: _evac_scheduled(cloud, m))
    return m


def _evac_scheduled(cloud: SimCloud, m: Migration) -> None:
    inst = cloud.instances[m.instance_id]
    dest = _destination(cloud, m, inst, "conductor_rebuild_server")
    if dest is None:
        return
    _status(cloud, m, "pre-migrating")
    inst.host = dest
    inst.zone = cloud.hosts[dest].zone
    inst.power_state = SHUTDOWN
    inst.updated = cloud.now
    total = duration(cloud, m, inst, "evacuation")
    if m.hang:
        return
    if m.fail:
        _later(cloud, m, total * 0.6, lambda: evacuation_failed(cloud, m))
        return
    _later(cloud, m, total * 0.4, lambda: _task(cloud, inst, "rebuild_spawning"))
    _later(cloud, m, total, lambda: _evac_done(cloud, m))


def _evac_done(cloud: SimCloud, m: Migration) -> None:
    inst = cloud.instances[m.instance_id]
    _status(cloud, m, "done")
    add_event(cloud, m.request_id, "compute_rebuild_instance", ok=True, host=m.dest_compute)
    stopped = m.stop_after_evacuate or inst.prior_vm_state == "stopped"
    inst.vm_state = "stopped" if stopped else "active"
    inst.power_state = SHUTDOWN if stopped else RUNNING
    inst.fault = None
    inst.launched_at = cloud.now
    _task(cloud, inst, None)


def evacuation_failed(cloud: SimCloud, m: Migration, reason: str | None = None) -> None:
    """A rebuild that fails on the target leaves the instance in ERROR, as Nova does."""
    inst = cloud.instances[m.instance_id]
    m.generation += 1
    _status(cloud, m, "failed")
    add_event(
        cloud,
        m.request_id,
        "compute_rebuild_instance",
        ok=False,
        host=m.dest_compute,
        details=reason or f"Rebuild of instance on {m.dest_compute} failed.",
    )
    inst.host = m.source_compute
    inst.zone = cloud.hosts[m.source_compute].zone
    inst.vm_state = "error"
    inst.power_state = SHUTDOWN
    inst.fault = {
        "code": 500,
        "created": cloud.now,
        "message": reason or f"Rebuild of instance on {m.dest_compute} failed.",
    }
    _task(cloud, inst, None)
