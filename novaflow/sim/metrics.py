"""The sim's `/metrics`: CPU counters as libvirt exporter and node_exporter publish them.

Operators measure load with Prometheus scraping two exporters on every compute node: a
libvirt exporter (per domain, `libvirt_domain_info_cpu_time_seconds_total`, the CPU seconds
the domain used) and node_exporter (per host CPU and mode, `node_cpu_seconds_total`). The sim
publishes both from one endpoint, so one scrape job covers the cloud. Every series carries
`instance="<compute host>"`, the label Prometheus would give the two exporters of that host
(scrape with `honor_labels: true` so Prometheus keeps it).

The counters integrate a seeded load model over wall-clock seconds, so `rate()` gives the
model's load in cores whatever the sim clock's speed; the model itself follows the sim clock
(a day-long wave), so skipping sim time changes the load as a day passing would.
"""

from __future__ import annotations

import math
import random
import threading
import time
import weakref
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from novaflow.sim.model import RUNNING
from novaflow.sim.state import SimCloud

router = APIRouter()

DAY = 86400.0
HOT_SHARE = 0.25
"""About this share of the hosts (at least one) are hot: their instances run busy."""
HOST_OVERHEAD = 0.02
"""What the hypervisor itself keeps busy, as a share of its threads."""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class LoadModel:
    """Seeded CPU use per instance: a base level, a day-long wave and per-minute noise.

    An instance is hot when it was on a hot host the first time the model saw it: the load
    belongs to the workload, so it moves with the instance.
    """

    seed: int
    hot_hosts: frozenset[str]
    home: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_hosts(cls, seed: int, hosts: list[str]) -> LoadModel:
        rng = random.Random(f"load:{seed}")
        names = sorted(hosts)
        count = max(1, round(len(names) * HOT_SHARE)) if names else 0
        return cls(seed=seed, hot_hosts=frozenset(rng.sample(names, count)))

    def busy_share(self, instance_id: str, sim_seconds: float) -> float:
        """The share of its vCPUs the instance keeps busy at `sim_seconds` (0..1)."""
        rng = random.Random(f"load:{self.seed}:{instance_id}")
        hot = self.home.get(instance_id) in self.hot_hosts
        base = rng.uniform(0.7, 0.9) if hot else rng.uniform(0.05, 0.4)
        phase = rng.random()
        wave = 1 + 0.2 * math.sin(2 * math.pi * (sim_seconds / DAY + phase))
        minute = int(sim_seconds // 60)
        noise = random.Random(f"load:{self.seed}:{instance_id}:{minute}").uniform(-0.03, 0.03)
        return min(1.0, max(0.0, base * wave + noise))

    def cores(self, instance_id: str, host: str, vcpus: int, sim_seconds: float) -> float:
        """vCPUs busy (in cores) for an instance running on `host` now."""
        self.home.setdefault(instance_id, host)
        return vcpus * self.busy_share(instance_id, sim_seconds)


class Meter:
    """The exporters' counters for one SimCloud, advanced each time they are read."""

    def __init__(self, cloud: SimCloud) -> None:
        # A proxy: the meter must not keep its cloud alive (meters are kept by cloud, weakly).
        self.cloud = weakref.proxy(cloud)
        self.lock = threading.Lock()
        with cloud.lock:
            self.model = LoadModel.for_hosts(cloud.seed, list(cloud.hosts))
            for inst in cloud.instances.values():
                if inst.host:
                    self.model.home[inst.id] = inst.host
        self.last = time.monotonic()
        # (instance id, host) -> CPU seconds: a domain's counter starts again on a new host.
        self.domains: dict[tuple[str, str], float] = {}
        # (host, mode) -> CPU seconds of each of the host's threads in that mode.
        self.modes: dict[tuple[str, str], float] = {}

    def read(self) -> tuple[list[tuple[str, str, str, float]], list[tuple[str, int, str, float]]]:
        """Advance every counter to now; (domains, host modes) as the exporters list them."""
        with self.lock, self.cloud.lock:
            self.cloud.advance()
            now = time.monotonic()
            elapsed, self.last = now - self.last, now
            sim_now = self.cloud.now
            busy: dict[str, float] = {}
            domains = []
            for inst in sorted(self.cloud.instances.values(), key=lambda i: i.seq):
                host = self.cloud.hosts.get(inst.host or "")
                if host is None or not host.alive:
                    continue
                key = (inst.id, host.name)
                used = self.domains.get(key, 0.0)
                if inst.power_state == RUNNING:
                    cores = self.model.cores(inst.id, host.name, inst.flavor.vcpus, sim_now)
                    used += cores * elapsed
                    busy[host.name] = busy.get(host.name, 0.0) + cores
                self.domains[key] = used
                domains.append((inst.instance_name, inst.id, host.name, used))
            modes = []
            for host in sorted(self.cloud.hosts.values(), key=lambda h: h.name):
                if not host.alive or host.vcpus <= 0:
                    continue
                share = min(1.0, HOST_OVERHEAD + busy.get(host.name, 0.0) / host.vcpus)
                # Guest time shows as user time on a KVM host; the rest of busy is system.
                parts = {"user": 0.9 * share, "system": 0.1 * share, "idle": 1 - share}
                for mode, part in parts.items():
                    seconds = self.modes.get((host.name, mode), 0.0) + part * elapsed
                    self.modes[(host.name, mode)] = seconds
                    modes.append((host.name, host.vcpus, mode, seconds))
            return domains, modes


_meters: weakref.WeakKeyDictionary[SimCloud, Meter] = weakref.WeakKeyDictionary()
_meters_lock = threading.Lock()


def meter_for(cloud: SimCloud) -> Meter:
    """The one Meter of a cloud, started at its first read (tests read its model too)."""
    with _meters_lock:
        meter = _meters.get(cloud)
        if meter is None:
            meter = _meters[cloud] = Meter(cloud)
        return meter


def exposition(meter: Meter) -> str:
    """Prometheus' text format of every counter, as the two exporters would write it."""
    domains, modes = meter.read()
    lines = [
        "# HELP libvirt_domain_info_cpu_time_seconds_total Amount of CPU time used by the "
        "domain, in seconds.",
        "# TYPE libvirt_domain_info_cpu_time_seconds_total counter",
    ]
    for domain, uuid, host, used in domains:
        lines.append(
            f'libvirt_domain_info_cpu_time_seconds_total{{domain="{domain}",uuid="{uuid}",'
            f'instance="{host}"}} {used:.6f}'
        )
    lines += [
        "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.",
        "# TYPE node_cpu_seconds_total counter",
    ]
    for host, threads, mode, seconds in modes:
        for cpu in range(threads):
            lines.append(
                f'node_cpu_seconds_total{{cpu="{cpu}",mode="{mode}",instance="{host}"}} '
                f"{seconds:.6f}"
            )
    return "\n".join(lines) + "\n"


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    """No token needed: exporters' endpoints are scraped without Keystone."""
    meter = meter_for(request.app.state.cloud)
    return PlainTextResponse(exposition(meter), media_type=CONTENT_TYPE)
