"""The idempotent procedure that moves one instance and says exactly how it ended.

`run_move` first reads the instance and only acts when the move has not happened yet, so a
re-run after a crash never migrates twice; it waits through the cloud's batched observer and
never leaves an instance stopped, half-migrated, MIGRATING or locked by us without saying so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from novaflow.cloud import NOVAFLOW_LOCK_PREFIX, Cloud, ServerState, parse_time
from novaflow.errors import CloudError, NovaflowError
from novaflow.models import Instance, Method, Move, Outcome
from novaflow.observer import View
from novaflow.refusals import Cause, NovaReason, Refusal, Situation, cause_of, explain
from novaflow.turns import Turn

_ANSWER = re.compile(r"\(HTTP \d+\): (.+)$", re.S)
"""Nova's own words at the end of a CloudError about a refused request (novaflow/cloud/)."""

BUSY_TASKS = (
    "migrating",
    "resize_prep",
    "resize_migrating",
    "resize_migrated",
    "resize_finish",
    "resize_reverting",
    "resize_confirming",
    "rebuilding",
    "rebuild_block_device_mapping",
    "rebuild_spawning",
    "rebooting",
    "powering-on",
    "powering-off",
    "scheduling",
)


class _Deleted(Exception):
    """Internal: the instance was deleted while we moved it; there is nothing left to move."""


