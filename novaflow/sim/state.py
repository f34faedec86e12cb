"""SimCloud: the in-memory cloud (records, clock, events, faults) built from a ClusterSpec."""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from novaflow.sim import microversion, placement
from novaflow.sim.clock import EventQueue, SimClock
from novaflow.sim.errors import not_found
from novaflow.sim.faults import FaultInjector, FaultPlan
from novaflow.sim.model import (
    PAUSED,
    RUNNING,
    SHUTDOWN,
    Aggregate,
    Consumer,
    Flavor,
    Host,
    Image,
    Instance,
    InstanceAction,
    Migration,
    Provider,
    ServerGroup,
)
from novaflow.sim.spec import AggregateSpec, ClusterSpec

ADMIN_USER = "admin"
_STATUS_STATES = {
    "ACTIVE": ("active", RUNNING),
    "SHUTOFF": ("stopped", SHUTDOWN),
    "PAUSED": ("paused", PAUSED),
    "ERROR": ("error", SHUTDOWN),
    "SUSPENDED": ("suspended", 7),
}


def stable_id(*parts: object) -> str:
    """A 32-hex id derived from its parts (Keystone-style project and user ids)."""
    return hashlib.md5(":".join(map(str, parts)).encode()).hexdigest()


@dataclass
class Usage:
    vcpus: int = 0
    ram: int = 0
    disk: int = 0
    running_vms: int = 0


