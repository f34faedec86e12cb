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
source never copies more than that many disks at once. Each move also holds a slot of the
matching Prefect global concurrency limit and of the cloud's, so runs that share a host or
a cloud together stay within the same budget; the dispatcher leases those slots in batches
and reuses them across its moves (tasks/slots.py), so a move does not wait on the Prefect
server before its first Nova request.
"""

from __future__ import annotations

import queue
import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from prefect import get_client, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectAlreadyExists
from prefect.futures import PrefectFuture

from novaflow.models import Method, Move, Outcome
from novaflow.mover import run_move
from novaflow.turns import Turn
from tasks import live
from tasks.connect import cloud_for
from tasks.reporting import Progress, emit_move_event
from tasks.slots import Lease, SlotPool

WAIT_NOTICE_S = 60
"""How often a run that cannot get slots other runs hold says so in its log."""

QUEUE_AHEAD = 1
"""Moves per slot handed to Nova beyond the ones it runs (live migrations wait `queued`,
rebuilds `accepted`) and started the moment a slot frees. The cost: a waiting move's target
holds its claim meanwhile, and up to this many per slot still start after a maintenance
window ends (they were requested before it)."""

_TURNS: dict[str, Turn] = {}
"""Each started move's place in its host's queue in Nova, by instance id, for its task (the
run's moves are tasks in this process's thread pool; an instance is in one run at a time).
A dispatcher removes only the entries it made (compared by identity, like `_ENDED`)."""
_ENDED: dict[str, Callable[[Outcome], None]] = {}
"""Instance id -> how its move task tells the dispatcher the move ended, before Prefect has
recorded the task run's end. That record is a request to a server busy with every other
move's states; waited for, it kept each slot (and at a drain's end, the host) idle 0.45 s
after Nova had finished, measured on the 100-host campaign benchmark."""

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


@task(
    name="move",
    task_run_name="{move.method}-{move.instance_name}",
    retries=1,
    retry_delay_seconds=5,
    cache_policy=NO_CACHE,
)
def move_instance(move: Move, cloud: str, timeout_s: int) -> Outcome:
    """Move one instance, idempotently: a re-run finds it moved or in flight and never
    migrates it twice (novaflow.mover.run_move). Its slots are held by the dispatcher, which
    also gives it its turn in Nova's queue (novaflow/turns.py)."""
    turn = _TURNS.get(move.instance_id)
    outcome = run_move(cloud_for(cloud), move, timeout_s=timeout_s, turn=turn)
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
    ended = _ENDED.get(move.instance_id)
    if ended is not None:
        ended(outcome)
    return outcome


def ensure_slot_limits(limits: dict[str, int]) -> None:
    """Create or resize each named limit: a host's (slot_limit_name) to its budget, the
    cloud's (cloud_limit_name) to the run's `max_parallel`, so the cap holds across every
    run on that cloud.

    Prefect's upsert reads, then creates: two drains (or runs) creating the same limit at
    once both find it missing, and the later create is refused (409). That one then finds
    it and resizes it, as if it had read it a moment later. Seen at the start of the
    100-host campaign benchmark, where it failed a host's turn."""
    with get_client(sync_client=True) as client:
        for name, n in limits.items():
            try:
                client.upsert_global_concurrency_limit_by_name(name, n)
            except ObjectAlreadyExists:
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


def _holder() -> ConcurrencyLeaseHolder | None:
    """This flow run, as the holder the Prefect UI shows on the slots it leases."""
    ctx = FlowRunContext.get()
    return (
        ConcurrencyLeaseHolder(type="flow_run", id=ctx.flow_run.id)
        if ctx and ctx.flow_run
        else None
    )


