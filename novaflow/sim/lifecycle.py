"""Instance and node lifecycle: boot, delete, stop/start, lock, services, nodes dying/returning."""

from __future__ import annotations

from novaflow.sim import placement
from novaflow.sim.errors import bad_request, invalid_state
from novaflow.sim.model import NOSTATE, RUNNING, SHUTDOWN, Host, Instance
from novaflow.sim.moves import cold_failed, evacuation_failed, fail_live, start_queued_live
from novaflow.sim.moves.evacuation import start_queued_rebuilds
from novaflow.sim.scheduler import forced_destination, select_destination
from novaflow.sim.state import SimCloud

POWER_DELAY = 3.0
BUILD_DELAY = 8.0


def create_server(
    cloud: SimCloud,
    *,
    name: str,
    flavor_ref: str,
    image_ref: str | None,
    project_id: str,
    user_id: str,
    availability_zone: str | None,
    group_id: str | None,
    metadata: dict[str, str],
    key_name: str | None,
    volumes: int,
) -> Instance:
    """Boot an instance: BUILD now, ACTIVE on its host a few seconds later (or ERROR)."""
    flavor = cloud.find_flavor(flavor_ref)
    if group_id and group_id not in cloud.groups:
        raise bad_request(f"Invalid server group {group_id}")
    zone, _, forced = (availability_zone or "").partition(":")
    inst = Instance(
        id=cloud.new_uuid(),
        name=name,
        project_id=project_id,
        user_id=user_id,
        flavor=flavor,
        image_id=image_ref,
        host=None,
        zone=None,
        vm_state="building",
        task_state="scheduling",
        power_state=0,
        created=cloud.now,
        updated=cloud.now,
        launched_at=None,
        seq=cloud.next_instance_seq(),
        pinned_az=zone or None,
        metadata=dict(metadata),
        addresses={},
        volumes=[cloud.new_uuid() for _ in range(volumes)],
        key_name=key_name,
    )
    cloud.instances[inst.id] = inst
    if group_id:
        cloud.groups[group_id].members.append(inst.id)
    # An admin's forced `zone:host` bypasses the scheduler's filters, as in Nova, but not
    # Placement's mandatory pre-filter (Train+): the request forbids COMPUTE_STATUS_DISABLED,
    # so a forced boot onto a disabled host finds no candidate (NoValidHost).
    if forced:
        dest = None if _disabled(cloud, forced) else forced_destination(cloud, inst, forced)
    else:
        dest = select_destination(cloud, inst, exclude=set(), zone=zone or None)
    if dest is None:
        inst.vm_state, inst.task_state = "error", None
        inst.fault = {
            "code": 500,
            "created": cloud.now,
            "message": ("No valid host was found. There are not enough hosts available."),
        }
        return inst
    placement.claim(cloud, inst, dest)
    inst.host, inst.zone, inst.task_state = dest, cloud.hosts[dest].zone, "spawning"
    inst.addresses = cloud.new_addresses()

    def built() -> None:
        if inst.id in cloud.instances and inst.vm_state == "building":
            inst.vm_state, inst.task_state, inst.power_state = "active", None, RUNNING
            inst.launched_at = inst.updated = cloud.now

    cloud.after(BUILD_DELAY, built, f"build {inst.id}")
    return inst


def delete_server(cloud: SimCloud, inst: Instance) -> None:
    """Delete at once, ending any move in flight and freeing its claims.

    The record is kept in `cloud.deleted` (vm_state deleted, status DELETED), as Nova keeps a
    soft-deleted row that `changes-since` listings still return.
    """
    placement.drop_consumer(cloud, inst.id)
    for m in cloud.migrations_of(inst.id):
        placement.drop_consumer(cloud, m.uuid)
        if m.in_progress:
            m.generation += 1
            m.status = "error"
            m.updated = cloud.now
            if m.migration_type == "live-migration":
                queue = cloud.live_queues.get(m.source_compute, [])
                if m.id in queue:
                    queue.remove(m.id)
    for group in cloud.groups.values():
        if inst.id in group.members:
            group.members.remove(inst.id)
    del cloud.instances[inst.id]
    inst.vm_state, inst.task_state, inst.power_state = "deleted", None, NOSTATE
    inst.updated = inst.deleted_at = cloud.now
    cloud.deleted[inst.id] = inst
    for host in {m.source_compute for m in cloud.migrations_of(inst.id)}:
        start_queued_live(cloud, host)
    for host in {m.dest_compute for m in cloud.migrations_of(inst.id)} & set(cloud.hosts):
        start_queued_rebuilds(cloud, host)


