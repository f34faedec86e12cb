"""Host reboots: the node goes down, boots again after a while, and its nova-compute starts.

A reboot is what the campaign's work step does to a host, so the sim plays the two ways it
goes wrong on real hardware: the node never comes back (a hung BMC, a kernel that does not
boot), or it boots but nova-compute crashes on start (libvirt not running, a bad config):
the service touches its record once on start, so its `updated_at` is newer than the reboot,
and is down from then on, as after systemd gives up restarting it.

A reboot of a host that still has instances stops them, as a real reboot would: they are
found SHUTOFF when the node is back (lifecycle.revive_host).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Literal

from novaflow.sim.lifecycle import kill_host, revive_host
from novaflow.sim.model import Host
from novaflow.sim.state import SimCloud

RebootFault = Literal["never_returns", "returns_failing"]

START_TOUCH_S = 2.0
"""Seconds after boot at which a crashing nova-compute touches its service record."""


@dataclass
class _Book:
    """One cloud's reboots: how many each host had, and faults set for its next ones."""

    count: dict[str, int] = field(default_factory=dict)
    faults: dict[str, RebootFault] = field(default_factory=dict)


_books: weakref.WeakKeyDictionary[SimCloud, _Book] = weakref.WeakKeyDictionary()


def _book(cloud: SimCloud) -> _Book:
    return _books.setdefault(cloud, _Book())


def set_reboot_fault(cloud: SimCloud, name: str, fault: RebootFault | None) -> None:
    """Make every later reboot of `name` go wrong this way (None: reboots work again).

    A standing fault lets a test or demo pick the failing host while the work command stays
    the same for every host (`novaflow sim reboot {host}`)."""
    cloud.host(name)
    if fault is None:
        _book(cloud).faults.pop(name, None)
    else:
        _book(cloud).faults[name] = fault


def reboots_of(cloud: SimCloud, name: str) -> int:
    return _book(cloud).count.get(name, 0)


def reboot_host(
    cloud: SimCloud, name: str, down_seconds: float, fault: RebootFault | None = None
) -> RebootFault | None:
    """Take `name` down now and boot it `down_seconds` (sim seconds) later, or not.

    `fault`, or else the host's standing fault, says how the reboot goes wrong; returns it.
    """
    host = cloud.host(name)
    book = _book(cloud)
    fault = fault or book.faults.get(name)
    generation = book.count[name] = book.count.get(name, 0) + 1
    kill_host(cloud, name)
    if fault == "never_returns":
        return fault

    def boot() -> None:
        # A later reboot owns the host now; this boot was overtaken by it.
        if book.count.get(name) != generation or host.alive:
            return
        if fault == "returns_failing":
            _boot_with_failing_service(cloud, host)
        else:
            revive_host(cloud, name)

    cloud.after(down_seconds, boot, f"reboot {name}")
    return fault


def _boot_with_failing_service(cloud: SimCloud, host: Host) -> None:
    host.booted_at = cloud.now

    def touch() -> None:
        if not host.alive:
            host.last_heartbeat = cloud.now

    cloud.after(START_TOUCH_S, touch, f"nova-compute on {host.name} starts and crashes")


def uptime_text(cloud: SimCloud, host: Host) -> str | None:
    """The hypervisor's uptime as Nova passes it on from the node's `uptime` command; None
    while its compute service is down, since Nova asks the service for it."""
    if not host.is_up:
        return None
    up = max(0, int(cloud.now - host.booted_at))
    days, rest = divmod(up, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    clock = cloud.time(cloud.now).strftime("%H:%M:%S")
    span = f"{hours}:{minutes:02d}" if hours else f"{minutes} min"
    if days:
        span = f"{days} day{'s' if days > 1 else ''}, {span}"
    return f" {clock} up {span},  0 users,  load average: 0.10, 0.12, 0.09"
