"""Every novaflow deployment in one place: names, schedules and default parameters.

`novaflow serve` serves these from one process; `prefect.yaml` declares the same set for
`prefect deploy --all` onto a work pool. Keep the two in step (a test checks they match).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prefect.schedules import Cron

from flows.evacuation import evacuate_failed_node
from flows.failing import failing_node
from flows.maintenance import node_maintenance
from flows.rebalance import rebalance
from flows.rolling import rolling_maintenance
from flows.watch import watch_compute_services

WINDOW_TZ = "Europe/Paris"


@dataclass
class Entry:
    flow: Any
    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[Cron] = field(default_factory=list)
    paused: bool = False


def catalog(cloud: str = "sim") -> list[Entry]:
    """The deployments, for `cloud` (clouds.yaml name)."""
    settings = {"cloud": cloud}
    return [
        Entry(
            node_maintenance,
            "node-maintenance",
            "Drain one host for maintenance (UI form).",
            {"settings": settings},
        ),
        Entry(
            failing_node,
            "failing-node",
            "Move everything off a failing host, fast.",
            {
                "settings": {
                    **settings,
                    "max_parallel": 32,
                    "approval": {"timeout_s": 300, "on_timeout": "approve"},
                }
            },
        ),
        Entry(
            evacuate_failed_node,
            "evacuate-failed-node",
            "Rebuild a failed host's instances elsewhere (fencing confirmed at the gate).",
            {"settings": settings},
        ),
        Entry(
            rebalance,
            "rebalance",
            "Consolidate, spread or proximity rebalance (UI form).",
            {"settings": settings},
        ),
        Entry(
            rolling_maintenance,
            "saturday-kernel-window",
            "Rolling maintenance of zone az1, Saturdays 02:00-06:00; no move starts after "
            "the window end.",
            {
                "zone": "az1",
                "batch_size": 1,
                "settings": {**settings, "window_minutes": 240},
            },
            [Cron("0 2 * * 6", timezone=WINDOW_TZ)],
            paused=True,
        ),
        Entry(
            watch_compute_services,
            "watch-compute-services",
            "Every minute, start an evacuation for a host down longer than 3 minutes.",
            {"cloud": cloud},
            [Cron("* * * * *", timezone="UTC")],
            paused=True,
        ),
        Entry(
            rebalance,
            "nightly-rebalance-plan",
            "Every night: a spread plan waits 8 h for approval; nothing moves unless approved.",
            {
                "strategy": "spread",
                "settings": {**settings, "approval": {"timeout_s": 28800, "on_timeout": "reject"}},
            },
            [Cron("30 1 * * *", timezone=WINDOW_TZ)],
            paused=True,
        ),
    ]


def to_deployments(cloud: str = "sim", schedules_active: bool = False) -> list:
    """RunnerDeployments for `prefect.serve`; schedules stay paused unless asked."""
    return [
        e.flow.to_deployment(
            name=e.name,
            description=e.description,
            parameters=e.parameters,
            schedules=e.schedules or None,
            paused=e.paused and not schedules_active,
            tags=["novaflow"],
        )
        for e in catalog(cloud)
    ]