def stop(cloud: SimCloud, inst: Instance) -> None:
    if inst.vm_state not in ("active", "error") or inst.task_state is not None:
        attr = "task_state" if inst.task_state else "vm_state"
        raise invalid_state("stop", inst.id, attr, inst.task_state or inst.vm_state)
    _power(cloud, inst, "powering-off", "stopped", SHUTDOWN)


def start(cloud: SimCloud, inst: Instance) -> None:
    if inst.vm_state != "stopped" or inst.task_state is not None:
        attr = "task_state" if inst.task_state else "vm_state"
        raise invalid_state("start", inst.id, attr, inst.task_state or inst.vm_state)
    _power(cloud, inst, "powering-on", "active", RUNNING)


def _power(cloud: SimCloud, inst: Instance, task: str, vm_state: str, power: int) -> None:
    inst.task_state, inst.updated = task, cloud.now

    def done() -> None:
        if inst.id in cloud.instances and inst.task_state == task:
            inst.vm_state, inst.task_state, inst.power_state = vm_state, None, power
            inst.updated = cloud.now

    cloud.after(POWER_DELAY, done, f"{task} {inst.id}")


def kill_host(cloud: SimCloud, name: str) -> None:
    """The node dies: its service goes down, guests crash, moves touching it fail."""
    host = cloud.host(name)
    if not host.alive:
        return
    host.alive = False
    host.last_heartbeat = cloud.now
    for inst in cloud.instances.values():
        if inst.host == name:
            inst.power_state = SHUTDOWN
    for m in list(cloud.migrations.values()):
        if not m.in_progress or name not in (m.source_compute, m.dest_compute):
            continue
        if m.migration_type == "live-migration":
            fail_live(cloud, m)
        elif m.migration_type == "evacuation":
            if m.dest_compute == name:
                evacuation_failed(cloud, m, f"Compute host {name} went down during rebuild.")
        elif m.status not in ("finished", "confirming", "reverting"):
            cold_failed(cloud, m)


def revive_host(cloud: SimCloud, name: str) -> None:
    """The node boots again: guests that crashed with it are found shut off, as Nova syncs."""
    host = cloud.host(name)
    if host.alive:
        return
    host.alive = True
    host.last_heartbeat = cloud.now
    host.booted_at = cloud.now
    placement.clean_up_evacuated(cloud, name)
    for inst in cloud.instances.values():
        if inst.host == name and inst.vm_state in ("active", "paused") and inst.task_state is None:
            inst.vm_state, inst.power_state, inst.updated = "stopped", SHUTDOWN, cloud.now
    for m in cloud.migrations.values():
        if m.migration_type == "evacuation" and m.source_compute == name and m.status == "done":
            m.status, m.updated = "completed", cloud.now
    start_queued_live(cloud, name)


def _disabled(cloud: SimCloud, host: str) -> bool:
    """Its compute node's provider carries COMPUTE_STATUS_DISABLED (its service is disabled)."""
    target = cloud.hosts.get(host)
    if target is None:
        return False
    root = cloud.providers.get(target.hypervisor_uuid)
    return root is not None and placement.DISABLED_TRAIT in placement.traits(cloud, root)


def set_lock(cloud: SimCloud, inst: Instance, locked: bool, reason: str | None = None) -> None:
    """Nova saves the instance: like every change to it, its `updated` moves (and a
    `changes-since` listing shows it)."""
    inst.locked = locked
    inst.locked_reason = reason if locked else None
    inst.updated = cloud.now


def check_no_done_evacuations(cloud: SimCloud, host: Host) -> None:
    """Nova's guard on forcing a compute service up (400, the API's own words).

    Evacuation records still `done` mean the node's service has not restarted and cleaned up
    the evacuated guests; forcing it up then would let it start them a second time.
    """
    if any(
        m.migration_type == "evacuation" and m.source_compute == host.name and m.status == "done"
        for m in cloud.migrations.values()
    ):
        raise bad_request(
            f"Unable to force up host {host.name} as `done` evacuation migration records remain "
            "associated with the host. Ensure the compute service has been restarted, allowing "
            "these records to move to `completed` before retrying this request."
        )


def set_service(
    cloud: SimCloud,
    host: Host,
    *,
    status: str | None = None,
    reason: str | None = None,
    forced_down: bool | None = None,
) -> None:
    """Enable/disable a nova-compute service or force it down/up, as an operator does."""
    if forced_down is False:
        check_no_done_evacuations(cloud, host)
    if status is not None:
        host.status = status
        host.disabled_reason = reason if status == "disabled" else None
    if forced_down is not None:
        host.forced_down = forced_down
        if not forced_down:
            start_queued_live(cloud, host.name)