class MoveFailed(Exception):
    """Internal: a method failed; `message` is in operator words, `view` where it ended."""

    def __init__(self, message: str, state: ServerState | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.state = state


@dataclass
class _Ctx:
    """What one run of a move knows and records along the way."""

    cloud: Cloud
    move: Move
    timeout_s: float
    label: str
    before: ServerState
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    notes: list[str] = field(default_factory=list)
    migration_id: str | None = None
    method: Method | None = None

    seen_migrations: set[str] = field(default_factory=set)
    latest: ServerState | None = None
    turn: Turn | None = None
    refusal: Refusal | None = None  # Nova's reason for the latest failed attempt

    def situation(self, method: Method, target: str | None) -> Situation:
        move = self.move
        return Situation(move.instance_id, method, move.source, target, self.migration_id)

    def nova_says(self, view: View, method: Method, target: str | None) -> str:
        """Why the attempt failed, in Nova's words where Nova recorded them (its instance
        action events, else the server's fault); remembered for the next step."""
        fault = view.server.fault if view.server else None
        reason = self.cloud.nova_reason(
            self.move.instance_id, since=parse_time(self.before.updated), fault=fault
        )
        if reason is None:
            return _why(view)
        where = self.situation(method, target)
        if cause_of(reason.message, reason.exception) is Cause.NO_VALID_HOST:
            groups = self.cloud.groups_of(self.move.instance_id)
            where = replace(where, groups=tuple((g.name or g.id, g.policy) for g in groups))
        self.refusal = explain(reason, where)
        m = view.migration
        failed = f"; migration {m.id} is {m.status}" if m and m.failed else ""
        return self.refusal.said + failed

    def answered(self, message: str, method: Method, target: str | None) -> None:
        """Nova refused the request itself (an error answer): its message is the reason."""
        said = _ANSWER.search(message)
        self.refusal = explain(
            NovaReason(said.group(1) if said else message, where="response"),
            self.situation(method, target),
        )

    def wait(self, until: Callable[[View], bool], timeout_s: float | None = None) -> View:
        """Wait through the observer; migrations of earlier attempts do not count as ours."""

        def fresh(view: View) -> View:
            if view.migration and view.migration.id in self.seen_migrations:
                return View(view.server, None, view.timed_out, view.error)
            return view

        view = self.cloud.observer().wait(
            self.move.instance_id,
            lambda v: until(fresh(v)),
            timeout_s=timeout_s or self.timeout_s,
            since=parse_time(self.before.updated),
            initial=self.latest or self.before,
        )
        if view.gone:
            # The observer sees Nova's DELETED at its next cycle: end now, not at the timeout.
            raise _Deleted
        if view.server is not None:
            self.latest = view.server
        return fresh(view)

    def request(self, action: Callable[[], object]) -> None:
        """Send one move request to Nova, in turn (novaflow/turns.py); the migration we knew
        of so far is not the new request's."""
        if self.migration_id:
            self.seen_migrations.add(self.migration_id)
        self.refusal = None  # a new attempt: an earlier attempt's reason is not its reason
        if self.turn is None:
            action()
            return
        self.turn.wait()
        try:
            action()
        finally:
            self.turn.take()


def _now() -> datetime:
    return datetime.now(UTC)


def run_move(
    cloud: Cloud,
    move: Move,
    *,
    timeout_s: float = 1800.0,
    allow_fallback: bool = True,
    lock: bool = True,
    abort_timeout_s: float | None = None,
    turn: Turn | None = None,
) -> Outcome:
    """Move one instance per `move`, safely re-runnable; never raises for a move's failure.

    `turn`: its place in its host's queue in Nova (novaflow/turns.py), given back however
    the move ends so the next one never waits for it. A move that will queue waits for its
    turn before its first request too: its read and lock would only compete (for the API and
    this process's CPU) with the moves ahead of it, whose requests start Nova's slots."""
    if turn is not None:
        turn.wait()
    try:
        return _run(cloud, move, timeout_s, allow_fallback, lock, abort_timeout_s, turn)
    finally:
        if turn is not None:
            turn.take()


def _run(
    cloud: Cloud,
    move: Move,
    timeout_s: float,
    allow_fallback: bool,
    lock: bool,
    abort_timeout_s: float | None,
    turn: Turn | None,
) -> Outcome:
    state = cloud.server_state(move.instance_id)
    if state is None:
        return _outcome(
            move,
            "skipped",
            None,
            error=f"{move.instance_name} was deleted by its owner",
            remedy="nothing to do",
        )
    ctx = _Ctx(cloud, move, timeout_s, state.instance.label, state, turn=turn)
    try:
        state = _settle_in_progress(ctx, state)
    except MoveFailed as exc:
        return _failed(ctx, exc)
    if state is None or state.deleted:
        return _outcome(
            move,
            "skipped",
            None,
            error=f"{ctx.label} was deleted by its owner",
            remedy="nothing to do",
        )
    done = _already_done(ctx, state)
    if done is not None:
        # A crashed run may have finished the move but not released its own lock.
        unlock_error = _unlock(cloud, move, state.locked_by_novaflow)
        if unlock_error:
            done = done.model_copy(update={"error": unlock_error})
        return done
    we_lock = lock and not state.instance.locked
    ours = state.locked_by_novaflow  # left by an earlier, crashed run: release it at the end
    if we_lock:
        try:
            cloud.lock(move.instance_id, f"{NOVAFLOW_LOCK_PREFIX} moving off {move.source}")
        except NovaflowError as exc:
            # No state: _failed reads it again, which tells a deletion from a refusal.
            return _failed(ctx, MoveFailed(f"could not lock {ctx.label}: {exc.what}", None))
    outcome: Outcome | None = None
    try:
        outcome = _act(ctx, state, allow_fallback, abort_timeout_s)
    finally:
        # A deleted instance has no lock left to release (unlocking it would only 404).
        deleted = outcome is not None and outcome.final_status == "DELETED"
        unlock_error = None if deleted else _unlock(cloud, move, we_lock or ours)
    if unlock_error:
        outcome = outcome.model_copy(
            update={
                "error": "; ".join(x for x in (outcome.error, unlock_error) if x),
                "remedy": f"unlock it: openstack server unlock {move.instance_id}",
            }
        )
    return outcome


def _unlock(cloud: Cloud, move: Move, needed: bool) -> str | None:
    if not needed:
        return None
    try:
        cloud.unlock(move.instance_id)
    except NovaflowError as exc:
        return f"could not unlock it: {exc.what}"
    return None


def _settle_in_progress(ctx: _Ctx, state: ServerState) -> ServerState | None:
    """A move already under way (from an earlier run or by hand) is waited on, never re-issued."""
    if state.settled:
        return state
    mig = ctx.cloud.latest_migration(ctx.move.instance_id)
    if mig and mig.in_progress:
        ctx.migration_id = mig.id
    ctx.notes.append(f"found it busy ({state.status}, task {state.task_state}); waited for it")
    view = ctx.cloud.observer().wait(
        ctx.move.instance_id,
        lambda v: v.server is not None and v.server.settled,
        timeout_s=ctx.timeout_s,
        initial=state,
    )
    if view.timed_out:
        raise MoveFailed(
            f"{ctx.label} was already busy ({state.status}, task {state.task_state}) and did not "
            f"settle within {ctx.timeout_s:.0f} s",
            view.server,
        )
    return view.server


def _already_done(ctx: _Ctx, state: ServerState) -> Outcome | None:
    """Off the source and settled means an earlier run moved it: do not move it again."""
    move = ctx.move
    if state.status == "VERIFY_RESIZE" and state.host != move.source:
        ctx.notes.append("found it waiting for confirmation from an earlier cold migration")
        ctx.method = Method.COLD
        try:
            final = _confirm(ctx, state, _wanted_status(state))
        except MoveFailed as exc:
            return _failed(ctx, exc)
        return _success(ctx, final, "moved")
    if state.host and state.host != move.source and state.settled:
        if move.target and state.host != move.target:
            ctx.notes.append(f"it is on {state.host}, not the planned {move.target}")
        return _success(ctx, state, "already-done")
    return None


def _act(ctx: _Ctx, state: ServerState, allow_fallback: bool, abort_s: float | None) -> Outcome:
    move = ctx.move
    try:
        if move.method is Method.LIVE:
            final = _live_with_fallback(ctx, state, allow_fallback, abort_s)
        elif move.method is Method.COLD:
            ctx.method = Method.COLD
            final = _cold(ctx, state, move.target)
        else:
            ctx.method = Method.EVACUATE
            final = _evacuate_with_retry(ctx, state)
    except _Deleted:
        return _deleted(ctx)
    except _Aborted as exc:
        return _outcome(move, "aborted", exc.state, ctx=ctx, error=exc.message, remedy=exc.remedy)
    except MoveFailed as exc:
        return _failed(ctx, exc)
    except NovaflowError as exc:
        if exc.remedy is None and isinstance(exc, CloudError):
            ctx.answered(exc.what, ctx.method or move.method, move.target)
        return _failed(ctx, MoveFailed(str(exc.what), None), remedy=exc.remedy)
    return _success(ctx, final, "moved")


# ---------------------------------------------------------------------- live


class _Aborted(MoveFailed):
    def __init__(self, message: str, state: ServerState | None, remedy: str) -> None:
        super().__init__(message, state)
        self.remedy = remedy


def _live_with_fallback(
    ctx: _Ctx, state: ServerState, allow_fallback: bool, abort_s: float | None
) -> ServerState:
    move = ctx.move
    targets: list[str | None] = [move.target, None] if move.target else [None]
    errors: list[str] = []
    for target in targets:
        ctx.method = Method.LIVE
        try:
            return _live(ctx, state, target, abort_s)
        except _Aborted:
            raise
        except (MoveFailed, CloudError) as exc:
            msg = exc.message if isinstance(exc, MoveFailed) else exc.what
            if isinstance(exc, CloudError):
                ctx.answered(msg, Method.LIVE, target)
            errors.append(msg)
            ctx.notes.append(msg)
            current = ctx.cloud.server_state(move.instance_id)
            if current is None or current.host != move.source or not current.settled:
                raise MoveFailed("; ".join(errors), current) from exc
            state = current
    if allow_fallback and move.fallback is Method.COLD:
        ctx.notes.append(
            f"the instance is {state.status} on {move.source}; it was then cold-migrated"
        )
        ctx.method = Method.COLD
        try:
            return _cold(ctx, state, move.target)
        except MoveFailed as exc:
            # Each attempt's reason: the operator must see that live was refused too.
            raise MoveFailed("; ".join([*errors, exc.message]), exc.state) from exc
    raise MoveFailed("; ".join(errors), state)


def _live(ctx: _Ctx, state: ServerState, target: str | None, abort_s: float | None) -> ServerState:
    move, cloud = ctx.move, ctx.cloud
    where = f"from {move.source} to {target or 'a host the scheduler chooses'}"
    ctx.request(lambda: cloud.live_migrate(move.instance_id, target, from_host=move.source))
    view = ctx.wait(lambda v: _left_or_failed(v, move.source))
    if view.migration:
        ctx.migration_id = view.migration.id
    if view.timed_out:
        _abort(ctx, view, where, abort_s)
    final = view.server
    if final is None:
        raise MoveFailed(f"live migration of {ctx.label} {where}: its state is unknown", None)
    if final.host == move.source or final.status != state.status:
        reason = ctx.nova_says(view, Method.LIVE, target)
        raise MoveFailed(f"live migration of {ctx.label} {where} failed: {reason}", final)
    return final


def _left_or_failed(view: View, source: str) -> bool:
    """Done when the instance is off its source, or its migration failed.

    A finished migration while the instance still shows its source is not an answer: the
    observer lists migrations and servers one after the other, so one read can be a step
    behind the other; the next cycle settles it.
    """
    s = view.server
    if s is None or not s.settled:
        return False
    return s.host != source or (view.migration is not None and view.migration.failed)


def _abort(ctx: _Ctx, view: View, where: str, abort_s: float | None) -> None:
    move, cloud = ctx.move, ctx.cloud
    mig_id = ctx.migration_id or _running_migration(cloud, move.instance_id)
    stuck = f"live migration of {ctx.label} {where} did not finish within {ctx.timeout_s:.0f} s"
    if mig_id is None:
        raise MoveFailed(f"{stuck} and no running migration was found to abort", view.server)
    try:
        cloud.abort_live_migration(move.instance_id, mig_id)
    except NovaflowError as exc:
        raise MoveFailed(
            f"{stuck}; aborting migration {mig_id} failed: {exc.what}", view.server
        ) from exc
    back = ctx.wait(
        lambda v: v.server is not None and v.server.settled, timeout_s=abort_s or ctx.timeout_s
    )
    state = back.server
    where_now = f"{state.status} on {state.host}" if state else "unknown"
    if back.timed_out or state is None or state.host != move.source:
        raise MoveFailed(f"{stuck}; it was aborted but the instance is {where_now}", state)
    raise _Aborted(
        f"{stuck}; it was aborted and the instance is {where_now}",
        state,
        remedy="its memory changes faster than it can be copied: cold-migrate it (it "
        f"reboots): openstack server migrate {move.instance_id}; or live-migrate it again and "
        "force-complete it if it stalls, which pauses the guest: openstack server migration "
        f"force complete {move.instance_id} <migration>",
    )


def _running_migration(cloud: Cloud, instance_id: str) -> str | None:
    mig = cloud.latest_migration(instance_id)
    return mig.id if mig and mig.in_progress else None


# ---------------------------------------------------------------------- cold


def _wanted_status(state: ServerState) -> str:
    """The power state an instance must end in: the one it had (SHUTOFF stays SHUTOFF)."""
    if state.status == "SHUTOFF":
        return "SHUTOFF"
    if state.status == "VERIFY_RESIZE":
        return "SHUTOFF" if state.power_state == 4 else "ACTIVE"
    return "ACTIVE"


def _cold(ctx: _Ctx, state: ServerState, target: str | None) -> ServerState:
    move, cloud = ctx.move, ctx.cloud
    wanted = _wanted_status(state)
    where = f"from {move.source} to {target or 'a host the scheduler chooses'}"
    ctx.request(lambda: cloud.cold_migrate(move.instance_id, target, from_host=move.source))
    view = ctx.wait(
        lambda v: (
            v.server is not None
            and v.server.task_state is None
            and (
                v.server.status in ("VERIFY_RESIZE", "ERROR")
                # a finished migration seen before the server's VERIFY_RESIZE is not the end
                or (v.migration is not None and v.migration.failed)
                or (v.server.host != move.source and v.server.settled)
            )
        )
    )
    if view.migration:
        ctx.migration_id = view.migration.id
    s = view.server
    if view.timed_out:
        raise MoveFailed(
            f"cold migration of {ctx.label} {where} did not finish within {ctx.timeout_s:.0f} s", s
        )
    if s is not None and s.host != move.source and s.status in ("ACTIVE", "SHUTOFF"):
        return _restore_power(ctx, s, wanted)  # the cloud confirmed it by itself
    if s is None or s.status != "VERIFY_RESIZE":
        reason = ctx.nova_says(view, Method.COLD, target)
        raise MoveFailed(f"cold migration of {ctx.label} {where} failed: {reason}", s)
    if s.host == move.source:
        cloud.revert_resize(move.instance_id)
        raise MoveFailed(
            f"cold migration of {ctx.label} {where} stayed on {move.source}; it was reverted", s
        )
    return _confirm(ctx, s, wanted)


def _confirm(ctx: _Ctx, state: ServerState, wanted: str) -> ServerState:
    """Confirm a migration waiting in VERIFY_RESIZE, then restore the power state it had."""
    cloud, iid = ctx.cloud, ctx.move.instance_id
    try:
        cloud.confirm_resize(iid)
    except NovaflowError as exc:
        try:
            cloud.revert_resize(iid)
            what = "it was reverted"
        except NovaflowError:
            what = "reverting failed too; it is still VERIFY_RESIZE"
        raise MoveFailed(
            f"confirming the migration of {ctx.label} failed: {exc.what}; {what}", state
        ) from exc
    view = ctx.wait(
        lambda v: (
            v.server is not None
            and v.server.settled
            and v.server.status in ("ACTIVE", "SHUTOFF", "ERROR")
        )
    )
    if view.timed_out or view.server is None:
        raise MoveFailed(f"confirming the migration of {ctx.label} did not finish", view.server)
    return _restore_power(ctx, view.server, wanted)


# ---------------------------------------------------------------------- evacuate


def _evacuate_with_retry(ctx: _Ctx, state: ServerState) -> ServerState:
    """Evacuate; a rebuild that failed with the instance still on the dead node (its
    destination died or refused it) is tried once more on a host the scheduler chooses:
    until it lands somewhere, the instance is down."""
    try:
        return _evacuate(ctx, state, ctx.move.target, _wanted_status(state), state)
    except MoveFailed as exc:
        current = ctx.cloud.server_state(ctx.move.instance_id)
        if current is None or current.host != ctx.move.source or not current.settled:
            raise
        ctx.notes.append(f"{exc.message}; evacuated again to a host the scheduler chooses")
        return _evacuate(ctx, current, None, _wanted_status(state), state)


def _evacuate(
    ctx: _Ctx, state: ServerState, target: str | None, wanted: str, before: ServerState
) -> ServerState:
    move, cloud = ctx.move, ctx.cloud
    if move.needs_state_reset or state.task_state is not None or state.status == "ERROR":
        # A task stuck from the crash blocks evacuation; Nova requires resetting it first.
        cloud.reset_state(move.instance_id, "active")
        ctx.notes.append(
            f"reset its state to active first (it was {state.status}, task {state.task_state})"
        )
    ctx.request(lambda: cloud.evacuate(move.instance_id, target, from_host=move.source))
    view = ctx.wait(
        lambda v: (
            v.server is not None
            and v.server.task_state is None
            and (
                v.server.host != move.source
                or v.server.status == "ERROR"
                or (v.migration is not None and v.migration.failed)
            )
        )
    )
    if view.migration:
        ctx.migration_id = view.migration.id
    s = view.server
    where = f"from {move.source} to {target or 'a host the scheduler chooses'}"
    if view.timed_out:
        raise MoveFailed(
            f"evacuation of {ctx.label} {where} did not finish within {ctx.timeout_s:.0f} s", s
        )
    if s is None or s.host == move.source or s.status == "ERROR":
        reason = ctx.nova_says(view, Method.EVACUATE, target)
        raise MoveFailed(f"evacuation of {ctx.label} {where} failed: {reason}", s)
    s = _restore_power(ctx, s, wanted)
    _verify_identity(ctx, before.instance, s.instance)
    return s


def _verify_identity(ctx: _Ctx, before: Instance, after: Instance) -> None:
    changed = [k for k in ("id", "name", "addresses") if getattr(before, k) != getattr(after, k)]
    if changed:
        raise MoveFailed(
            f"{ctx.label} was evacuated to {after.host} but its {', '.join(changed)} changed", None
        )


def _restore_power(ctx: _Ctx, state: ServerState, wanted: str) -> ServerState:
    """Start or stop the instance when Nova left it in another power state than it had."""
    if state.status == wanted or wanted not in ("ACTIVE", "SHUTOFF"):
        return state
    if state.status not in ("ACTIVE", "SHUTOFF"):
        return state
    iid = ctx.move.instance_id
    if wanted == "ACTIVE":
        ctx.cloud.start(iid)
    else:
        ctx.cloud.stop(iid)
    done = "started" if wanted == "ACTIVE" else "stopped"
    ctx.notes.append(
        f"it came up {state.status} on {state.host}; it was {done} to match its "
        f"prior state {wanted}"
    )
    view = ctx.wait(
        lambda v: v.server is not None and v.server.settled and v.server.status == wanted
    )
    if view.timed_out or view.server is None:
        raise MoveFailed(f"{ctx.label} did not reach {wanted} on {state.host}", view.server)
    return view.server


# ---------------------------------------------------------------------- outcomes


def _why(view: View) -> str:
    s, m = view.server, view.migration
    parts = []
    if s and s.fault:
        parts.append(s.fault)
    if m and m.failed:
        parts.append(f"migration {m.id} is {m.status}")
    if view.error:
        parts.append(view.error)
    if s and not parts:
        parts.append(f"the instance is {s.status} on {s.host}")
    return "; ".join(parts) or "no reason given by Nova"


def _where(state: ServerState | None) -> str:
    if state is None:
        return "The instance's state is unknown"
    return f"The instance is {state.status} on {state.host}"


def _failed(ctx: _Ctx, exc: MoveFailed, remedy: str | None = None) -> Outcome:
    state = exc.state or ctx.cloud.server_state(ctx.move.instance_id)
    if state is None or state.deleted:
        # The step failed because the instance is gone (its action answered 404).
        return _deleted(ctx)
    message = f"{exc.message}. {_where(state)}"
    return _outcome(
        ctx.move, "failed", state, ctx=ctx, error=message, remedy=remedy or _remedy(ctx, state)
    )


def _remedy(ctx: _Ctx, state: ServerState | None) -> str:
    """The next step: what its state needs first, else what Nova's reason calls for. Never
    the move that just failed: Nova would refuse it again for the same reason."""
    iid = ctx.move.instance_id
    if state is None:
        return f"check it: openstack server show {iid}"
    if state.status == "VERIFY_RESIZE":
        return f"confirm or revert it: openstack server migrate confirm {iid}"
    if state.status == "MIGRATING" or not state.settled:
        return f"watch it: openstack server migration list --server {iid}"
    known = ctx.refusal if ctx.refusal and ctx.refusal.cause is not Cause.OTHER else None
    if state.status == "ERROR":
        then = f"; then {known.next_step}" if known else ""
        return f"look at its fault (openstack server show {iid}) and reset or rebuild it{then}"
    if ctx.refusal is not None:
        return ctx.refusal.next_step
    return f"read Nova's reason: openstack server event list {iid}"


def _deleted(ctx: _Ctx) -> Outcome:
    """Deleted by its owner while we moved it: skipped, not failed; nothing is left to do.

    No final host: the instance is on no host, and the flow's verification must not count it
    as still on the source.
    """
    outcome = _outcome(
        ctx.move,
        "skipped",
        None,
        ctx=ctx,
        error=f"{ctx.label} was deleted by its owner during the move",
        remedy="nothing to do",
    )
    return outcome.model_copy(update={"final_status": "DELETED"})


def _success(ctx: _Ctx, state: ServerState, result: str) -> Outcome:
    return _outcome(ctx.move, result, state, ctx=ctx)


def _outcome(
    move: Move,
    result: str,
    state: ServerState | None,
    *,
    ctx: _Ctx | None = None,
    error: str | None = None,
    remedy: str | None = None,
) -> Outcome:
    notes = "; ".join(ctx.notes) if ctx and ctx.notes else None
    refusal = ctx.refusal if ctx and result in ("failed", "aborted") else None
    if notes and result in ("moved", "already-done"):
        error = notes if error is None else error
    return Outcome(
        instance_id=move.instance_id,
        instance_name=move.instance_name,
        result=result,  # type: ignore[arg-type]
        method=(ctx.method if ctx and ctx.method else None) if result != "already-done" else None,
        source=move.source,
        final_host=state.host if state else None,
        final_status=state.status if state else None,
        started_at=ctx.started_at if ctx else _now(),
        finished_at=_now(),
        migration_id=ctx.migration_id if ctx else None,
        error=error,
        remedy=remedy,
        nova_reason=refusal.said if refusal else None,
        cause=str(refusal.cause) if refusal else None,
    )


# ---------------------------------------------------------------------- verification


def still_on(outcomes: Iterable[Outcome], host: str) -> list[Outcome]:
    """The outcomes whose instance still sits on `host` (the flow's verification step)."""
    return [
        o
        for o in outcomes
        if o.final_host == host
        or (o.final_host is None and o.source == host and o.result != "skipped")
    ]


def instances_on(cloud: Cloud, host: str) -> list[Instance]:
    """What Nova places on `host` now, read fresh (one paged list call)."""
    return cloud.instances_on(host)
