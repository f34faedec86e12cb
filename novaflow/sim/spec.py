"""ClusterSpec: a declarative, validated description of a simulated cloud, with a builder API."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

InstanceStatus = Literal["ACTIVE", "SHUTOFF", "PAUSED", "ERROR", "SUSPENDED"]
GroupPolicy = Literal["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]


class HostSpec(BaseModel):
    name: str
    zone: str = "az1"
    vcpus: int = Field(32, gt=0)
    memory_mb: int = Field(262144, gt=0)
    disk_gb: int = Field(2000, gt=0)
    cpu_allocation_ratio: float = Field(4.0, gt=0)
    ram_allocation_ratio: float = Field(1.0, gt=0)
    disk_allocation_ratio: float = Field(1.0, gt=0)
    reserved_host_memory_mb: int = Field(512, ge=0, description="nova.conf; Nova's default 512")
    reserved_host_cpus: int = Field(0, ge=0)
    reserved_host_disk_mb: int = Field(0, ge=0)
    vgpus: int = Field(0, ge=0, description="vGPUs on a nested PGPU child provider (0: none)")
    max_concurrent_live_migrations: int = Field(1, ge=1)
    max_concurrent_builds: int = Field(10, ge=1)
    disabled: bool = False
    disabled_reason: str | None = None
    forced_down: bool = False
    up: bool = True


class NovaConf(BaseModel):
    """Per-host nova.conf settings a generated cloud draws from (empty: the stock values)."""

    cpu_allocation_ratios: list[float] = Field(default_factory=list)
    ram_allocation_ratios: list[float] = Field(default_factory=list)
    reserved_host_memory_mb: list[int] = Field(default_factory=list)


class FlavorSpec(BaseModel):
    name: str
    vcpus: int = Field(gt=0)
    ram: int = Field(gt=0, description="MiB")
    disk: int = Field(ge=0, description="GiB root disk")
    ephemeral: int = 0
    swap: int = 0
    extra_specs: dict[str, str] = Field(default_factory=dict)
    id: str | None = None


class InstanceSpec(BaseModel):
    name: str
    host: str
    flavor: str = "m1.small"
    status: InstanceStatus = "ACTIVE"
    project: str = "demo"
    image: str | None = "cirros-0.6.2"
    boot_from_volume: bool = False
    volumes: int = Field(0, ge=0)
    metadata: dict[str, str] = Field(default_factory=dict)
    groups: list[str] = Field(default_factory=list)
    availability_zone: str | None = Field(
        None, description="Pinned AZ (requested at boot); None lets moves cross zones."
    )
    sriov: bool = Field(False, description="Has an SR-IOV port without a live-migratable tag.")
    locked: bool = False
    locked_reason: str | None = None
    key_name: str | None = None
    id: str | None = None


class ServerGroupSpec(BaseModel):
    name: str
    policy: GroupPolicy
    project: str = "demo"
    rules: dict[str, int] = Field(default_factory=dict)
    id: str | None = None


class AggregateSpec(BaseModel):
    name: str
    hosts: list[str]
    availability_zone: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


def default_flavors() -> list[FlavorSpec]:
    """The stock flavors, 1-16 vCPU, some with extra specs that constrain moves."""
    return [
        FlavorSpec(name="m1.tiny", vcpus=1, ram=512, disk=1, id="1"),
        FlavorSpec(name="m1.small", vcpus=1, ram=2048, disk=20, id="2"),
        FlavorSpec(name="m1.medium", vcpus=2, ram=4096, disk=40, id="3"),
        FlavorSpec(name="m1.large", vcpus=4, ram=8192, disk=80, id="4"),
        FlavorSpec(name="m1.xlarge", vcpus=8, ram=16384, disk=160, id="5"),
        FlavorSpec(name="m1.2xlarge", vcpus=16, ram=32768, disk=200, id="6"),
        FlavorSpec(
            name="c1.pinned",
            vcpus=4,
            ram=8192,
            disk=40,
            id="7",
            extra_specs={"hw:cpu_policy": "dedicated"},
        ),
        FlavorSpec(
            name="g1.pci",
            vcpus=8,
            ram=16384,
            disk=80,
            id="8",
            extra_specs={"pci_passthrough:alias": "gpu:1"},
        ),
        FlavorSpec(
            name="s1.vtpm",
            vcpus=2,
            ram=4096,
            disk=40,
            id="9",
            extra_specs={"hw:tpm_version": "2.0", "hw:tpm_model": "tpm-crb"},
        ),
    ]


DEFAULT_IMAGES = ["cirros-0.6.2", "ubuntu-22.04", "ubuntu-24.04", "centos-stream-9", "debian-12"]


class ClusterSpec(BaseModel):
    """Everything needed to build a sim; chain `host()`, `instance()`, `group()` to build one.

    >>> spec = (ClusterSpec().host("a").host("b", zone="az2")
    ...         .instance("vm1", host="a", flavor="s1.vtpm"))
    """

    hosts: list[HostSpec] = Field(default_factory=list)
    flavors: list[FlavorSpec] = Field(default_factory=default_flavors)
    instances: list[InstanceSpec] = Field(default_factory=list)
    server_groups: list[ServerGroupSpec] = Field(default_factory=list)
    aggregates: list[AggregateSpec] | None = Field(
        None, description="None: one aggregate per zone, carrying the zone and ratios."
    )
    projects: list[str] = Field(default_factory=lambda: ["admin", "demo"])
    images: list[str] = Field(default_factory=lambda: list(DEFAULT_IMAGES))
    seed: int = 0

    def host(self, name: str, **fields: object) -> Self:
        self.hosts.append(HostSpec(name=name, **fields))  # type: ignore[arg-type]
        return self

    def instance(self, name: str, host: str, **fields: object) -> Self:
        self.instances.append(InstanceSpec(name=name, host=host, **fields))  # type: ignore[arg-type]
        return self

    def group(self, name: str, policy: GroupPolicy, **fields: object) -> Self:
        self.server_groups.append(ServerGroupSpec(name=name, policy=policy, **fields))  # type: ignore[arg-type]
        return self

    def flavor(self, name: str, vcpus: int, ram: int, disk: int, **fields: object) -> Self:
        self.flavors.append(FlavorSpec(name=name, vcpus=vcpus, ram=ram, disk=disk, **fields))  # type: ignore[arg-type]
        return self

    @classmethod
    def generated(
        cls,
        hosts: int = 8,
        instances: int = 120,
        seed: int = 1,
        nova_conf: NovaConf | None = None,
    ) -> ClusterSpec:
        """A realistic seeded cluster (see `novaflow.sim.seeding`)."""
        from novaflow.sim.seeding import generate_cluster

        return generate_cluster(hosts=hosts, instances=instances, seed=seed, nova_conf=nova_conf)

    @model_validator(mode="after")
    def _references_exist(self) -> Self:
        host_names = [h.name for h in self.hosts]
        if len(set(host_names)) != len(host_names):
            raise ValueError("host names must be unique")
        flavor_names = {f.name for f in self.flavors} | {f.id for f in self.flavors if f.id}
        group_names = {g.name for g in self.server_groups}
        for inst in self.instances:
            if inst.host not in host_names:
                raise ValueError(f"instance {inst.name}: unknown host {inst.host!r}")
            if inst.flavor not in flavor_names:
                raise ValueError(f"instance {inst.name}: unknown flavor {inst.flavor!r}")
            missing = set(inst.groups) - group_names
            if missing:
                raise ValueError(f"instance {inst.name}: unknown server groups {sorted(missing)}")
        return self
