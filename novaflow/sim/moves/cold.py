"""Cold migration: RESIZE to VERIFY_RESIZE on the target, then confirm or revert."""

from __future__ import annotations

import random

from novaflow.sim import placement
from novaflow.sim.action_log import add_event
from novaflow.sim.errors import bad_request, invalid_state
from novaflow.sim.model import RUNNING, SHUTDOWN, Instance, Migration
from novaflow.sim.moves.common import (
    CONDUCTOR_DELAY,
    check_state,
    destination,
    duration,
    later,
    new_migration,
    set_status,
    set_task,
)
from novaflow.sim.state import SimCloud


def cold_migrate(cloud: SimCloud, inst: Instance, host: str | None) -> Migration:
    check_state(inst, "migrate", ("active", "stopped"))
    if host is not None:
        if host not in cloud.hosts:
            raise bad_request(f"Compute host {host} could not be found.")
        if host == inst.host:
            raise bad_request("Cannot migrate to the host where the server exists.")
    m = new_migration(cloud, inst, "migration", "pre-migrating", host)
    inst.prior_vm_state = inst.vm_state
    set_task(cloud, inst, "resize_prep")
    later(cloud, m, CONDUCTOR_DELAY, lambda: _cold_scheduled(cloud, m))
    return m


def _cold_scheduled(cloud: SimCloud, m: Migration) -> None:
    inst = cloud.instances[m.instance_id]
    if destination(cloud, m, inst, "conductor_migrate_server") is None:
        return
    add_event(cloud, m.request_id, "compute_prep_resize", ok=True, host=m.dest_compute)
    total = duration(cloud, m, inst, "cold")
    set_status(cloud, m, "migrating")
    set_task(cloud, inst, "resize_migrating")
    if m.hang:
        return
    if m.fail:
        later(cloud, m, total * 0.35, lambda: cold_failed(cloud, m))
        return
    later(cloud, m, total * 0.7, lambda: _cold_step(cloud, m, "post-migrating", "resize_migrated"))
    later(cloud, m, total * 0.85, lambda: _cold_on_dest(cloud, m))
    later(cloud, m, total, lambda: _cold_finished(cloud, m))


def _cold_step(cloud: SimCloud, m: Migration, status: str, task: str) -> None:
    add_event(cloud, m.request_id, "compute_resize_instance", ok=True, host=m.source_compute)
    set_status(cloud, m, status)
    set_task(cloud, cloud.instances[m.instance_id], task)


def _cold_on_dest(cloud: SimCloud, m: Migration) -> None:
    inst = cloud.instances[m.instance_id]
    assert m.dest_compute is not None
    inst.host = m.dest_compute
    inst.zone = cloud.hosts[m.dest_compute].zone
    set_task(cloud, inst, "resize_finish")


def _cold_finished(cloud: SimCloud, m: Migration) -> None:
    inst = cloud.instances[m.instance_id]
    set_status(cloud, m, "finished")
    add_event(cloud, m.request_id, "compute_finish_resize", ok=True, host=m.dest_compute)
    inst.vm_state = "resized"
    inst.power_state = RUNNING if inst.prior_vm_state == "active" else SHUTDOWN
    set_task(cloud, inst, None)


def cold_failed(cloud: SimCloud, m: Migration) -> None:
    """A cold migration that breaks before finishing rolls back to its source."""
    inst = cloud.instances[m.instance_id]
    m.generation += 1
    set_status(cloud, m, "error")
    add_event(
        cloud,
        m.request_id,
        "compute_resize_instance",
        ok=False,
        host=m.source_compute,
        details=f"Resize of instance from {m.source_compute} to {m.dest_compute} failed.",
        exception="ResizeError",
    )
    inst.host = m.source_compute
    inst.zone = cloud.hosts[m.source_compute].zone
    inst.vm_state = inst.prior_vm_state or inst.vm_state
    placement.restore(cloud, m)
    set_task(cloud, inst, None)


def _resized_migration(cloud: SimCloud, inst: Instance, status: str) -> Migration:
    for m in reversed(cloud.migrations_of(inst.id)):
        if m.migration_type in ("migration", "resize") and m.status == status:
            return m
    raise bad_request("Instance has not been resized.")


def confirm_resize(cloud: SimCloud, inst: Instance) -> None:
    if inst.vm_state != "resized":
        raise invalid_state("confirmResize", inst.id, "vm_state", inst.vm_state)
    m = _resized_migration(cloud, inst, "finished")
    set_status(cloud, m, "confirming")

    def confirmed() -> None:
        set_status(cloud, m, "confirmed")
        placement.drop_migration(cloud, m)
        inst.vm_state = inst.prior_vm_state or "active"
        inst.power_state = RUNNING if inst.vm_state == "active" else SHUTDOWN
        set_task(cloud, inst, None)

    later(cloud, m, 3.0, confirmed)


def revert_resize(cloud: SimCloud, inst: Instance) -> None:
    if inst.vm_state != "resized":
        raise invalid_state("revertResize", inst.id, "vm_state", inst.vm_state)
    if inst.task_state is not None:
        raise invalid_state("revertResize", inst.id, "task_state", inst.task_state)
    m = _resized_migration(cloud, inst, "finished")
    set_status(cloud, m, "reverting")
    set_task(cloud, inst, "resize_reverting")

    def reverted() -> None:
        set_status(cloud, m, "reverted")
        placement.restore(cloud, m)
        inst.host = m.source_compute
        inst.zone = cloud.hosts[m.source_compute].zone
        inst.vm_state = inst.prior_vm_state or "active"
        inst.power_state = RUNNING if inst.vm_state == "active" else SHUTDOWN
        set_task(cloud, inst, None)

    later(cloud, m, random.Random(f"{cloud.seed}:{m.id}:revert").uniform(10, 30), reverted)
