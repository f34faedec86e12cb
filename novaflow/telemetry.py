"""Measured CPU load from Prometheus, written into a Snapshot (or why there is none).

Operators already scrape a libvirt exporter (per domain CPU seconds) and node_exporter (per
host CPU seconds by mode) on every compute node. Over Prometheus' HTTP API this reads, for a
window (1 h by default), each instance's CPU use in cores and each host's busy share of its
threads: the per-interval `rate()` averaged over the window (mean) or its 95th percentile
(p95), with subqueries. Without metrics the snapshot says so, and the planner falls back to
allocation: a plan is never refused for lack of telemetry.
"""

from __future__ import annotations

import math
import os
import re
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed

from novaflow.models import Host, LoadInfo, Snapshot

DEFAULT_INSTANCE_QUERY = "sum by (uuid) (rate(libvirt_domain_info_cpu_time_seconds_total[{rate}]))"
"""libvirt exporter: CPU seconds per second of each domain = cores busy, by server uuid."""
DEFAULT_HOST_QUERY = (
    'sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[{rate}])) '
    "/ sum by (instance) (rate(node_cpu_seconds_total[{rate}]))"
)
"""node_exporter: the share of a host's CPU time not idle. A ratio of two rates rather than
`1 - rate(idle)`: over a series younger than the rate interval (a Prometheus or an exporter
started minutes ago) rate() comes out short, and `1 - rate(idle)` would read an idle host
as busy; the ratio's two rates come out short alike."""

_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str) -> float:
    """A PromQL duration (`1h30m`) in seconds."""
    return sum(
        int(n) * _UNIT_SECONDS[unit] for n, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration)
    )


class LoadSettings(BaseModel):
    """Where measured load comes from and over which window (rebalance's telemetry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prometheus_url: str | None = Field(
        default_factory=lambda: os.environ.get("NOVAFLOW_PROMETHEUS_URL") or None,
        description="Prometheus' base URL (http://prometheus:9090); empty: plan on allocation. "
        "Default: $NOVAFLOW_PROMETHEUS_URL where the flow runs.",
    )
    load_window: str = Field("1h", description="How far back the load is read (PromQL: 1h, 30m).")
    load_statistic: Literal["mean", "p95"] = Field(
        "mean", description="mean: average use over the window; p95: its busy peaks."
    )
    rate_interval: str = Field("5m", description="The range of each rate() (PromQL duration).")
    resolution: str | None = Field(
        None,
        description="Step of the subquery over the window; empty: a 60th of the window "
        "(1m for 1h), at least 1s.",
    )
    instance_query: str = Field(
        DEFAULT_INSTANCE_QUERY,
        description="PromQL giving cores busy per instance; {rate} is the rate interval.",
    )
    instance_label: str = Field("uuid", description="Label of instance_query holding server IDs.")
    host_query: str = Field(
        DEFAULT_HOST_QUERY,
        description="PromQL giving each host's CPU busy share (0..1); {rate} as above.",
    )
    host_label: str = Field(
        "instance",
        description="Label of host_query naming the compute host (a :port or domain suffix of "
        "it is ignored).",
    )
    timeout_s: float = Field(10.0, gt=0, description="Per Prometheus request.")

    @field_validator("load_window", "rate_interval", "resolution")
    @classmethod
    def _promql_duration(cls, value: str | None) -> str | None:
        if value is not None and not _DURATION.match(value):
            raise ValueError(f"{value!r} is not a Prometheus duration (like 1h, 30m, 90s)")
        return value

    def promql(self, inner: str) -> str:
        """`inner` (a per-interval rate) over the window, by the statistic chosen."""
        series = f"({inner.replace('{rate}', self.rate_interval)})"
        step = self.resolution or f"{max(1, int(seconds(self.load_window) // 60))}s"
        span = f"[{self.load_window}:{step}]"
        if self.load_statistic == "p95":
            return f"quantile_over_time(0.95, {series}{span})"
        return f"avg_over_time({series}{span})"


class NoMetrics(Exception):
    """Prometheus could not give the load; the message says why, for the plan's note."""


