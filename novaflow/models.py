"""The typed vocabulary of novaflow: hosts, instances, snapshots, plans and outcomes.

Everything here is plain data (pydantic v2) so the planner stays pure, plans serialise to
JSON for artifacts and Slack, and a snapshot file can be replayed offline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

SNAPSHOT_SCHEMA_VERSION = 1
"""Bumped whenever a field of Snapshot (or what it contains) changes meaning or is removed."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(_Model):
    """An amount of the three resources Nova schedules on."""

    vcpus: float = 0
    ram_mb: float = 0
    disk_gb: float = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            vcpus=self.vcpus + other.vcpus,
            ram_mb=self.ram_mb + other.ram_mb,
            disk_gb=self.disk_gb + other.disk_gb,
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            vcpus=self.vcpus - other.vcpus,
            ram_mb=self.ram_mb - other.ram_mb,
            disk_gb=self.disk_gb - other.disk_gb,
        )

    def fits_in(self, room: Resources) -> bool:
        """True when this demand fits in `room` on every resource."""
        return (
            self.vcpus <= room.vcpus + 1e-9
            and self.ram_mb <= room.ram_mb + 1e-9
            and self.disk_gb <= room.disk_gb + 1e-9
        )

    def shortfall(self, room: Resources) -> dict[str, float]:
        """Per resource, how much of this demand does not fit in `room` (only the short ones)."""
        out = {}
        for name in ("vcpus", "ram_mb", "disk_gb"):
            missing = getattr(self, name) - getattr(room, name)
            if missing > 1e-9:
                out[name] = missing
        return out


class AllocationRatios(_Model):
    """Overcommit factors per resource: a compute node's Placement allocation_ratio for VCPU,
    MEMORY_MB and DISK_GB (from its nova.conf; Nova's initial defaults are 4.0 / 1.0 / 1.0)."""

    cpu: float = Field(4.0, gt=0)
    ram: float = Field(1.0, gt=0)
    disk: float = Field(1.0, gt=0)


class Inventory(_Model):
    """One resource class of a Placement resource provider, with what is allocated from it."""

    total: int = 0
    reserved: int = 0
    allocation_ratio: float = 1.0
    min_unit: int = 1
    max_unit: int | None = None
    """None: no limit known (Nova's compute service sets it to the total it reports)."""
    step_size: int = 1
    used: int = 0

    @property
    def capacity(self) -> float:
        """What Placement may hand out in all: (total - reserved) x allocation_ratio."""
        return (self.total - self.reserved) * self.allocation_ratio

    @property
    def free(self) -> float:
        return self.capacity - self.used

    def refusal(self, amount: int) -> str | None:
        """Why Placement refuses `amount` in one allocation, whatever is free (None: it may)."""
        if amount < self.min_unit:
            return f"less than its min_unit {self.min_unit}"
        if self.max_unit is not None and amount > self.max_unit:
            return f"more than its max_unit {self.max_unit}"
        if self.step_size > 1 and amount % self.step_size:
            return f"not a multiple of its step_size {self.step_size}"
        return None


class NestedProvider(_Model):
    """A child resource provider of a compute node (a physical GPU with vGPUs, a PCI device)."""

    name: str
    uuid: str
    inventory: dict[str, Inventory] = Field(default_factory=dict)


STANDARD_RESOURCES = {"VCPU": "vcpus", "MEMORY_MB": "ram_mb", "DISK_GB": "disk_gb"}
"""Placement's resource classes for the three a Host's capacity / used / free are counted in."""


