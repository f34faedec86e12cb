"""What every move shares: migration records, durations, scheduling, state checks."""

from __future__ import annotations

import random
from collections.abc import Callable

from novaflow.sim import placement
from novaflow.sim.action_log import NO_VALID_HOST, add_event, start_action
from novaflow.sim.errors import NovaError, bad_request, conflict, invalid_state
from novaflow.sim.model import Instance, Migration
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
    """Seeded simulated seconds a move takes, growing with the flavor's RAM and disk.

    The seed is the instance and how many moves of this type it had before, not the
    migration's id: the same instance takes as long whatever order the moves are requested
    in, so two tools draining the same cloud face the same durations.
    """
    attempt = sum(
        1
        for other in cloud.migrations_of(inst.id)
        if other.migration_type == m.migration_type and other.id < m.id
    )
    return move_seconds(cloud.seed, inst, kind, attempt)


def move_seconds(seed: int, inst: Instance, kind: str, attempt: int = 0) -> float:
    """The duration model: `kind` live, cold or evacuation; `attempt` 0 for the first move."""
    rng = random.Random(f"{seed}:{inst.id}:{kind}:{attempt}")
    ram_gb = inst.flavor.ram / 1024
    disk = 0 if inst.image_id is None else inst.flavor.disk + inst.flavor.ephemeral
    base = {
        "live": 20 + ram_gb * 4 + disk * 0.3,
        "cold": 30 + disk * 0.8 + ram_gb,
        "evacuation": 30 + ram_gb * 2 + disk * 0.2,
    }[kind]
    lo, hi = _BOUNDS[kind]
    return min(hi, max(lo, base * rng.uniform(0.8, 1.3)))


def new_migration(
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
    m.fail, m.hang = cloud.faults.next_migration(inst.host, dest, kind)
    m.request_id = start_action(cloud, inst, _ACTION_NAMES[kind]).request_id
    cloud.migrations[mid] = m
    return m


def destination(cloud: SimCloud, m: Migration, inst: Instance, event: str) -> str | None:
    """Ask the scheduler (or take the forced host); record NoValidHost as Nova does."""
    if m.forced_host:
        dest = forced_destination(cloud, inst, m.dest_compute)
    else:
        dest = select_destination(cloud, inst, exclude={m.source_compute}, requested=m.dest_compute)
    if dest is not None and not _claim(cloud, m, inst, dest):
        dest = None
    if dest is None:
        set_status(cloud, m, "error")
        set_task(cloud, inst, None)
        add_event(
            cloud, m.request_id, event, ok=False, details=NO_VALID_HOST, exception="NoValidHost"
        )
        return None
    add_event(cloud, m.request_id, event, ok=True)
    m.dest_compute = dest
    m.fail = m.fail or cloud.faults.host_fails(dest)
    m.hang = m.hang or cloud.faults.host_hangs(dest)
    m.updated = cloud.now
    return dest


def _claim(cloud: SimCloud, m: Migration, inst: Instance, dest: str) -> bool:
    """Placement claims on the target: an evacuation adds the target to the instance's
    allocation (the dead source keeps its own); other moves hand the source's to the migration.
    """
    if m.migration_type == "evacuation":
        return placement.claim(cloud, inst, dest)
    return placement.move_claim(cloud, m, inst, dest)


def set_status(cloud: SimCloud, m: Migration, status: str) -> None:
    m.status = status
    m.updated = cloud.now


def set_task(cloud: SimCloud, inst: Instance, task: str | None) -> None:
    inst.task_state = task
    inst.updated = cloud.now


def later(cloud: SimCloud, m: Migration, delay: float, step: Callable[[], object]) -> None:
    """Run `step()` after `delay` unless the migration changed course meanwhile."""
    gen = m.generation

    def run() -> None:
        if m.generation == gen and m.id in cloud.migrations:
            step()

    cloud.after(delay, run, f"migration {m.id}")


def check_state(inst: Instance, action: str, vm_states: tuple[str, ...]) -> None:
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


def check_target(cloud: SimCloud, inst: Instance, host: str | None) -> None:
    if host is None:
        return
    if host not in cloud.hosts:
        raise bad_request(f"Compute host {host} could not be found.")
    if host == inst.host:
        raise bad_request(f"Unable to migrate instance ({inst.id}) to current host ({host}).")
    if not cloud.hosts[host].is_up:
        raise bad_request(f"Compute service of {host} is unavailable at this time.")
