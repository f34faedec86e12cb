"""Moving instances: one Prefect task per move, dispatched so every host's slots stay busy.

The dispatcher starts a move the moment its host has room (not in lock-step waves), caps
the run at `max_parallel`, and stops starting moves when the maintenance window ends.
A host's budget depends on the kind of move. Moves Nova itself queues get the host's
slots plus as many again handed over ahead of time (Nova keeps them waiting and starts the
next the moment a slot frees, so no slot waits for this run to notice a finished move and
send the next request): live migrations, behind the source's
`max_concurrent_live_migrations`, and rebuilds (evacuations), behind the target's build
concurrency `rebuild_slots` (Nova's max_concurrent_builds). Cold migrations, which Nova does
not count against the live slots, get their own budget of the source's live slots, so a
source never copies more than that many disks at once. Each move task also holds a slot of
the matching Prefect global concurrency limit, so two runs that share a host together stay
within the same budget.
"""

from __future__ import annotations

import contextlib
import queue
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prefect import get_client, get_run_logger, task
from prefect.cache_policies import NO_CACHE

# Prefect 3.8's own parts of `concurrency()` (pinned in pyproject): see `holding_slots`.
from prefect.concurrency._events import (
    emit_concurrency_acquisition_events,
    emit_concurrency_release_events,
)
from prefect.concurrency._leases import maintain_concurrency_lease
from prefect.concurrency._sync import acquire_concurrency_slots_with_lease
from prefect.concurrency.context import ConcurrencyContext
from prefect.futures import PrefectFuture

from novaflow.models import Method, Move, Outcome
from novaflow.mover import run_move
from tasks.connect import cloud_for
from tasks.reporting import Progress, emit_move_event

SLOT_LEASE_S = 60  # the Prefect server refuses shorter leases
"""A held slot's lease is renewed while its move runs; if the run's process dies, the
server frees the slot within this (plus its repossessor interval), so a resumed run is
not blocked by a dead run's slots."""

QUEUE_AHEAD = 1
"""Moves per slot handed to Nova beyond the ones it runs (live migrations wait `queued`,
rebuilds `accepted`) and started the moment a slot frees. The cost: a waiting move's target
holds its claim meanwhile, and up to this many per slot still start after a maintenance
window ends (they were requested before it)."""

_PREFIX = {"live": "novaflow-slots-", "cold": "novaflow-cold-", "rebuild": "novaflow-rebuilds-"}


def _safe(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower())


def slot_limit_name(host: str, kind: str = "live") -> str:
    """The Prefect global concurrency limit guarding `host`'s budget for `kind` moves."""
    return _PREFIX[kind] + _safe(host)


def cloud_limit_name(cloud: str) -> str:
    """The Prefect global concurrency limit capping moves in flight on one cloud."""
    return "novaflow-moves-" + _safe(cloud)


def slot_of(move: Move) -> tuple[str, str] | None:
    """Whose budget a move uses, as (kind, host): the source's for migrations (live or
    cold), the target's for rebuilds; None when the scheduler picks a rebuild's target."""
    if move.method is Method.EVACUATE:
        return ("rebuild", move.target) if move.target else None
    return ("cold" if move.method is Method.COLD else "live", move.source)


def slot_host(move: Move) -> str | None:
    """The host whose budget a move uses (see slot_of)."""
    slot = slot_of(move)
    return slot[1] if slot else None


def budget(kind: str, live_slots: int, rebuild_slots: int) -> int:
    """Moves of `kind` one host may have in flight (see the module docstring)."""
    if kind == "live":
        return live_slots * (1 + QUEUE_AHEAD)
    if kind == "cold":
        return live_slots
    return rebuild_slots * (1 + QUEUE_AHEAD)


@contextlib.contextmanager
def holding_slots(names: list[str]) -> Iterator[None]:
    """Hold one slot of each named Prefect global concurrency limit, under a renewed lease.

    This is `prefect.concurrency.sync.concurrency()` step by step (the same acquisition
    service with its 423/Retry-After loop, the same lease renewal, the same acquired/released
    events), except for the release: Prefect 3.8 releases through a brand-new API client each
    time (an HTTP client, an SSL context and a connection: ~30 ms of CPU, measured with
    `python -m bench.overhead`), the largest cost of a near-instant move. Here the release
    goes through the run's own client, as Prefect's cleanup of leftover leases does.
    """
    lease = acquire_concurrency_slots_with_lease(names, 1, lease_duration=SLOT_LEASE_S)
    if not lease.limits:  # a limit was deleted meanwhile: Prefect's concurrency() goes on too
        yield
        return
    events = emit_concurrency_acquisition_events(lease.limits, 1)
    try:
        with maintain_concurrency_lease(
            lease.lease_id, SLOT_LEASE_S, raise_on_lease_renewal_failure=False
        ):
            yield
    finally:
        try:
            with get_client(sync_client=True) as client:
                client.release_concurrency_slots_with_lease(lease_id=lease.lease_id)
        except Exception as exc:  # the move itself is over: do not turn it into a failure
            # The lease stays on the cleanup list (released again when the task run ends) and
            # expires on the server within SLOT_LEASE_S anyway.
            get_run_logger().warning("releasing slots of %s failed: %s", ", ".join(names), exc)
        else:
            ctx = ConcurrencyContext.get()
            if ctx is not None and lease.lease_id in ctx.cleanup_lease_ids:
                ctx.cleanup_lease_ids.remove(lease.lease_id)
        emit_concurrency_release_events(lease.limits, 1, events)