def placement_request(flavor: Flavor, boot_from_volume: bool = False) -> dict[str, int]:
    """What Nova asks Placement for a flavor: the standard classes plus `resources:RC=N`."""
    disk = flavor.ephemeral_gb + (0 if boot_from_volume else flavor.disk_gb)
    disk += -(-flavor.swap_mb // 1024)
    wanted = {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.ram_mb, "DISK_GB": disk}
    for key, value in flavor.extra_specs.items():
        if key.startswith("resources:") and value.strip().isdigit():
            wanted[key.split(":", 1)[1]] = int(value)
    return {rc: n for rc, n in wanted.items() if n > 0}


class Host(_Model):
    """A compute node as Nova sees it: its nova-compute service, hypervisor and placement.

    Capacity, reserved, ratios and used are its Placement resource provider's inventories and
    usages (VCPU, MEMORY_MB, DISK_GB): what Nova's scheduler decides from. `used` counts every
    allocation there, so a move's source held by its migration and what an evacuated dead
    host still holds are counted too.
    """

    name: str = Field(description="The compute service host name (what `--host` takes).")
    service_id: str
    state: Literal["up", "down"] = "up"
    status: Literal["enabled", "disabled"] = "enabled"
    disabled_reason: str | None = None
    forced_down: bool = False
    zone: str = "nova"
    aggregates: list[str] = Field(default_factory=list)
    capacity: Resources = Field(description="Placement totals: vCPUs, RAM (MiB), disk (GiB).")
    reserved: Resources = Field(default_factory=Resources)
    ratios: AllocationRatios = Field(default_factory=AllocationRatios)
    used: Resources = Field(
        default_factory=Resources, description="Placement usages: every allocation held here."
    )
    max_concurrent_live_migrations: int = Field(1, ge=1)
    cell: str | None = Field(
        None,
        description="The Nova cell of the host where the cloud shows it (aggregate metadata "
        "`cell`); None: not known, moves are not bounded by cells.",
    )
    inventory: dict[str, Inventory] = Field(
        default_factory=dict, description="The compute node provider's inventories by class."
    )
    nested: list[NestedProvider] = Field(default_factory=list)
    placement_disabled: bool = Field(
        False, description="Its provider carries COMPUTE_STATUS_DISABLED."
    )
    aggregate_ratios: dict[str, float] = Field(
        default_factory=dict,
        description="cpu/ram/disk ratios set in aggregate metadata (not what Nova uses).",
    )
    threads: int | None = Field(
        None,
        description="Physical CPU threads (Placement VCPU total), the denominator of host CPU "
        "load; None: capacity.vcpus.",
    )
    cpu_load: float | None = Field(
        None,
        description="Measured CPU busy fraction of its threads (node_exporter); None: the sum "
        "of its instances' cpu_load over threads.",
    )

    def refusal(self, wanted: dict[str, int]) -> str | None:
        """Why Placement can never give one instance `wanted` here, even on an empty host:
        a min/max_unit or step_size of the node's inventory, or a class (VGPU, say) that
        neither the node nor a nested provider of it has. None when it could."""
        for rc, amount in wanted.items():
            inv = self.inventory.get(rc)
            if inv is not None:
                why = inv.refusal(amount)
                if why:
                    return f"{amount} {rc} is {why} on {self.name}"
                continue
            if rc in STANDARD_RESOURCES and not self.inventory:
                continue  # a snapshot built without Placement inventories
            devices = [n.inventory[rc] for n in self.nested if rc in n.inventory]
            if not devices:
                return f"{self.name} has no {rc} provider"
            if all(d.refusal(amount) for d in devices):
                return f"{amount} {rc} is more than one device of {self.name} gives"
        return None

    def nested_room(self, rc: str) -> float:
        """Free units of a class on the nested providers (a VGPU's, say)."""
        return sum(n.inventory[rc].free for n in self.nested if rc in n.inventory)

    def ratio_differences(self) -> dict[str, tuple[float, float]]:
        """Per kind, (aggregate metadata's ratio, Placement's) where the two disagree."""
        placement = {"cpu": self.ratios.cpu, "ram": self.ratios.ram, "disk": self.ratios.disk}
        return {
            kind: (value, placement[kind])
            for kind, value in self.aggregate_ratios.items()
            if abs(value - placement[kind]) > 1e-9
        }

    @property
    def usable(self) -> Resources:
        """What Placement may hand out: (total - reserved) x allocation_ratio."""
        return Resources(
            vcpus=(self.capacity.vcpus - self.reserved.vcpus) * self.ratios.cpu,
            ram_mb=(self.capacity.ram_mb - self.reserved.ram_mb) * self.ratios.ram,
            disk_gb=(self.capacity.disk_gb - self.reserved.disk_gb) * self.ratios.disk,
        )

    @property
    def free(self) -> Resources:
        return self.usable - self.used

    @property
    def is_up(self) -> bool:
        """The node answers: its service reports in and nobody forced it down."""
        return self.state == "up" and not self.forced_down

    @property
    def accepts_instances(self) -> bool:
        """Nova's scheduler would place instances here: an enabled, up service whose provider
        Placement does not mark COMPUTE_STATUS_DISABLED (Nova's pre-filter drops those)."""
        return self.is_up and self.status == "enabled" and not self.placement_disabled


class Flavor(_Model):
    """The flavor embedded in an instance (microversion >= 2.47 carries extra_specs)."""

    name: str
    vcpus: int = Field(ge=0)
    ram_mb: int = Field(ge=0)
    disk_gb: int = Field(0, ge=0)
    ephemeral_gb: int = 0
    swap_mb: int = 0
    extra_specs: dict[str, str] = Field(default_factory=dict)

    @property
    def resources(self) -> Resources:
        return Resources(
            vcpus=self.vcpus,
            ram_mb=self.ram_mb + self.swap_mb,
            disk_gb=self.disk_gb + self.ephemeral_gb,
        )


class Instance(_Model):
    """A Nova server at snapshot time."""

    id: str = Field(description="UUID")
    name: str
    project_id: str
    host: str | None = None
    status: str = Field(description="Nova status: ACTIVE, SHUTOFF, PAUSED, ERROR, MIGRATING...")
    task_state: str | None = None
    vm_state: str | None = None
    zone: str | None = None
    flavor: Flavor
    image_id: str | None = None
    boot_from_volume: bool = False
    volumes: list[str] = Field(default_factory=list)
    server_groups: list[str] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    addresses: dict[str, list[str]] = Field(
        default_factory=dict, description="Network name -> IP addresses."
    )
    locked: bool = False
    config_drive: bool = False
    cpu_load: float | None = Field(
        None,
        description="Measured CPU use in cores (vCPUs busy) over the load window; None: not "
        "measured.",
    )
    pinned_zone: str | None = Field(
        None,
        description="The availability zone Nova keeps it in on every move (2.96 "
        "`pinned_availability_zone`: the zone asked for at boot, or the volumes' zone); None: "
        "unpinned, or the cloud is older than 2.96 (see CloudFeatures.reports_pinned_zones).",
    )
    cpu_load: float | None = Field(
        None,
        description="Measured CPU use in cores (vCPUs busy) over the load window, by the "
        "statistic chosen (mean or p95); None: not measured.",
    )

    @property
    def in_down_cell(self) -> bool:
        """Nova listed it from a cell that does not answer (2.69): only its id and status
        UNKNOWN are known, not its host; it is neither gone nor anywhere novaflow can tell."""
        return self.status == "UNKNOWN" and self.host is None

    @property
    def resources(self) -> Resources:
        # A boot-from-volume instance uses no local disk on its host.
        res = self.flavor.resources
        if self.boot_from_volume:
            res = Resources(vcpus=res.vcpus, ram_mb=res.ram_mb, disk_gb=self.flavor.ephemeral_gb)
        return res

    @property
    def label(self) -> str:
        """How an operator names this instance in a message: name (short uuid)."""
        return f"{self.name} ({self.id[:8]})"


class ServerGroup(_Model):
    id: str
    name: str
    policy: Literal["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]
    members: list[str] = Field(default_factory=list)
    project_id: str | None = None
    rules: dict[str, int] = Field(
        default_factory=dict, description="2.64 rules: `max_server_per_host` (anti-affinity)."
    )

    @property
    def max_server_per_host(self) -> int:
        """How many members Nova's anti-affinity filter lets share a host (Nova's default 1)."""
        return max(1, int(self.rules.get("max_server_per_host", 1)))


class CloudFeatures(_Model):
    """What the cloud's API can do, as negotiated when the snapshot was taken."""

    max_microversion: str = "2.1"
    numa_live_migration: bool = Field(
        True, description="Nova >= Train live-migrates pinned / NUMA instances."
    )
    cross_cell_resize: bool = Field(
        False,
        description="Policy compute:servers:resize:cross_cell lets cold migrations leave their "
        "cell (Nova's default rule '!' lets nobody); live migration and evacuation never do.",
    )

    @property
    def reports_pinned_zones(self) -> bool:
        """Servers carry `pinned_availability_zone` (2.96+): an absent pin means unpinned."""
        major, _, minor = self.max_microversion.partition(".")
        try:
            return (int(major), int(minor or 0)) >= (2, 96)
        except ValueError:
            return False


class LoadInfo(_Model):
    """Where the snapshot's CPU load came from, so a plan can say what it was planned on."""

    source: Literal["prometheus", "allocation"]
    window: str = "1h"
    statistic: Literal["mean", "p95"] = "mean"
    url: str | None = None
    note: str = ""


class Snapshot(_Model):
    """The whole cloud at one moment: the only input the planner needs.

    Schema (version 1): `hosts`, `instances`, `server_groups` are lists of the models above;
    `cloud` names the clouds.yaml entry; `features` the negotiated API capabilities.
    """

    schema_version: Literal[1] = SNAPSHOT_SCHEMA_VERSION
    taken_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    cloud: str = ""
    hosts: list[Host] = Field(default_factory=list)
    instances: list[Instance] = Field(default_factory=list)
    server_groups: list[ServerGroup] = Field(default_factory=list)
    features: CloudFeatures = Field(default_factory=CloudFeatures)
    load: LoadInfo | None = Field(
        None, description="Measured load's source; None: not read (allocation stands in)."
    )

    def placement_notes(self, moves: list[Move]) -> list[str]:
        """Moves to a named host whose Placement can never grant the instance's flavor there:
        a min/max_unit or step_size of its inventory, or a class (VGPU, say) that no provider
        of the host has or has free. Nova would answer NoValidHost; the plan says so first."""
        hosts = {h.name: h for h in self.hosts}
        instances = {i.id: i for i in self.instances}
        notes = []
        for m in moves:
            host, inst = hosts.get(m.target or ""), instances.get(m.instance_id)
            if host is None or inst is None:
                continue
            wanted = placement_request(inst.flavor, inst.boot_from_volume)
            why = host.refusal(wanted)
            short = [
                rc
                for rc, n in wanted.items()
                if rc not in STANDARD_RESOURCES and host.nested_room(rc) < n
            ]
            if why is None and short:
                why = f"{host.name} has no free {', '.join(short)}"
            if why:
                notes.append(f"{inst.label} -> {host.name}: Placement refuses it ({why})")
        return notes

    def ratio_notes(self) -> list[str]:
        """Where aggregate metadata sets allocation ratios that Placement does not have.

        Nova's scheduler no longer reads those keys; the plan goes by Placement, and says so
        so that an operator who set the aggregate keys knows they do nothing.
        """
        differ: dict[tuple[str, float, float], list[str]] = {}
        for h in self.hosts:
            for kind, (agg, placed) in h.ratio_differences().items():
                differ.setdefault((kind, agg, placed), []).append(h.name)
        notes = []
        for (kind, agg, placed), names in sorted(differ.items()):
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            notes.append(
                f"aggregate metadata sets {kind}_allocation_ratio {agg:g} on {shown}, but "
                f"Placement has {placed:g} there: Nova schedules by Placement and so does this "
                f"plan (set {kind}_allocation_ratio in nova.conf of those compute nodes, or drop "
                "the aggregate key)"
            )
        return notes

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def instances_on(self, host: str) -> list[Instance]:
        return [i for i in self.instances if i.host == host]


class Method(StrEnum):
    """How an instance leaves its host."""

    LIVE = "live"
    COLD = "cold"
    EVACUATE = "evacuate"


class MethodPolicy(StrEnum):
    """Which methods a run may use. SHUTOFF instances always cold-migrate."""

    LIVE = "live"
    LIVE_THEN_COLD = "live-then-cold"
    COLD = "cold"


class Move(_Model):
    """One instance to move: from where, to where (None = let Nova's scheduler choose), how."""

    instance_id: str
    instance_name: str
    source: str
    target: str | None = Field(None, description="None lets Nova's scheduler choose.")
    method: Method
    fallback: Method | None = Field(
        None, description="Method to try if the first fails (live -> cold under live-then-cold)."
    )
    reason: str
    priority: int = 0
    resources: Resources = Field(default_factory=Resources)
    expected_seconds: float | None = None
    needs_state_reset: bool = Field(
        False,
        description="Evacuation: the instance is stuck in a task or state Nova will not evacuate "
        "from; the flow must reset its state (`openstack server set --state active`) first.",
    )


class Skip(_Model):
    """An instance the plan leaves where it is, why, and what the operator can do about it."""

    instance_id: str
    instance_name: str
    host: str | None
    reason: str
    remedy: str


class DrainRequest(_Model):
    kind: Literal["drain"] = "drain"
    hosts: list[str] = Field(min_length=1)
    policy: MethodPolicy = MethodPolicy.LIVE_THEN_COLD
    let_scheduler_choose: bool = False
    exclude_hosts: list[str] = Field(default_factory=list)
    target_hosts: list[str] = Field(
        default_factory=list, description="Only these hosts may receive instances (empty: any)."
    )
    prefer_hosts: list[str] = Field(
        default_factory=list,
        description="Targets tried before any other (a campaign's hosts already done).",
    )
    last_resort_hosts: list[str] = Field(
        default_factory=list,
        description="Targets used only when no other host fits (a campaign's hosts still to do).",
    )

    @field_validator("hosts")
    @classmethod
    def _no_duplicates(cls, hosts: list[str]) -> list[str]:
        twice = sorted({h for h in hosts if hosts.count(h) > 1})
        if twice:
            raise ValueError(f"host given more than once: {', '.join(twice)}")
        return hosts


class EvacuateRequest(_Model):
    kind: Literal["evacuate"] = "evacuate"
    host: str
    reserved_hosts: list[str] = Field(
        default_factory=list, description="Spare hosts filled first, before any other."
    )
    priority_key: str = Field(
        "evacuation_priority",
        description="Instance metadata key; higher numbers are evacuated first.",
    )
    let_scheduler_choose: bool = False
    exclude_hosts: list[str] = Field(default_factory=list)
    shared_storage: bool = Field(
        False, description="Instance disks live on shared storage, so local disks survive."
    )
    pack_targets: bool = Field(
        False,
        description=(
            "Fill reserved hosts one at a time, keeping others free for the next failure, "
            "at the cost of a slower recovery."
        ),
    )


class RebalanceRequest(_Model):
    kind: Literal["rebalance"] = "rebalance"
    strategy: Literal["consolidate", "spread", "proximity"]
    max_moves: int | None = Field(None, ge=0, description="Move budget; None = unlimited.")
    min_gain: float = Field(
        0.005,
        ge=0,
        description="Hysteresis for spread: a move must lower the hottest host's load by at "
        "least this (0.005 = half a point), so tiny gains do not cost a migration.",
    )
    cpu_ceiling: float = Field(
        0.8,
        gt=0,
        description="consolidate: no host is filled past this CPU load (busy / physical "
        "threads) when the snapshot has measured load.",
    )
    policy: MethodPolicy = MethodPolicy.LIVE_THEN_COLD
    exclude_hosts: list[str] = Field(default_factory=list)
    # proximity: which instances go where
    select_project: str | None = None
    select_metadata: dict[str, str] = Field(default_factory=dict)
    select_name: str | None = Field(None, description="Substring of instance names.")
    target_hosts: list[str] = Field(default_factory=list)
    target_aggregate: str | None = None
    target_zone: str | None = None


PlanRequest = Annotated[
    DrainRequest | EvacuateRequest | RebalanceRequest, Field(discriminator="kind")
]


class Capacity(_Model):
    """Can the cloud absorb the plan? Needed vs free, per resource, in numbers."""

    needed: Resources
    free: Resources
    fits: bool


class TimelineEntry(_Model):
    instance_id: str
    start: float
    end: float
    slot_host: str


class Plan(_Model):
    """What novaflow will do, in order, and what it will not do and why."""

    request: PlanRequest
    moves: list[Move] = Field(default_factory=list)
    skips: list[Skip] = Field(default_factory=list)
    usage_before: dict[str, Resources] = Field(default_factory=dict)
    usage_after: dict[str, Resources] = Field(default_factory=dict)
    capacity: Capacity | None = None
    warnings: list[str] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    emptied_hosts: list[str] = Field(default_factory=list)
    load_basis: Literal["cpu", "allocation"] | None = Field(
        None,
        description="What load_before / load_after measure: measured CPU over physical threads, "
        "or allocation (max of vCPU, RAM, disk used over usable) when there is no measured load.",
    )
    load_before: dict[str, float] = Field(default_factory=dict)
    load_after: dict[str, float] = Field(default_factory=dict)

    @computed_field
    @property
    def feasible(self) -> bool:
        """False when the cloud cannot take what the request asks (capacity says why)."""
        return self.capacity is None or self.capacity.fits

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.moves:
            out[m.method.value] = out.get(m.method.value, 0) + 1
        return out


class Outcome(_Model):
    """What happened to one planned move."""

    instance_id: str
    instance_name: str
    result: Literal["moved", "already-done", "failed", "skipped", "not-started", "aborted"]
    method: Method | None = None
    source: str | None = None
    final_host: str | None = None
    final_status: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    migration_id: str | None = None
    error: str | None = None
    remedy: str | None = None
    nova_reason: str | None = Field(
        None,
        description="Why Nova refused or failed the move, in its words and where it said them "
        "(an instance action event's 2.84 details or traceback, the server's fault).",
    )
    cause: str | None = Field(
        None,
        description="The cause Nova's words name (novaflow/refusals.py Cause): 'no valid host', "
        "'server group policy', 'host disabled or down', 'cannot live-migrate', ...",
    )

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class ApprovalDecision(_Model):
    """An answer at an approval gate, from the Prefect UI, Slack, the terminal or policy.

    Prefect's RunInput for the gate (tasks/gates.py) has these same fields, so Slack and the
    UI resume a paused run with the same payload.
    """

    approved: bool = Field(description="Approve to go ahead; reject ends the run, nothing moved.")
    comment: str = Field("", description="Why; kept in the report.")
    fenced: bool = Field(
        False, description="Evacuation only: I confirm the node is fenced (powered off)."
    )
    approver: str = Field("", description="Who decided (Prefect user, Slack user id, login).")
    via: Literal["ui", "slack", "cli", "none", "timeout"] = "ui"


class GateRecord(_Model):
    """A gate of a run and the decision taken there."""

    gate: str
    decision: ApprovalDecision


class RunReport(_Model):
    """What a flow run did: its plan, the gates' decisions and every move's outcome."""

    scenario: str
    cloud: str
    hosts: list[str]
    dry_run: bool = False
    plan: Plan | None = None
    gates: list[GateRecord] = Field(default_factory=list)
    outcomes: list[Outcome] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def approved(self) -> bool:
        return all(g.decision.approved for g in self.gates)

    @property
    def unfinished(self) -> list[Outcome]:
        """Moves that did not end with the instance where the plan wanted it."""
        return [o for o in self.outcomes if o.result not in ("moved", "already-done")]

    @property
    def ok(self) -> bool:
        """Every planned move succeeded (the CLI's exit code 0)."""
        planned = len(self.plan.moves) if self.plan else 0
        done = len(self.outcomes) - len(self.unfinished)
        return self.approved and not self.unfinished and (self.dry_run or done >= planned)