class SimCloud:
    """All state of one simulated cloud. Hold `lock` while reading or changing it."""

    def __init__(
        self,
        spec: ClusterSpec,
        *,
        time_scale: float = 1.0,
        faults: FaultPlan | None = None,
        password: str = "secret",
        epoch: datetime | None = None,
        max_microversion: str | None = None,
    ) -> None:
        spec = ClusterSpec.model_validate(spec.model_dump())
        self.lock = threading.RLock()
        self.clock = SimClock(time_scale)
        self.events = EventQueue()
        self.now = 0.0
        self.epoch = (epoch or datetime.now(UTC)).replace(microsecond=0)
        self.seed = spec.seed
        self.rng = random.Random(f"runtime:{spec.seed}")
        self.password = password
        # The compute maximum advertised and accepted: below 2.96 the sim plays an older Nova.
        self.compute_max = microversion.parse_cap(max_microversion)
        self.tokens: set[str] = set()
        # Tokens of the non-admin `member` user (also in `tokens`): policy refuses admin APIs.
        self.member_tokens: set[str] = set()
        self.requests: Counter[str] = Counter()
        self.injected_errors = 0
        self.injected_resets = 0
        # Test hooks, called with each API request's route key before it is handled.
        self.request_hooks: list[Callable[[str], None]] = []
        self.faults = FaultInjector()
        self.projects = {name: stable_id("project", name) for name in spec.projects}
        self.users = {name: stable_id("user", name) for name in spec.projects}
        self.hosts: dict[str, Host] = {}
        self.flavors: dict[str, Flavor] = {}
        self.images: dict[str, Image] = {}
        self.instances: dict[str, Instance] = {}
        # Deleted instances, kept as Nova keeps soft-deleted rows: invisible to GET (404) and
        # to normal listings, but listed with status DELETED when `changes-since` is given, so
        # a poller learns of a deletion from its next list.
        self.deleted: dict[str, Instance] = {}
        self.migrations: dict[int, Migration] = {}
        self.groups: dict[str, ServerGroup] = {}
        self.aggregates: dict[int, Aggregate] = {}
        # Placement: providers by uuid, allocations by consumer uuid, usage per provider.
        self.providers: dict[str, Provider] = {}
        self.consumers: dict[str, Consumer] = {}
        self.used: dict[str, dict[str, int]] = {}
        # Live migrations waiting for a slot on their source host, in arrival order.
        self.live_queues: dict[str, list[int]] = {}
        # Evacuations waiting for a build slot on their target host, in arrival order.
        self.build_queues: dict[str, list[int]] = {}
        self.actions: dict[str, list[InstanceAction]] = {}
        self.actions_by_request: dict[str, InstanceAction] = {}
        self._instance_seq = 0
        self._beaten = False
        self._build(spec)
        if faults:
            self.set_faults(faults)

    # -- construction -------------------------------------------------------------------

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def project_id(self, name: str) -> str:
        if name not in self.projects:
            self.projects[name] = stable_id("project", name)
            self.users[name] = stable_id("user", name)
        return self.projects[name]

    def _build(self, spec: ClusterSpec) -> None:
        rng = random.Random(f"build:{spec.seed}")

        def uid() -> str:
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))

        for i, hs in enumerate(spec.hosts):
            self.hosts[hs.name] = Host(
                name=hs.name,
                zone=hs.zone,
                vcpus=hs.vcpus,
                memory_mb=hs.memory_mb,
                disk_gb=hs.disk_gb,
                cpu_allocation_ratio=hs.cpu_allocation_ratio,
                ram_allocation_ratio=hs.ram_allocation_ratio,
                disk_allocation_ratio=hs.disk_allocation_ratio,
                reserved_host_memory_mb=hs.reserved_host_memory_mb,
                max_concurrent_live_migrations=hs.max_concurrent_live_migrations,
                max_concurrent_builds=hs.max_concurrent_builds,
                reserved_host_cpus=hs.reserved_host_cpus,
                reserved_host_disk_mb=hs.reserved_host_disk_mb,
                vgpus=hs.vgpus,
                service_id=i + 10,
                service_uuid=uid(),
                hypervisor_id=i + 1,
                hypervisor_uuid=uid(),
                host_ip=f"192.168.{10 + i // 250}.{i % 250 + 10}",
                status="disabled" if hs.disabled else "enabled",
                disabled_reason=hs.disabled_reason,
                forced_down=hs.forced_down,
                alive=hs.up,
                booted_at=-86400.0 * rng.randint(5, 90),
            )
            placement.add_providers(self, self.hosts[hs.name])
        for fs in spec.flavors:
            fid = fs.id or uid()
            self.flavors[fid] = Flavor(
                id=fid,
                name=fs.name,
                vcpus=fs.vcpus,
                ram=fs.ram,
                disk=fs.disk,
                ephemeral=fs.ephemeral,
                swap=fs.swap,
                extra_specs=dict(fs.extra_specs),
            )
        admin = self.projects.get("admin") or self.project_id("admin")
        for name in spec.images:
            iid = uid()
            self.images[iid] = Image(
                id=iid,
                name=name,
                size=rng.randint(20, 900) * 1024 * 1024,
                min_disk=0,
                owner=admin,
                created=-86400.0 * 365,
            )
        for gs in spec.server_groups:
            gid = gs.id or uid()
            self.groups[gid] = ServerGroup(
                id=gid,
                name=gs.name,
                policy=gs.policy,
                project_id=self.project_id(gs.project),
                user_id=self.users[gs.project],
                rules=dict(gs.rules),
            )
        group_by_name = {g.name: g for g in self.groups.values()}
        image_by_name = {i.name: i for i in self.images.values()}
        for ispec in spec.instances:
            flavor = self.find_flavor(ispec.flavor)
            vm_state, power = _STATUS_STATES[ispec.status]
            host = self.hosts[ispec.host]
            if not host.alive:
                power = SHUTDOWN
            created = -3600.0 * rng.randint(1, 24 * 400)
            bfv = ispec.boot_from_volume or ispec.image is None
            image = None if bfv else image_by_name.get(ispec.image or "")
            metadata = dict(ispec.metadata)
            if ispec.sriov:
                metadata["novaflow-sim:sriov"] = "true"
            self._instance_seq += 1
            inst = Instance(
                id=ispec.id or uid(),
                name=ispec.name,
                project_id=self.project_id(ispec.project),
                user_id=self.users[ispec.project],
                flavor=flavor,
                image_id=image.id if image else None,
                host=host.name,
                zone=host.zone,
                vm_state=vm_state,
                task_state=None,
                power_state=power,
                created=created,
                updated=created + 60,
                launched_at=created + 30,
                seq=self._instance_seq,
                pinned_az=ispec.availability_zone,
                metadata=metadata,
                addresses=self.new_addresses(rng),
                volumes=[uid() for _ in range(ispec.volumes or (1 if bfv else 0))],
                locked=ispec.locked,
                locked_reason=ispec.locked_reason,
                key_name=ispec.key_name,
            )
            if ispec.status == "ERROR":
                inst.fault = {
                    "code": 500,
                    "created": created + 60,
                    "message": "Instance failed to spawn",
                }
            self.instances[inst.id] = inst
            # Seeded as booted: Nova's allocation for the instance exists even on a full host.
            placement.set_allocations(
                self,
                inst.id,
                placement.fit(self, host.name, placement.instance_resources(inst), check=False)
                or {host.hypervisor_uuid: placement.instance_resources(inst)},
                project_id=inst.project_id,
                user_id=inst.user_id,
            )
            for gname in ispec.groups:
                group_by_name[gname].members.append(inst.id)
        self._build_aggregates(spec, rng)

    def _build_aggregates(self, spec: ClusterSpec, rng: random.Random) -> None:
        aggs = spec.aggregates
        if aggs is None:
            aggs = []
            for zone in sorted({h.zone for h in self.hosts.values()}):
                members = [h for h in self.hosts.values() if h.zone == zone]
                first = members[0]
                aggs.append(
                    AggregateSpec(
                        name=f"{zone}-hosts",
                        availability_zone=zone,
                        hosts=[h.name for h in members],
                        metadata={
                            "cpu_allocation_ratio": str(first.cpu_allocation_ratio),
                            "ram_allocation_ratio": str(first.ram_allocation_ratio),
                            "disk_allocation_ratio": str(first.disk_allocation_ratio),
                        },
                    )
                )
        for i, a in enumerate(aggs, start=1):
            metadata = dict(a.metadata)
            if a.availability_zone:
                metadata["availability_zone"] = a.availability_zone
            self.aggregates[i] = Aggregate(
                id=i,
                uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                name=a.name,
                availability_zone=a.availability_zone,
                hosts=list(a.hosts),
                metadata=metadata,
                created=-86400.0 * 400,
            )

    def new_addresses(self, rng: random.Random | None = None) -> dict[str, list[dict[str, object]]]:
        r = rng or self.rng
        mac = "fa:16:3e:" + ":".join(f"{r.randrange(256):02x}" for _ in range(3))
        ip = f"10.{r.randrange(0, 4)}.{r.randrange(0, 256)}.{r.randrange(2, 255)}"
        return {
            "private": [
                {
                    "addr": ip,
                    "version": 4,
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": mac,
                }
            ]
        }

    # -- time ---------------------------------------------------------------------------

    def advance(self) -> None:
        """Run every event due by the clock's "now", each at its own simulated time."""
        with self.lock:
            target = max(self.now, self.clock.now())
            while (event := self.events.next_due(target)) is not None:
                self.now = max(self.now, event.at)
                event.action()
            beat = self.now != target or not self._beaten
            self.now = target
            if beat:  # per host: only when time moved, not on every request of a frozen clock
                self._beaten = True
                for host in self.hosts.values():
                    if host.alive:
                        host.last_heartbeat = self.now

    def skip(self, seconds: float) -> None:
        """Jump simulated time forward by `seconds`, running everything due meanwhile."""
        with self.lock:
            self.clock.skip(seconds)
            self.advance()

    def after(self, delay: float, action: Callable[[], None], label: str = "") -> None:
        self.events.push(self.now + max(0.0, delay), action, label)

    def time(self, sim_seconds: float) -> datetime:
        return self.epoch + timedelta(seconds=sim_seconds)

    # -- faults -------------------------------------------------------------------------

    def set_faults(self, plan: FaultPlan) -> None:
        from novaflow.sim.lifecycle import kill_host

        with self.lock:
            self.advance()
            self.faults.apply(plan)
            if plan.expire_tokens:
                self.tokens.clear()
            for down in plan.service_down:
                if down.host not in self.hosts:
                    raise not_found(f"Compute host {down.host} could not be found.")

                def die(name: str = down.host) -> None:
                    kill_host(self, name)

                self.events.push(max(down.at, self.now), die, f"service down {down.host}")
            self.advance()

    # -- lookups ------------------------------------------------------------------------

    def instance(self, server_id: str) -> Instance:
        inst = self.instances.get(server_id)
        if inst is None:
            raise not_found(f"Instance {server_id} could not be found.")
        return inst

    def host(self, name: str) -> Host:
        host = self.hosts.get(name)
        if host is None:
            raise not_found(f"Compute host {name} could not be found.")
        return host

    def find_flavor(self, ref: str) -> Flavor:
        ref = ref.rstrip("/").rsplit("/", 1)[-1]
        if ref in self.flavors:
            return self.flavors[ref]
        for f in self.flavors.values():
            if f.name == ref:
                return f
        raise not_found(f"Flavor {ref} could not be found.")

    def groups_of(self, instance_id: str) -> list[ServerGroup]:
        return [g for g in self.groups.values() if instance_id in g.members]

    def migrations_of(self, instance_id: str) -> list[Migration]:
        return [m for m in self.migrations.values() if m.instance_id == instance_id]

    def active_migration(self, instance_id: str) -> Migration | None:
        for m in reversed(self.migrations_of(instance_id)):
            if m.in_progress:
                return m
        return None

    def usages(self) -> dict[str, Usage]:
        """Resources used per compute node, as its Placement provider counts them: the
        instances' allocations plus those migrations hold on a move's source."""
        usage = {}
        for name, h in self.hosts.items():
            used = placement.root_used(self, h)
            usage[name] = Usage(
                vcpus=used.get("VCPU", 0), ram=used.get("MEMORY_MB", 0), disk=used.get("DISK_GB", 0)
            )
        for inst in self.instances.values():
            if inst.host in usage:
                usage[inst.host].running_vms += 1
        return usage

    def host_id(self, inst: Instance) -> str:
        if not inst.host:
            return ""
        return hashlib.sha224((inst.project_id + inst.host).encode()).hexdigest()

    def next_instance_seq(self) -> int:
        self._instance_seq += 1
        return self._instance_seq
