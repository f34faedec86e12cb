"""A run's Prefect concurrency slots: leased in batches by the dispatcher, reused by its moves.

Why not one acquisition per move inside the move task (what `prefect.concurrency` does)?
On a busy Prefect server each acquisition and release is a write the server queues behind
every task run's states, logs and events: measured at a median 1.9 s per move before the
first Nova request (`python -m bench.overhead`), many times a live migration on the
simulated cloud and the reason a drain left its host's slots idle. Here the run's dispatcher
leases several slots per request, hands them to its moves without asking the server again,
and gives a lease back once its slots are idle and nothing waiting needs them, or once it is
idle and `REFRESH_S` old, so other runs on the same hosts and cloud get their turn. Slots stay the
server's to count: two runs sharing a host still stay within its limit together, and a dead
run's leases expire (`LEASE_S`) without anyone releasing them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from uuid import UUID

from httpx import TransportError
from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.exceptions import PrefectHTTPStatusError

from tasks.prefect_api import quick_retries, retried

LEASE_S = 60
"""A lease lives this long unless renewed (the Prefect server refuses shorter ones); if the
run's process dies, the server frees its slots within this plus its repossessor interval."""

RENEW_S = LEASE_S / 3
"""Leases are renewed this often while the run holds them, from a thread of their own: the
dispatcher's loop can be held up for a minute by a busy server (the Prefect client retries
503s with back-off), which must not let the leases expire."""

REFRESH_S = 30.0
"""New moves prefer younger leases; a lease older than this is given back the moment it is
idle, even if the run still wants its slots, so a long run does not keep a host or the
cloud from other runs (it asks the server again, like everyone else)."""

CHUNK = 16
"""Most slots asked for in one request."""

QUICK_S = 3.0
"""How long one lease request is retried on a passing server refusal (a SQLite write
conflict clears in milliseconds; Prefect's own client would wait 2 s, then 4...)."""

RETRY_S = (0.25, 5.0)
"""Back-off after the server refused a limit (first, cap): it is full, or the server busy."""

RELEASES_AT_ONCE = 8
"""Leases given back to the server at once, from threads of their own. While a run's moves
end, the server is busiest recording them and one release answered in 80 ms on average and
up to a second (bench.overhead, 116 releases): made from the dispatcher's loop, they held up
the start of the next moves by seconds, and the 50 given back at the end of a run took 4 s
one after the other."""


_quick = retried(within_s=QUICK_S)
"""A lease request retried within QUICK_S of a passing server refusal (tasks/prefect_api.py);
past that, the pool's own back-off takes over, so the dispatcher's loop is never held long."""


@dataclass
class Lease:
    """Slots of one limit held under one server lease, and how many of them moves use."""

    id: UUID
    name: str
    size: int
    taken_at: float
    renewed_at: float
    in_use: int = 0
    unlimited: bool = False  # the limit does not exist on the server: nothing to hold
    lost: bool = False  # expired on the server (not renewed in time): takes no new moves
    gone: bool = False  # given back, or dropped once lost: no longer the run's

    def fresh(self, now: float) -> bool:
        return now - self.taken_at < REFRESH_S

    @property
    def counted(self) -> bool:
        """Slots the server still counts for this run (renewed, and given back at the end)."""
        return not (self.lost or self.unlimited or self.gone)

    @property
    def spare(self) -> int:
        """Slots of this lease no move uses."""
        return self.size - self.in_use


@dataclass
class _Backoff:
    until: float = 0.0
    wait: float = RETRY_S[0]
    refused_since: float | None = None
    why: str = ""


