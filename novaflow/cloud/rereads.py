"""Reading the same cloud again and again, at the cost of what changed.

A campaign plans each host's drain on the cloud as it stands, so it reads the whole cloud
every few seconds. On 1,000 hosts and 20,000 instances a full read costs the client about
2.5 s of CPU (1,000 Placement inventory reads, 20,000 servers decoded and built) and the
cloud as much again, and the campaign's process needs that CPU for its drains. Between two
reads little changes, and Nova and Placement say what:

* servers: `changes-since` lists the servers updated since a time, deleted ones with status
  DELETED (the observer's mechanism, novaflow/observer.py). The time is taken from the cloud's
  own data, the newest `updated` just before the listing, never from this machine's clock;
* inventories (total, reserved, ratios, unit limits) change when an operator reconfigures a
  compute node, which restarts its service: they are kept from the last read, and re-read for
  hosts the caller says changed (a host worked on and back in service) and for new providers.
  Usages are always read, in bulk (allocation candidates' summaries).

Every `FULL_EVERY_S` a read is full again, so whatever the shortcuts could miss (a change
stamped by a clock more than `CHANGES_OVERLAP` behind, metadata Nova stores without touching the
server's `updated`, an inventory changed without a service restart) is seen within that time.
Plans never need more: Nova's scheduler and Placement decide at the moment of each move, and
a move they refuse is planned again.

A plain class, not a dataclass or model: it goes into a Prefect task as an argument, and
Prefect walks dataclasses and models field by field looking for futures.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from novaflow.cloud.session import CHANGES_OVERLAP
from novaflow.models import Instance

FULL_EVERY_S = 60.0
"""Longest time (this machine's clock) between two full reads."""


class Rereads:
    """What one read of a cloud leaves for the next (see `Snapshots.snapshot(again=...)`)."""

    def __init__(self, *, full_every_s: float = FULL_EVERY_S) -> None:
        self.lock = threading.Lock()
        """Held for a whole read: two reads at once would each take the other's marks."""
        self.full_every_s = full_every_s
        self.instances: dict[str, Instance] = {}
        """Every instance as last read, by id."""
        self.mark: datetime | None = None
        """The newest `updated` in the cloud just before the last servers listing."""
        self.inventories: dict[str, tuple[str, dict[str, Any]]] = {}
        """Provider uuid -> (its root provider's uuid, its inventories) as last read."""
        self.root_of_host: dict[str, str] = {}
        """Compute service host -> its node's (root) provider uuid, as last read."""
        self.full_at: float | None = None
        """`time.monotonic()` of the last full read."""
        self.stale_hosts: set[str] = set()
        """Hosts whose inventories are read again at the next read (under `_stale_lock`)."""
        self._stale_lock = threading.Lock()
        self.full_reads = 0
        self.partial_reads = 0

    def host_changed(self, host: str) -> None:
        """`host` was worked on (rebooted, reconfigured): read its inventories again. Never
        waits for a read under way (a full one takes seconds on a big cloud): the host's
        turn calls this on its way to done."""
        with self._stale_lock:
            self.stale_hosts.add(host)

    def due(self) -> bool:
        """Whether the next read is a full one. Called with `lock` held."""
        return (
            self.full_at is None
            or self.mark is None
            or time.monotonic() - self.full_at >= self.full_every_s
        )

    def known_inventories(self) -> dict[str, dict[str, Any]]:
        """Inventories a partial read may reuse: all but those of the providers under hosts
        said to have changed. Clears that list (its hosts are read now). Lock held."""
        with self._stale_lock:
            stale, self.stale_hosts = self.stale_hosts, set()
        stale_roots = {self.root_of_host[h] for h in stale if h in self.root_of_host}
        return {
            uuid: inventories
            for uuid, (root, inventories) in self.inventories.items()
            if root not in stale_roots
        }

    def remember(
        self,
        *,
        full: bool,
        read: list[Instance],
        deleted: list[str],
        member_of: dict[str, list[str]],
        mark: datetime | None,
        inventories: dict[str, tuple[str, dict[str, Any]]],
        root_of_host: dict[str, str],
    ) -> list[Instance]:
        """Keep what this read found for the next one; every instance now. Lock held."""
        self.instances = merged({} if full else self.instances, read, deleted, member_of)
        self.mark = mark or self.mark
        self.inventories, self.root_of_host = inventories, root_of_host
        if full:
            self.full_at, self.full_reads = time.monotonic(), self.full_reads + 1
        else:
            self.partial_reads += 1
        return list(self.instances.values())

    def changes_since(self) -> datetime | None:
        return None if self.mark is None else self.mark - CHANGES_OVERLAP


def merged(
    known: dict[str, Instance],
    changed: Iterable[Instance],
    deleted: Iterable[str],
    member_of: dict[str, list[str]],
) -> dict[str, Instance]:
    """The instances after a partial read: those changed replaced or added, those deleted
    gone, and everyone's server groups as the groups read now say (membership changes
    without touching the server)."""
    out = dict(known)
    for inst in changed:
        out[inst.id] = inst
    for gone in deleted:
        out.pop(gone, None)
    for iid, inst in out.items():
        groups = member_of.get(iid, [])
        if inst.server_groups != groups:
            out[iid] = inst.model_copy(update={"server_groups": groups})
    return out
