"""The five flows as matrix rows: a small cluster each, the run's parameters, its source hosts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flows.params import ApprovalSettings, RunSettings
from novaflow.sim.spec import ClusterSpec

APPROVAL_NONE = ApprovalSettings(mode="none")


def hosts(prefix: str) -> tuple[str, str, str]:
    """Host names unique to one cell: Prefect slot limits and host claims are per host name."""
    return f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"


def drain_cluster(prefix: str) -> ClusterSpec:
    """Source `a`: live, cold-only (vTPM), stopped and bigger instances; `b`, `c` take them."""
    a, b, c = hosts(prefix)
    spec = ClusterSpec()
    for name in (a, b, c):
        spec.host(name, max_concurrent_live_migrations=2)
    spec.instance("web-0", host=a, flavor="m1.small")
    spec.instance("app-0", host=a, flavor="m1.medium")
    spec.instance("off-0", host=a, flavor="m1.small", status="SHUTOFF")
    spec.instance("tpm-0", host=a, flavor="s1.vtpm")
    spec.instance("b-0", host=b, flavor="m1.small")
    spec.instance("c-0", host=c, flavor="m1.small")
    return spec


def rebalance_cluster(prefix: str) -> ClusterSpec:
    """Three lightly used hosts: consolidation empties one or two of them."""
    a, b, c = hosts(prefix)
    spec = ClusterSpec()
    for name in (a, b, c):
        spec.host(name, max_concurrent_live_migrations=2)
    spec.instance("a-0", host=a, flavor="m1.small").instance("a-1", host=a, flavor="m1.medium")
    spec.instance("a-2", host=a, flavor="m1.small", status="SHUTOFF")
    spec.instance("b-0", host=b, flavor="m1.small").instance("b-1", host=b, flavor="m1.medium")
    spec.instance("c-0", host=c, flavor="m1.small")
    return spec


def settings(cloud: str, **kw: Any) -> RunSettings:
    kw.setdefault("max_parallel", 4)
    kw.setdefault("live_migration_slots", 2)
    kw.setdefault("move_timeout_s", 30)
    kw.setdefault("approval", APPROVAL_NONE)
    return RunSettings(cloud=cloud, **kw)


@dataclass(frozen=True)
class Scenario:
    """One flow as the matrix runs it."""

    key: str
    title: str
    flow_name: str  # attribute path "module:function", imported lazily (children import it)
    build: Callable[[str], ClusterSpec]
    params: Callable[[str, RunSettings], dict[str, Any]]
    sources: Callable[[str], set[str] | None]  # None: any host may be a source
    dead_source: bool = False
    notes: list[str] = field(default_factory=list)

    def flow(self) -> Any:
        module, _, name = self.flow_name.partition(":")
        return getattr(__import__(module, fromlist=[name]), name)


SCENARIOS: dict[str, Scenario] = {
    s.key: s
    for s in (
        Scenario(
            "maintenance",
            "node maintenance",
            "flows.maintenance:node_maintenance",
            drain_cluster,
            lambda p, st: {"host": hosts(p)[0], "wait_for_done": False, "settings": st},
            lambda p: {hosts(p)[0]},
        ),
        Scenario(
            "rolling",
            "rolling maintenance",
            "flows.rolling:rolling_maintenance",
            drain_cluster,
            lambda p, st: {
                "hosts": list(hosts(p)[:2]),
                "batch_size": 1,
                "min_free_fraction": 0.0,
                "wait_for_done": False,
                "settings": st,
            },
            lambda p: set(hosts(p)[:2]),
        ),
        Scenario(
            "failing",
            "failing node",
            "flows.failing:failing_node",
            drain_cluster,
            lambda p, st: {"host": hosts(p)[0], "reason": "ECC errors", "settings": st},
            lambda p: {hosts(p)[0]},
        ),
        Scenario(
            "evacuation",
            "evacuation",
            "flows.evacuation:evacuate_failed_node",
            drain_cluster,
            lambda p, st: {"host": hosts(p)[0], "settings": st},
            lambda p: {hosts(p)[0]},
            dead_source=True,
        ),
        Scenario(
            "rebalance",
            "rebalance (consolidate)",
            "flows.rebalance:rebalance",
            rebalance_cluster,
            lambda p, st: {"strategy": "consolidate", "max_moves": None, "settings": st},
            lambda p: None,
        ),
    )
}