@dataclass
class SlotPool:
    """The slots a run holds, per Prefect global concurrency limit name."""

    client: SyncPrefectClient
    holder: ConcurrencyLeaseHolder | None = None
    leases: dict[str, list[Lease]] = field(default_factory=dict)
    backoff: dict[str, _Backoff] = field(default_factory=dict)
    warn: Callable[[str], None] = lambda message: None
    clock: Callable[[], float] = time.monotonic
    stopping: threading.Event = field(default_factory=threading.Event)
    renewer: threading.Thread | None = None
    releaser: ThreadPoolExecutor | None = None

    # -- taking and giving back ----------------------------------------------------------
    def take(self, names: list[str], want: dict[str, int]) -> list[Lease] | None:
        """One slot of every named limit for one move, or None (nothing taken) when a limit
        has no free slot and the server will not lease more right now. `want` says how many
        slots of each limit the run could use at once, the size of a new lease."""
        now = self.clock()
        found: list[Lease] = []
        for name in names:
            lease = self._free_lease(name, now) or self._lease_more(name, want.get(name, 1), now)
            if lease is None:
                return None
            found.append(lease)
        for lease in found:
            lease.in_use += 1
        return found

    def lease_ahead(self, needs: dict[str, int]) -> None:
        """Lease every slot the run can use now, before the first of its moves starts.

        Each started move sends its own requests to the Prefect server; asked in between,
        this pool's requests queue behind all of theirs (0.4 s each measured with 256 moves
        in flight on SQLite) and hold up the loop that starts the next moves. So a host's
        whole budget, up to its waiting moves, is asked for at once while the server is
        quiet, and the run rarely needs to ask again."""
        now = self.clock()
        for name, need in needs.items():
            if any(lease.unlimited for lease in self.leases.get(name, [])):
                continue
            while self._free(name) < need:
                if self._lease_more(name, need - self._free(name), now) is None:
                    break

    def _free(self, name: str) -> int:
        """Slots of `name` the run holds and no move uses."""
        return sum(lease.spare for lease in self.leases.get(name, []) if lease.counted)

    def give_back(self, taken: list[Lease]) -> None:
        """A move ended: its slots are free for the run's next move."""
        for lease in taken:
            lease.in_use -= 1

    def tidy(self, still_wanted: dict[str, int]) -> None:
        """Release idle leases no waiting move needs, and idle ones past REFRESH_S or lost.
        Called from the dispatcher's loop, at least every few seconds."""
        now = self.clock()
        for name, leases in self.leases.items():
            spare = sum(lease.spare for lease in leases if lease.fresh(now) and lease.counted)
            for lease in sorted(leases, key=lambda lease: lease.taken_at):
                if lease.in_use:
                    continue
                surplus = spare - still_wanted.get(name, 0)
                if lease.lost:
                    lease.gone = True  # nothing left to release
                elif not lease.fresh(now) or surplus >= lease.size:
                    self._release(lease)
                    if lease.fresh(now):
                        spare -= lease.size
            self.leases[name] = [lease for lease in leases if not lease.gone]

    def start_renewing(self) -> None:
        """Renew the leases every RENEW_S from a thread with its own Prefect client."""
        self.renewer = threading.Thread(target=self._renew_loop, name="novaflow-slot-leases")
        self.renewer.daemon = True
        self.renewer.start()

    def close(self) -> None:
        """Stop renewing and give back every lease (the run's moves are over); return once
        the server has them all."""
        self.stopping.set()
        if self.renewer is not None:
            self.renewer.join()
        for leases in self.leases.values():
            for lease in leases:
                if not lease.lost:
                    self._release(lease)
        self.leases.clear()
        self.settle()

    def settle(self) -> None:
        """Wait until every lease given back so far has reached the server."""
        if self.releaser is not None:
            self.releaser.shutdown(wait=True)
            self.releaser = None

    def refusal(self, name: str) -> str:
        """What the server last said when it refused `name`."""
        return self.backoff.get(name, _Backoff()).why

    def refused_for(self, name: str) -> float:
        """Seconds the server has been refusing `name` (0 if it is not)."""
        since = self.backoff.get(name, _Backoff()).refused_since
        return 0.0 if since is None else self.clock() - since

    # -- the server ----------------------------------------------------------------------
    def _free_lease(self, name: str, now: float) -> Lease | None:
        """The youngest lease with a free slot, fresh ones first: older ones drain and go."""
        usable = [
            lease
            for lease in self.leases.get(name, [])
            if not (lease.lost or lease.gone) and (lease.unlimited or lease.spare > 0)
        ]
        return max(usable, key=lambda lease: (lease.fresh(now), lease.taken_at), default=None)

    def _lease_more(self, name: str, want: int, now: float) -> Lease | None:
        state = self.backoff.setdefault(name, _Backoff())
        if now < state.until:
            return None
        for size in dict.fromkeys((max(1, min(want, CHUNK)), 1)):
            lease = self._request(name, size, now, state)
            if lease is not None:
                self.backoff[name] = _Backoff()
                self.leases.setdefault(name, []).append(lease)
                return lease
        state.refused_since = state.refused_since or now
        state.until = now + state.wait
        state.wait = min(state.wait * 2, RETRY_S[1])
        return None

    def _request(self, name: str, size: int, now: float, state: _Backoff) -> Lease | None:
        """Lease `size` slots of `name`, or None: the limit is full (423), the server busy
        or unreachable, or it refused for another reason (kept in `state.why`). Never
        raises: moves already in flight must still be waited on and reported."""
        try:
            response = _quick(self.client.increment_concurrency_slots_with_lease)(
                names=[name],
                slots=size,
                mode="concurrency",
                lease_duration=LEASE_S,
                holder=self.holder,
            )
        except PrefectHTTPStatusError as exc:
            code = exc.response.status_code
            state.why = "all slots held" if code == 423 else f"HTTP {code}: {exc.response.text}"
            return None
        except TransportError as exc:
            state.why = f"Prefect server unreachable: {exc}"
            return None
        body = response.json()
        lease_id = UUID(body["lease_id"])
        return Lease(lease_id, name, size, now, now, unlimited=not body.get("limits"))

    def _release(self, lease: Lease) -> None:
        """The run is done with `lease`: at once for the run, in the background for the
        server (see RELEASES_AT_ONCE), so a busy server never holds up the next move."""
        lease.gone = True
        if self.releaser is None:
            self.releaser = ThreadPoolExecutor(
                RELEASES_AT_ONCE, thread_name_prefix="novaflow-slot-release"
            )
        self.releaser.submit(self._give_back_to_server, lease)

    def _give_back_to_server(self, lease: Lease) -> None:
        try:
            _quick(self.client.release_concurrency_slots_with_lease)(lease_id=lease.id)
        except Exception as exc:  # the lease expires on the server within LEASE_S
            self.warn(
                f"releasing {lease.size} slot(s) of {lease.name} failed ({exc}); "
                f"the server frees them within {LEASE_S} s"
            )

    def _renew_loop(self) -> None:
        with get_client(sync_client=True) as client:
            quick_retries(client)
            while not self.stopping.wait(1.0):
                self.renew_due(client)

    def renew_due(self, client: SyncPrefectClient) -> None:
        """Renew every lease last renewed RENEW_S ago or more."""
        now = self.clock()
        # The dispatcher's thread changes the leases meanwhile, without a lock so that its
        # slow calls never hold up a renewal: list() copies them whole under the GIL.
        due = [
            lease
            for leases in list(self.leases.values())
            for lease in list(leases)
            if lease.counted and now - lease.renewed_at >= RENEW_S
        ]
        for lease in due:
            try:
                _quick(client.renew_concurrency_lease)(lease_id=lease.id, lease_duration=LEASE_S)
            except PrefectHTTPStatusError as exc:
                if exc.response.status_code in (404, 410):
                    lease.lost = True
                    self.warn(
                        f"{lease.size} slot(s) of {lease.name} expired on the Prefect server "
                        "before they could be renewed; the moves using them go on, and new "
                        "moves wait for fresh slots"
                    )
                    continue
                self._renew_failed(lease, now, exc)
            except Exception as exc:  # the server is busy or gone: try again shortly
                self._renew_failed(lease, now, exc)
            else:
                lease.renewed_at = now

    def _renew_failed(self, lease: Lease, now: float, exc: Exception) -> None:
        lease.renewed_at = now - RENEW_S + 5  # again in 5 s, not at every tick
        self.warn(f"renewing the lease on {lease.name} failed ({exc}); trying again in 5 s")
