"""One batched poller per cloud that resolves every thread waiting on a move.

Each poll cycle costs one os-migrations list and one servers-detail list, both narrowed by
`changes-since` (in the cloud's own clock, from the newest `updated` seen), however many moves
are being watched: the API cost of watching N moves does not grow with N. Nova lists deleted
instances with status DELETED in `changes-since` listings, so a deletion ends its waiters at
the next cycle, not at their timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from novaflow.cloud import Cloud, Migration, ServerState, parse_time
from novaflow.cloud.session import CHANGES_OVERLAP
from novaflow.errors import NovaflowError

MARGIN = CHANGES_OVERLAP
"""Looking back a little further than the last poll (novaflow.cloud.session)."""


@dataclass(frozen=True)
class View:
    """What the observer knows about one instance: its server and its latest migration."""

    server: ServerState | None
    migration: Migration | None = None
    timed_out: bool = False
    error: str | None = None

    @property
    def gone(self) -> bool:
        """Deleted (by its owner, or anyone): nothing more will happen to it; stop waiting."""
        return self.server is not None and self.server.deleted


@dataclass
class _Waiter:
    instance_id: str
    until: Callable[[View], bool]
    deadline: float
    since: datetime | None
    done: threading.Event = field(default_factory=threading.Event)
    result: View | None = None


@dataclass
class ObserverStats:
    cycles: int = 0
    list_calls: int = 0
    resolved: int = 0
    timeouts: int = 0


class Observer:
    """Threads call `wait()`; a single background poller lists and wakes them.

    `changes-since` is taken from the data itself (the newest `updated` seen, in the cloud's
    own clock), never from this machine's clock. What a cycle fetched is kept for `retention`
    (this machine's time: it is about how late a thread starts waiting after its action, which a
    fast cloud's clock says nothing about) so a waiter registering just after its action still
    sees a change that an earlier cycle fetched before anyone watched that instance; a waiter for
    an instance forgotten since then makes the next cycle list from its own timestamp.
    """

    def __init__(
        self,
        cloud: Cloud,
        *,
        min_interval: float = 0.05,
        max_interval: float = 2.0,
        retention: timedelta = timedelta(minutes=5),
    ) -> None:
        self.cloud = cloud
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.retention = retention
        self.stats = ObserverStats()
        self._cond = threading.Condition()
        self._waiters: list[_Waiter] = []
        self._recent: dict[str, ServerState] = {}
        self._migrations: dict[str, Migration] = {}
        self._server_mark: datetime | None = None
        self._migration_mark: datetime | None = None
        # Earlier starts asked for by new waiters, for the next cycle only (see `_rewind`).
        self._server_rewind: datetime | None = None
        self._migration_rewind: datetime | None = None
        self._list_all = False  # a waiter's instance is unknown: owe it one full list
        # Changes from then on were all listed (cloud time; None before the first cycle).
        self._covered_from: datetime | None = None
        self._learnt_at: dict[str, float] = {}  # when each held server / migration was fetched
        self._forgotten: set[str] = set()  # dropped after `retention`, not listed again since
        self._list_all_asks = 0
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._interval = min_interval
        self.last_error: str | None = None

    # ------------------------------------------------------------------ waiting

    def wait(
        self,
        instance_id: str,
        until: Callable[[View], bool],
        *,
        timeout_s: float,
        since: datetime | None = None,
        initial: ServerState | None = None,
    ) -> View:
        """Block until `until(view)` holds or the timeout passes (then `timed_out` is set).

        `initial` is the instance as last read; `since` (cloud time, e.g. its `updated`
        before the action) makes only migrations created from then on count as this move's.
        """
        waiter = _Waiter(instance_id, until, time.monotonic() + timeout_s, since)
        with self._cond:
            known = instance_id in self._recent
            if initial is not None:
                self._remember(initial)
            if instance_id not in self._recent:
                # Nothing known about it: the next cycle lists everything once.
                self._owe_full_list()
            elif not known and self._may_have_missed(instance_id, initial):
                self._rewind(initial)
            self._waiters.append(waiter)
            self._interval = self.min_interval
            self._ensure_thread()
            self._cond.notify_all()
        waiter.done.wait()
        assert waiter.result is not None
        return waiter.result

    def _may_have_missed(self, instance_id: str, initial: ServerState | None) -> bool:
        """Whether a change since `initial` may have been listed and dropped, or never listed:
        it was forgotten, or it was read before what the cycles have covered."""
        seed = parse_time(initial.updated) if initial is not None else None
        if instance_id in self._forgotten or seed is None or self._covered_from is None:
            return True
        return seed < self._covered_from

    def _rewind(self, initial: ServerState | None) -> None:
        """List from `initial`'s `updated` next cycle, for an instance not (or no longer) held.

        It was read before its action, so every change the action causes is stamped later (in
        the cloud's clock). Before the first cycle this spares a full list of a large cloud;
        later it recovers a change an earlier cycle fetched and then forgot (`retention`)
        before anyone watched the instance, or one older than what the cycles have covered,
        which a list from the current mark would miss.
        """
        seed = parse_time(initial.updated) if initial is not None else None
        if seed is None:
            self._owe_full_list()
            return
        self._server_rewind = _earliest(self._server_rewind, seed)
        self._migration_rewind = _earliest(self._migration_rewind, seed)

    def _owe_full_list(self) -> None:
        self._server_mark = None
        self._list_all = True
        self._list_all_asks += 1

    def _remember(self, state: ServerState, *, polled: bool = False) -> None:
        """A polled state is the truth now; a caller's `initial` only fills a gap or is newer."""
        old = self._recent.get(state.id)
        if (
            polled
            or old is None
            or (parse_time(state.updated) or _MIN) > (parse_time(old.updated) or _MIN)
        ):
            self._recent[state.id] = state
            self._learnt_at[state.id] = time.monotonic()
            if polled:
                self._forgotten.discard(state.id)

    def view(self, instance_id: str, since: datetime | None = None) -> View:
        mig = self._migrations.get(instance_id)
        if mig and since and mig.created_at and mig.created_at < since - MARGIN:
            mig = None
        return View(server=self._recent.get(instance_id), migration=mig)

    # ------------------------------------------------------------------ polling

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopped = False
            self._thread = threading.Thread(target=self._run, name="novaflow-observer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped or not self._waiters:
                    self._thread = None
                    return
            changed = self._poll_once()
            resolved = self._resolve()
            with self._cond:
                if changed or resolved:
                    self._interval = self.min_interval
                else:
                    self._interval = min(self._interval * 2, self.max_interval)
                if self._waiters and not self._stopped:
                    self._cond.wait(timeout=self._next_sleep())

    def _next_sleep(self) -> float:
        soonest = min((w.deadline for w in self._waiters), default=time.monotonic())
        return max(0.0, min(self._interval, soonest - time.monotonic()))

    def _poll_once(self) -> bool:
        """One cycle: a migrations list and a servers list; True if a watched thing changed."""
        with self._cond:
            rewinds = self._server_rewind, self._migration_rewind
            self._server_rewind = self._migration_rewind = None
            server_since = None if self._list_all else _earliest(self._server_mark, rewinds[0])
            migration_since = _earliest(self._migration_mark, rewinds[1])
            watched = {w.instance_id for w in self._waiters}
            asks = self._list_all_asks
        before = self.cloud.thread_api_calls()
        full = _back(server_since) is None
        try:
            # Migrations first: a migration seen finished then has its instance's final host
            # and status in the servers list that follows. The other way round, one finishing
            # between the two lists looks finished while its instance still sits on the source.
            migration_pages: list[int] = []
            server_pages: list[int] = []
            migrations = self.cloud.list_migrations(
                changes_since=_back(migration_since), pages=migration_pages
            )
            servers = self.cloud.list_servers(
                changes_since=_back(server_since), pages=server_pages, newest_first=True
            )
            self.last_error = None
        except NovaflowError as exc:
            self.last_error = str(exc)
            with self._cond:  # asked for, not served: keep them for the next cycle
                self._server_rewind = _earliest(self._server_rewind, rewinds[0])
                self._migration_rewind = _earliest(self._migration_rewind, rewinds[1])
            return False
        finally:
            self.stats.cycles += 1
            self.stats.list_calls += self.cloud.thread_api_calls() - before
        with self._cond:
            changed = self._absorb(servers, migrations, watched)
            if full:
                changed = self._missing_are_gone(servers, watched) or changed
            self._advance(servers[: server_pages[0]], migrations[: migration_pages[0]])
            self._covered_from = _earliest(self._covered_from, _back(server_since) or _MIN)
            if self._list_all_asks != asks:
                # A waiter came in during this cycle, knowing nothing yet: list everything next.
                self._server_mark = None
            else:
                self._list_all = False
        return changed

    def _absorb(
        self, servers: list[ServerState], migrations: list[Migration], watched: set[str]
    ) -> bool:
        changed = False
        for s in servers:
            if s.id in watched and self._recent.get(s.id) != s:
                changed = True
            self._remember(s, polled=True)
        for m in migrations:
            old = self._migrations.get(m.instance_id)
            if old is None or _newer(m, old):
                changed = changed or (m.instance_id in watched and old != m)
                self._migrations[m.instance_id] = m
                self._learnt_at[m.instance_id] = time.monotonic()
        return changed

    def _missing_are_gone(self, servers: list[ServerState], watched: set[str]) -> bool:
        """A full listing (no `changes-since`) omits deleted instances instead of showing them
        DELETED: a watched instance we knew and that is missing from one has been deleted."""
        listed = {s.id for s in servers}
        changed = False
        for key in watched - listed:
            old = self._recent.get(key)
            if old is not None and not old.deleted:
                self._recent[key] = replace(old, deleted=True)
                changed = True
        return changed

    def _advance(self, servers: list[ServerState], migrations: list[Migration]) -> None:
        """Move the marks to the newest timestamps seen and forget what is too old to matter.

        Only the first page of each listing counts: it shows the cloud as it was when the
        listing began, so nothing changed since is stamped earlier. A later page, fetched
        after a change to an item already listed on an earlier page, shows newer stamps,
        and a mark moved to them skips that change for good: a move waited until its
        timeout with its migration long completed (a 2,000-instance cloud lists in two pages
        of 1,000, and fetching one took longer than the 2 s `MARGIN` on the cloud's clock).
        Servers are listed latest updated first, so the first page holds the newest stamp
        there was when the listing began; migrations come newest created first, which their
        latest changes mostly are. What the later pages showed is listed again next cycle."""
        newest = max((parse_time(s.updated) or _MIN for s in servers), default=_MIN)
        if newest > _MIN:
            self._server_mark = max(self._server_mark or _MIN, newest)
        elif self._server_mark is None and servers is not None:
            self._server_mark = _MIN
        newest_m = max((m.updated_at or m.created_at or _MIN for m in migrations), default=_MIN)
        if newest_m > _MIN:
            self._migration_mark = max(self._migration_mark or _MIN, newest_m)
        horizon = time.monotonic() - self.retention.total_seconds()
        watched = {w.instance_id for w in self._waiters}
        for key in [k for k, at in self._learnt_at.items() if at < horizon and k not in watched]:
            self._recent.pop(key, None)
            self._migrations.pop(key, None)
            del self._learnt_at[key]
            self._forgotten.add(key)

    def _resolve(self) -> bool:
        now = time.monotonic()
        resolved = False
        with self._cond:
            for w in list(self._waiters):
                view = self.view(w.instance_id, w.since)
                try:
                    hit = view.server is not None and (view.gone or w.until(view))
                except Exception as exc:  # a bad predicate must not kill the poller
                    w.result = View(view.server, view.migration, error=repr(exc))
                    hit = True
                if hit or now >= w.deadline:
                    if w.result is None:
                        w.result = View(
                            view.server, view.migration, timed_out=not hit, error=self.last_error
                        )
                    self.stats.resolved += 1
                    self.stats.timeouts += 0 if hit else 1
                    self._waiters.remove(w)
                    w.done.set()
                    resolved = True
        return resolved


_MIN = datetime.min.replace(tzinfo=UTC)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two optional times (None only when both are)."""
    if a is None or b is None:
        return a or b
    return min(a, b)


def _back(mark: datetime | None) -> datetime | None:
    """`changes-since` for a mark: a little earlier (inclusive, one-second precision)."""
    if mark is None or mark == _MIN:
        return None
    return mark - MARGIN


def _newer(a: Migration, b: Migration) -> bool:
    """Migration ids grow; compare them numerically when they are numbers."""
    try:
        return int(a.id) >= int(b.id)
    except ValueError:
        return (a.created_at or a.updated_at or _MIN) >= (b.created_at or b.updated_at or _MIN)
