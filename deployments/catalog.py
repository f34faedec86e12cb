"""Every novaflow deployment in one place: names, schedules and default parameters.

`novaflow serve` serves these from one process; `prefect.yaml` declares the same set for
`prefect deploy --all` onto a work pool. Keep the two in step (a test checks they match).
"""

from __future__ import annotations

import shlex
import shutil
import sys
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


def sim_reboot_command(cloud: str) -> str:
    """The demo's work step: reboot a sim host (`novaflow sim reboot`); a real cloud's
    deployment puts its own command here, e.g. 'ssh {host} sudo systemctl reboot'."""
    novaflow = shutil.which("novaflow") or f"{sys.executable} -m novaflow.cli"
    return f"{shlex.quote(novaflow)} sim reboot {{host}} --os-cloud {shlex.quote(cloud)}"


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
            "Kernel campaign over zone az1, Saturdays 02:00-06:00, unattended after its one "
            "approval: each host drained, rebooted, proven back, enabled; resumed next window.",
            {
                "zone": "az1",
                "batch_size": 1,
                "campaign": "saturday-kernel",
                "work_command": sim_reboot_command(cloud),
                "work_timeout_s": 1800,
                "check_timeout_s": 1800,
                "on_work_failure": "stop",
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