@task(
    name="move",
    task_run_name="{move.method}-{move.instance_name}",
    retries=1,
    retry_delay_seconds=5,
    cache_policy=NO_CACHE,
)
def move_instance(move: Move, cloud: str, timeout_s: int, guard_slot: bool = True) -> Outcome:
    """Move one instance, idempotently: a re-run finds it moved or in flight and never
    migrates it twice (novaflow.mover.run_move)."""
    slot = slot_of(move) if guard_slot else None
    names = [cloud_limit_name(cloud)] + ([slot_limit_name(slot[1], slot[0])] if slot else [])
    guard = holding_slots(names) if guard_slot else contextlib.nullcontext()
    with guard:
        outcome = run_move(cloud_for(cloud), move, timeout_s=timeout_s)
    log = get_run_logger()
    if outcome.result in ("moved", "already-done"):
        log.info(
            "%s: %s -> %s (%s)", move.instance_name, move.source, outcome.final_host, outcome.result
        )
    else:
        log.warning(
            "%s: %s. %s", move.instance_name, outcome.error or outcome.result, outcome.remedy or ""
        )
    emit_move_event(outcome)
    return outcome


def ensure_slot_limits(cloud: str, limits: dict[str, int], max_parallel: int) -> None:
    """Create or resize each named host limit (slot_limit_name) to its budget, and the
    cloud's to the run's `max_parallel` (the cap then holds across every run on that cloud)."""
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(cloud_limit_name(cloud), max_parallel)
        for name, n in limits.items():
            client.upsert_global_concurrency_limit_by_name(name, n)


def _not_started(move: Move, why: str, remedy: str) -> Outcome:
    return Outcome(
        instance_id=move.instance_id,
        instance_name=move.instance_name,
        result="not-started",
        method=move.method,
        source=move.source,
        final_host=move.source,
        error=why,
        remedy=remedy,
    )


def _crashed(move: Move, exc: BaseException) -> Outcome:
    return Outcome(
        instance_id=move.instance_id,
        instance_name=move.instance_name,
        result="failed",
        method=move.method,
        source=move.source,
        error=f"the move task failed: {exc}",
        remedy=(
            f"check the instance with `openstack server show {move.instance_id}` and "
            "re-run the flow: finished moves are not repeated"
        ),
    )


class Dispatcher:
    """Runs a plan's moves in order, keeping each host's slots busy."""

    def __init__(
        self,
        cloud: str,
        slots: dict[str, int],
        max_parallel: int,
        timeout_s: int,
        rebuild_slots: int = 10,
        window_end: datetime | None = None,
        progress: Progress | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.cloud = cloud
        self.slots = slots
        self.max_parallel = max_parallel
        self.timeout_s = timeout_s
        self.rebuild_slots = rebuild_slots
        self.window_end = window_end
        self.progress = progress
        self.on_outcome = on_outcome
        self.busy: Counter[tuple[str, str] | None] = Counter()
        self.finished: queue.Queue[PrefectFuture] = queue.Queue()

    def _window_closed(self) -> bool:
        return self.window_end is not None and datetime.now(UTC) >= self.window_end

    def limits(self, moves: list[Move]) -> dict[str, int]:
        """The Prefect limit (by name) and size for every host budget these moves use."""
        used = {slot_of(m) for m in moves} - {None}
        return {slot_limit_name(host, kind): self._cap(kind, host) for kind, host in used}

    def _cap(self, kind: str, host: str) -> int:
        return budget(kind, self.slots.get(host, 1), self.rebuild_slots)

    def _has_room(self, move: Move, inflight: int) -> bool:
        slot = slot_of(move)
        cap = self._cap(*slot) if slot else self.max_parallel
        return inflight < self.max_parallel and self.busy[slot] < cap

    def _start(self, move: Move) -> PrefectFuture:
        self.busy[slot_of(move)] += 1
        future = move_instance.submit(move, self.cloud, self.timeout_s)
        future.add_done_callback(self.finished.put)
        return future

    def run(self, moves: list[Move]) -> list[Outcome]:
        pending = list(moves)
        inflight: dict[PrefectFuture, Move] = {}
        outcomes: dict[str, Outcome] = {}
        while pending or inflight:
            if pending and self._window_closed():
                end = self.window_end.isoformat() if self.window_end else ""
                for move in pending:
                    outcomes[move.instance_id] = _not_started(
                        move,
                        f"the maintenance window ended at {end} before this move started",
                        "run the flow again in the next window; finished moves are kept",
                    )
                get_run_logger().warning(
                    "Maintenance window ended: %d moves not started, %d still finishing",
                    len(pending),
                    len(inflight),
                )
                pending = []
            started = []
            for move in pending:
                if len(inflight) >= self.max_parallel:
                    break  # the run is full: the rest waits, no need to look at it
                if self._has_room(move, len(inflight)):
                    started.append(move)
                    inflight[self._start(move)] = move
            if started:
                gone = {id(m) for m in started}
                pending = [m for m in pending if id(m) not in gone]
            if not inflight:
                break
            try:
                future = self.finished.get(timeout=5)
            except queue.Empty:
                continue
            move = inflight.pop(future)
            self.busy[slot_of(move)] -= 1
            try:
                outcomes[move.instance_id] = future.result()
            except Exception as exc:  # the task itself failed after its retries
                outcomes[move.instance_id] = _crashed(move, exc)
            if self.progress:
                self.progress.advance()
            if self.on_outcome:
                self.on_outcome(outcomes[move.instance_id])
        if self.progress:
            self.progress.flush()
        return [outcomes[m.instance_id] for m in moves if m.instance_id in outcomes]