class InFlight(NamedTuple):
    move: Move
    taken: list[Lease]
    future: PrefectFuture
    ended: Callable[[Outcome], None]
    turn: Turn


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
        self.finished: queue.Queue[tuple[str, Outcome | None]] = queue.Queue()
        """(instance id, its outcome) as each move task ends, then (instance id, None) once
        Prefect has its task run's end: the first of the two frees the move's slots."""
        self.trailing: list[PrefectFuture] = []
        """Moves that ended whose task runs Prefect may still be recording (see _ENDED)."""
        self.pool: SlotPool | None = None
        self.noticed = 0.0
        self._limit_names: dict[int, list[str]] = {}
        self._turns: dict[tuple[str, str], list[Turn]] = {}

    def _window_closed(self) -> bool:
        return self.window_end is not None and datetime.now(UTC) >= self.window_end

    def limits(self, moves: list[Move]) -> dict[str, int]:
        """The Prefect limit (by name) and size for every host budget these moves use."""
        used = {slot_of(m) for m in moves} - {None}
        return {slot_limit_name(host, kind): self._cap(kind, host) for kind, host in used}

    def _cap(self, kind: str, host: str) -> int:
        # Nova reads max_concurrent_live_migrations 0 as "no limit": one slot is the safe floor.
        return budget(kind, max(1, self.slots.get(host, 1)), max(1, self.rebuild_slots))

    def _names(self, move: Move) -> list[str]:
        """The limits a move holds a slot of: the cloud's, and its host budget's if any."""
        names = self._limit_names.get(id(move))
        if names is None:
            slot = slot_of(move)
            names = [cloud_limit_name(self.cloud)]
            names += [slot_limit_name(slot[1], slot[0])] if slot else []
            self._limit_names[id(move)] = names
        return names

    def _has_room(self, move: Move, inflight: int) -> bool:
        slot = slot_of(move)
        cap = self._cap(*slot) if slot else self.max_parallel
        return inflight < self.max_parallel and self.busy[slot] < cap

    def _wanted(self, pending: list[Move], inflight: int) -> dict[str, int]:
        """Slots of each limit the run could use right now: what a new lease asks for.

        Only for the next moves that can start, in the plan's order: as many as the run has
        room for (`max_parallel` less those in flight), each within its host's budget. A
        one-host drain with twenty moves waiting can start two or three, and leasing the
        whole cloud limit for them would hold back every other run on the cloud (the drains
        of a campaign side by side) for nothing. A run whose moves come from a thousand
        hosts must not lease a slot on every one of them either: the server would renew a
        thousand leases every RENEW_S and take back and hand out the idle ones every
        REFRESH_S, whatever the moves are doing (a 20,000-move run stalled on it)."""
        want: dict[str, int] = {}
        room = self.max_parallel - inflight
        left: dict[tuple[str, str], int] = {}
        startable = 0
        for move in pending:
            if startable >= room:
                break
            slot = slot_of(move)
            if slot is not None:
                if slot not in left:
                    left[slot] = max(0, self._cap(*slot) - self.busy[slot])
                if not left[slot]:
                    continue
                left[slot] -= 1
                name = slot_limit_name(slot[1], slot[0])
                want[name] = want.get(name, 0) + 1
            startable += 1
        want[cloud_limit_name(self.cloud)] = max(0, startable)
        return want

    def _nova_runs(self, kind: str, host: str) -> int:
        """Moves of `kind` Nova runs at once on `host`; the rest of its budget waits there.
        Nova does not hold back cold migrations, so none of them queue."""
        if kind == "live":
            return max(1, self.slots.get(host, 1))
        return max(1, self.rebuild_slots) if kind == "rebuild" else self._cap(kind, host)

    def _turn(self, move: Move) -> Turn:
        """The move's place in Nova's queue: one that will wait there goes after every move
        started before it on the same host, so Nova runs them in the plan's order."""
        slot = slot_of(move)
        if slot is None:
            return Turn()
        started = [t for t in self._turns.get(slot, []) if not t.taken]
        queues = self.busy[slot] >= self._nova_runs(*slot)
        turn = Turn(after=started if queues else ())
        self._turns[slot] = [*started, turn]
        return turn

    def _start(self, move: Move) -> tuple[PrefectFuture, Callable[[Outcome], None], Turn]:
        key = move.instance_id
        turn = _TURNS[key] = self._turn(move)
        self.busy[slot_of(move)] += 1

        def ended(outcome: Outcome) -> None:
            self.finished.put((key, outcome))

        _ENDED[key] = ended
        future = move_instance.submit(move, self.cloud, self.timeout_s)
        live.move_started(move)
        future.add_done_callback(lambda _f: self.finished.put((key, None)))
        return future, ended, turn

    def _start_what_fits(self, pending: list[Move], inflight: dict[str, InFlight]) -> list[Move]:
        """Start every pending move whose host, run and cloud have a free slot; the rest."""
        assert self.pool is not None
        want = self._wanted(pending, len(inflight))
        self.pool.lease_ahead(want)
        waiting = []
        for i, move in enumerate(pending):
            if len(inflight) >= self.max_parallel:
                return waiting + pending[i:]  # the run is full: no need to look at the rest
            taken = self._has_room(move, len(inflight)) and self.pool.take(self._names(move), want)
            if not taken:
                waiting.append(move)
                continue
            for lease in taken:
                want[lease.name] = max(0, want.get(lease.name, 1) - 1)
            future, ended, turn = self._start(move)
            inflight[move.instance_id] = InFlight(move, taken, future, ended, turn)
        return waiting

    def _say_if_held_elsewhere(self, pending: list[Move]) -> None:
        assert self.pool is not None
        names = {name for move in pending for name in self._names(move)}
        held = sorted(n for n in names if self.pool.refused_for(n) >= WAIT_NOTICE_S)
        if held and time.monotonic() - self.noticed >= WAIT_NOTICE_S:
            self.noticed = time.monotonic()
            get_run_logger().warning(
                "%d move(s) waiting for Prefect concurrency slots: %s (the holders are under "
                "Concurrency in the Prefect UI; a dead run's slots free themselves within "
                "about a minute)",
                len(pending),
                "; ".join(f"{n}: {self.pool.refusal(n)}" for n in held),
            )

    def _finished_moves(self) -> list[tuple[str, Outcome | None]]:
        """Every move that ended since the last look, waiting up to a second for the first.

        All of them at once: the loop's pass over the pending moves then serves them all,
        instead of one pass (and its share of a GIL 256 move threads want) per move."""
        try:
            done = [self.finished.get(timeout=1)]
        except queue.Empty:
            return []
        while True:
            try:
                done.append(self.finished.get_nowait())
            except queue.Empty:
                return done

    def run(self, moves: list[Move]) -> list[Outcome]:
        with get_client(sync_client=True) as client:
            log = get_run_logger()
            self.pool = SlotPool(client, holder=_holder(), warn=log.warning)
            self.pool.start_renewing()
            try:
                return self._run(moves)
            finally:
                self.pool.close()

    def _run(self, moves: list[Move]) -> list[Outcome]:
        assert self.pool is not None
        pending = list(moves)
        inflight: dict[str, InFlight] = {}
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
            stop = live.stop_requested() if pending else None
            if stop:
                for move in pending:
                    outcomes[move.instance_id] = _not_started(
                        move,
                        f"not started: {stop}",
                        "run the flow again to move the rest; finished moves are kept",
                    )
                get_run_logger().warning(
                    "Stopping (%s): %d moves not started, %d still finishing",
                    stop,
                    len(pending),
                    len(inflight),
                )
                pending = []
            pending = self._start_what_fits(pending, inflight)
            self.pool.tidy(self._wanted(pending, len(inflight)))
            if pending:
                self._say_if_held_elsewhere(pending)
            if not inflight:
                if pending:
                    time.sleep(0.25)  # every slot is held by other runs: ask again shortly
                continue
            for key, outcome in self._finished_moves():
                if key not in inflight:
                    continue  # its task run's end, after the move itself said it ended
                move, taken, future, ended, turn = inflight.pop(key)
                if _TURNS.get(key) is turn:
                    del _TURNS[key]
                if _ENDED.get(key) is ended:
                    del _ENDED[key]
                self.busy[slot_of(move)] -= 1
                self.pool.give_back(taken)
                if outcome is not None:
                    outcomes[key] = outcome
                    self.trailing.append(future)
                else:
                    try:
                        outcomes[key] = future.result()
                    except Exception as exc:  # the task itself failed after its retries
                        outcomes[key] = _crashed(move, exc)
                live.move_finished(outcomes[move.instance_id])
                if self.progress:
                    self.progress.advance()
                if self.on_outcome:
                    self.on_outcome(outcomes[move.instance_id])
        if self.progress:
            self.progress.flush()
        return [outcomes[m.instance_id] for m in moves if m.instance_id in outcomes]
