"""A campaign's picture of the cloud: the newest read, kept fresh in the background, and what
the campaign itself changed since that read began.

Each host's drain is planned on the cloud as it stands. Reading it at the start of every
host's turn put the read on the campaign's critical path, one host after the other: on a
cloud of 1,000 hosts and 20,000 instances a read takes about 2 s, about the pace at which
8 hosts in flight need a new one to start. Here a thread reads the cloud again whenever
something changed, and a plan takes the newest read at once, corrected by what novaflow
knows happened after that read began:

* moves of drains that ended since: their targets' room stays taken (the claims of drains
  under way are added by the caller, see `novaflow.campaign.with_claims`);
* hosts the campaign put back in service since: enabled and up, so they are targets at once.

Everything else the read shows as it was (a host done since still holds the instances that
moved off it: room counted as used, on the safe side). Nova's scheduler and Placement decide
at the moment of each move; a move they refuse is planned again on a fresh read.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterable
from logging import Logger, LoggerAdapter
from typing import Any

from novaflow.campaign import in_service, with_claims
from novaflow.models import Snapshot

RETRY_S = 5.0
"""Wait before reading again after a read failed (its task already retried it)."""

READING_SHARE = 1 / 3
"""Most of the time the thread spends reading: after a read of T seconds it waits at least
2T before the next. Plans never wait for it, and the run's process has one interpreter for
every drain's dispatcher and observer: read back to back on a cloud of 1,000 hosts and
20,000 instances (about 2 s a read, most of it building the instances), the reads took most
of that process's CPU while the drains' own steps waited for it. A real cloud changes at
Nova's pace, minutes per host, so there the wait rarely matters."""


class CloudPicture:
    """The newest read of the cloud plus the campaign's own changes since (see module doc)."""

    def __init__(
        self,
        read: Callable[[], Snapshot],
        log: Logger | LoggerAdapter[Any],
        *,
        host_changed: Callable[[str], None] = lambda _host: None,
    ) -> None:
        self._read = read
        self._host_changed = host_changed
        """Told of each host back in service: its work may have changed its inventories,
        which a read that reuses them (novaflow/cloud/rereads.py) then reads again."""
        self._log = log
        self._lock = threading.Condition()
        self.changes = 0
        """Counts what plans depend on: drains ended, hosts back in service or given back."""
        self.latest: Snapshot | None = None
        self.read_at = -1
        """`changes` when `latest` began to be read."""
        self._ended: dict[str, tuple[str, int]] = {}
        """Instance id -> (target, `changes` when its drain ended), until a read shows it."""
        self._enabled: dict[str, int] = {}
        """Host -> `changes` when the campaign put it back in service."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the campaign tells it ------------------------------------------------------
    def changed(self) -> None:
        with self._lock:
            self.changes += 1
            self._lock.notify_all()

    def drain_ended(self, claims: Iterable[tuple[str, str]]) -> None:
        """Moves (instance id, target) of a drain are over: their room stays counted until
        a read begun after now shows where they went."""
        with self._lock:
            for instance_id, target in claims:
                self._ended[instance_id] = (target, self.changes)
            self.changes += 1
            self._lock.notify_all()

    def back_in_service(self, host: str) -> None:
        self._host_changed(host)
        with self._lock:
            self._enabled[host] = self.changes
            self.changes += 1
            self._lock.notify_all()

    # -- reads ---------------------------------------------------------------------------
    def fresh(self) -> Snapshot:
        """Read the cloud now (and keep the read as the newest)."""
        with self._lock:
            at = self.changes  # counted before the read: a change during it is not in it
        snapshot = self._read()
        with self._lock:
            if at >= self.read_at:
                self.latest, self.read_at = snapshot, at
                self._ended = {i: v for i, v in self._ended.items() if v[1] >= at}
                self._enabled = {h: n for h, n in self._enabled.items() if n >= at}
        return snapshot

    def now(self, claims: dict[str, str], *, moving: bool = True) -> Snapshot:
        """The cloud for a plan: the newest read (read now if there is none), hosts put back
        in service since as in service, and (`moving`) the room of `claims` (drains under
        way) and of drains ended since taken on their targets. Without `moving`, instances
        count where the read found them: for the free-capacity margin, which counts every
        instance once."""
        with self._lock:
            latest = self.latest
        if latest is None:
            self.fresh()
        with self._lock:
            assert self.latest is not None
            snapshot = self.latest
            ended = {i: target for i, (target, _) in self._ended.items()}
            back = list(self._enabled)
        snapshot = in_service(snapshot, back)
        return with_claims(snapshot, {**ended, **claims}) if moving else snapshot

    # -- the thread that keeps it fresh --------------------------------------------------
    def __enter__(self) -> CloudPicture:
        run = contextvars.copy_context().run  # its reads are task runs of this flow run
        self._thread = threading.Thread(
            target=run, args=(self._keep_fresh,), name="novaflow-cloud-picture", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join()

    def _keep_fresh(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                while self.changes == self.read_at and not self._stop.is_set():
                    self._lock.wait()
            if self._stop.is_set():
                return
            began = time.monotonic()
            try:
                self.fresh()
            except Exception as exc:  # plans go on with the last read; Nova decides anyway
                self._log.warning("reading the cloud failed (%s); trying again shortly", exc)
                self._stop.wait(RETRY_S)
            else:
                took = time.monotonic() - began
                self._stop.wait(took * (1 / READING_SHARE - 1))