def threads(host: Host) -> int:
    """Physical CPU threads: Placement's VCPU total (before any ratio), else the capacity."""
    vcpu = host.inventory.get("VCPU")
    return int(vcpu.total) if vcpu is not None else int(host.capacity.vcpus)


def host_key(label: str) -> str:
    """A Prometheus target (`compute-01.example.org:9100`) as a short host name."""
    return label.rsplit(":", 1)[0].split(".", 1)[0] if label else label


@retry(
    retry=retry_if_exception_type(httpx.TransportError),
    stop=stop_after_attempt(2),
    wait=wait_fixed(0.5),
    reraise=True,
)
def _query(client: httpx.Client, url: str, promql: str) -> list[dict]:
    response = client.get(f"{url.rstrip('/')}/api/v1/query", params={"query": promql})
    try:
        body = response.json()
    except ValueError:
        raise NoMetrics(f"HTTP {response.status_code}, not Prometheus' JSON") from None
    if body.get("status") != "success":
        raise NoMetrics(f"{body.get('errorType', 'error')}: {body.get('error', '?')}")
    return body["data"]["result"]


def query(url: str, promql: str, label: str, timeout_s: float = 10.0) -> dict[str, float]:
    """An instant query's vector as {label value: number}; NoMetrics if it cannot be read."""
    try:
        with httpx.Client(timeout=timeout_s) as client:
            result = _query(client, url, promql)
    except httpx.HTTPError as exc:
        raise NoMetrics(f"{type(exc).__name__}: {exc}") from None
    values: dict[str, float] = {}
    for sample in result:
        key = sample.get("metric", {}).get(label)
        value = float(sample["value"][1])
        if key and math.isfinite(value):
            values[key] = values.get(key, 0.0) + value
    return values


def measure(snapshot: Snapshot, settings: LoadSettings) -> Snapshot:
    """The snapshot with each instance's and host's measured CPU load, and where it came from.

    Never raises for missing telemetry: no URL, Prometheus down or no series all give a
    snapshot whose `load.source` is "allocation" with a one-line note saying why.
    """
    hosts = [h.model_copy(update={"threads": threads(h)}) for h in snapshot.hosts]
    info = {
        "window": settings.load_window,
        "statistic": settings.load_statistic,
        "url": settings.prometheus_url,
    }

    def allocation(why: str) -> Snapshot:
        note = f"{why}: planned on allocation"
        load = LoadInfo(source="allocation", note=note, **info)
        # A snapshot file measured earlier keeps no stale numbers beside this note.
        unmeasured = [i.model_copy(update={"cpu_load": None}) for i in snapshot.instances]
        bare = [h.model_copy(update={"cpu_load": None}) for h in hosts]
        return snapshot.model_copy(update={"hosts": bare, "instances": unmeasured, "load": load})

    url = settings.prometheus_url
    if not url:
        return allocation("no Prometheus URL given (--prometheus-url)")
    try:
        cores = query(
            url,
            settings.promql(settings.instance_query),
            settings.instance_label,
            settings.timeout_s,
        )
        busy = query(
            url, settings.promql(settings.host_query), settings.host_label, settings.timeout_s
        )
    except NoMetrics as exc:
        return allocation(f"no metrics from {url} ({exc})")
    if not cores:
        return allocation(f"no instance CPU series at {url} over the last {settings.load_window}")
    by_host = {host_key(k): v for k, v in busy.items()}
    hosts = [h.model_copy(update={"cpu_load": by_host.get(host_key(h.name))}) for h in hosts]
    instances = [i.model_copy(update={"cpu_load": cores.get(i.id)}) for i in snapshot.instances]
    measured = sum(1 for i in instances if i.cpu_load is not None)
    note = (
        f"CPU load from {url}: {settings.load_statistic} over {settings.load_window}, "
        f"{measured} of {len(instances)} instance(s) and "
        f"{sum(1 for h in hosts if h.cpu_load is not None)} of {len(hosts)} host(s) measured"
    )
    load = LoadInfo(source="prometheus", note=note, **info)
    return snapshot.model_copy(update={"hosts": hosts, "instances": instances, "load": load})
