"""The records the simulated cloud keeps: hosts, flavors, instances, migrations, groups."""

from __future__ import annotations

from dataclasses import dataclass, field

# Nova's power_state integers.
NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED = 0, 1, 3, 4, 6, 7

# Migration statuses that still hold resources or a slot (Nova's "in progress").
LIVE_IN_PROGRESS = ("queued", "preparing", "running")
MIGRATION_IN_PROGRESS = (
    "accepted",
    "queued",
    "preparing",
    "running",
    "pre-migrating",
    "migrating",
    "post-migrating",
    "finished",
    "confirming",
    "reverting",
)


@dataclass
class Flavor:
    id: str
    name: str
    vcpus: int
    ram: int
    disk: int
    ephemeral: int = 0
    swap: int = 0
    extra_specs: dict[str, str] = field(default_factory=dict)
    is_public: bool = True
    description: str | None = None


@dataclass
class Host:
    """A compute node with its nova-compute service and hypervisor."""

    name: str
    zone: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    disk_allocation_ratio: float
    reserved_host_memory_mb: int
    max_concurrent_live_migrations: int
    service_id: int
    service_uuid: str
    hypervisor_id: int
    hypervisor_uuid: str
    host_ip: str
    status: str = "enabled"
    disabled_reason: str | None = None
    forced_down: bool = False
    alive: bool = True
    last_heartbeat: float = 0.0
    booted_at: float = 0.0
    # Nova's max_concurrent_builds: rebuilds (evacuations) this node runs at once.
    max_concurrent_builds: int = 10
    reserved_host_cpus: int = 0
    reserved_host_disk_mb: int = 0
    # vGPUs of a physical GPU, reported by Nova as a nested child provider (0: none).
    vgpus: int = 0

    @property
    def is_up(self) -> bool:
        """Nova's servicegroup view: a forced-down or dead service is down."""
        return self.alive and not self.forced_down


@dataclass
class Instance:
    id: str
    name: str
    project_id: str
    user_id: str
    flavor: Flavor
    image_id: str | None
    host: str | None
    zone: str | None
    vm_state: str
    task_state: str | None
    power_state: int
    created: float
    updated: float
    launched_at: float | None
    seq: int
    pinned_az: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    locked: bool = False
    locked_reason: str | None = None
    key_name: str | None = None
    config_drive: str = ""
    fault: dict[str, object] | None = None
    description: str | None = None
    # The vm_state before a resize, restored on confirm / revert.
    prior_vm_state: str | None = None
    # When it was deleted (Nova's terminated_at); deleted records live in SimCloud.deleted.
    deleted_at: float | None = None

    @property
    def instance_name(self) -> str:
        return f"instance-{self.seq:08x}"

    @property
    def status(self) -> str:
        return server_status(self.vm_state, self.task_state)


def server_status(vm_state: str, task_state: str | None) -> str:
    """Nova's mapping of (vm_state, task_state) to the API `status` field."""
    if task_state == "migrating" and vm_state in ("active", "paused"):
        return "MIGRATING"
    if task_state in ("resize_prep", "resize_migrating", "resize_migrated", "resize_finish"):
        return "RESIZE"
    if task_state == "resize_reverting":
        return "REVERT_RESIZE"
    if task_state in ("rebuilding", "rebuild_block_device_mapping", "rebuild_spawning"):
        return "REBUILD"
    if task_state == "deleting":
        return "DELETED" if vm_state == "deleted" else _VM_STATUS.get(vm_state, "UNKNOWN")
    return _VM_STATUS.get(vm_state, "UNKNOWN")


_VM_STATUS = {
    "active": "ACTIVE",
    "building": "BUILD",
    "stopped": "SHUTOFF",
    "paused": "PAUSED",
    "suspended": "SUSPENDED",
    "resized": "VERIFY_RESIZE",
    "error": "ERROR",
    "deleted": "DELETED",
    "shelved_offloaded": "SHELVED_OFFLOADED",
}


@dataclass
class Migration:
    id: int
    uuid: str
    instance_id: str
    migration_type: str
    status: str
    source_compute: str
    dest_compute: str | None
    flavor_id: str
    project_id: str
    user_id: str
    created: float
    updated: float
    memory_total_bytes: int = 0
    disk_total_bytes: int = 0
    # Engine bookkeeping, never shown: progress of the running phase and event generation.
    running_since: float | None = None
    running_duration: float = 0.0
    hang: bool = False
    fail: bool = False
    generation: int = 0
    forced_host: bool = False
    stop_after_evacuate: bool = False
    request_id: str | None = None

    @property
    def in_progress(self) -> bool:
        return self.status in MIGRATION_IN_PROGRESS


@dataclass
class ServerGroup:
    id: str
    name: str
    policy: str
    project_id: str
    user_id: str
    members: list[str] = field(default_factory=list)
    rules: dict[str, int] = field(default_factory=dict)


@dataclass
class Aggregate:
    id: int
    uuid: str
    name: str
    availability_zone: str | None
    hosts: list[str]
    metadata: dict[str, str]
    created: float


@dataclass
class Image:
    id: str
    name: str
    size: int
    min_disk: int
    owner: str
    created: float


@dataclass
class ActionEvent:
    event: str
    start: float
    finish: float | None = None
    result: str | None = None
    host: str | None = None
    details: str | None = None
    exception: str | None = None  # the class a failed step raised (its traceback's last line)


@dataclass
class InstanceAction:
    """Nova's instance action record: what was asked, by whom, and how each step ended."""

    action: str
    request_id: str
    instance_id: str
    project_id: str
    user_id: str
    start: float
    updated: float
    message: str | None = None
    events: list[ActionEvent] = field(default_factory=list)


@dataclass
class Inventory:
    """One resource class of a Placement resource provider, as nova-compute reports it."""

    total: int
    reserved: int = 0
    allocation_ratio: float = 1.0
    min_unit: int = 1
    max_unit: int = 0
    step_size: int = 1

    @property
    def capacity(self) -> float:
        """What Placement may hand out: (total - reserved) x allocation_ratio (compared as a
        float when claiming; provider summaries show it truncated)."""
        return (self.total - self.reserved) * self.allocation_ratio


@dataclass
class Provider:
    """A Placement resource provider: a compute node (root) or a device under it (child)."""

    uuid: str
    name: str
    host: str
    root_uuid: str
    parent_uuid: str | None
    inventories: dict[str, Inventory]
    traits: set[str] = field(default_factory=set)
    generation: int = 1


@dataclass
class Consumer:
    """Who holds allocations: an instance, or a migration while a move is in flight."""

    uuid: str
    project_id: str
    user_id: str
    consumer_type: str  # INSTANCE or MIGRATION (Placement 1.38)
    allocations: dict[str, dict[str, int]] = field(default_factory=dict)
    generation: int = 1
