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
    """Nova's overcommit factors; Nova's own initial defaults are 4.0 / 1.0 / 1.0."""

    cpu: float = Field(4.0, gt=0)
    ram: float = Field(1.0, gt=0)
    disk: float = Field(1.0, gt=0)


class Host(_Model):
    """A compute node as Nova sees it: its nova-compute service, hypervisor and placement."""

    name: str = Field(description="The compute service host name (what `--host` takes).")
    service_id: str
    state: Literal["up", "down"] = "up"
    status: Literal["enabled", "disabled"] = "enabled"
    disabled_reason: str | None = None
    forced_down: bool = False
    zone: str = "nova"
    aggregates: list[str] = Field(default_factory=list)
    capacity: Resources = Field(description="Physical vCPUs, RAM (MiB) and disk (GiB).")
    reserved: Resources = Field(default_factory=Resources)
    ratios: AllocationRatios = Field(default_factory=AllocationRatios)
    used: Resources = Field(
        default_factory=Resources, description="Sum of the flavors of the instances on it."
    )
    max_concurrent_live_migrations: int = Field(1, ge=1)

    @property
    def usable(self) -> Resources:
        """What the scheduler may hand out: (capacity - reserved) x allocation ratio."""
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
        """Nova's scheduler would place instances here."""
        return self.is_up and self.status == "enabled"


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


class CloudFeatures(_Model):
    """What the cloud's API can do, as negotiated when the snapshot was taken."""

    max_microversion: str = "2.1"
    numa_live_migration: bool = Field(
        True, description="Nova >= Train live-migrates pinned / NUMA instances."
    )


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
        0.0, ge=0, description="spread: a move must lower the hottest load by at least this."
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
