"""Approval gates: pause the run on a form that says what approving does; return the decision.

A gate pauses the flow run with Prefect's `pause_flow_run` and the gate's own RunInput form
(below), whose markdown description is `Gate.description()`: the Prefect UI shows it above
the Resume form, the API answers with `resume_flow_run`, and the Slack listener and the CLI
resume the same way. An expired gate does the configured default action.

The channel and approver are recorded by novaflow, never typed in a form: the CLI and the
Slack listener send `via` and `approver` along with the answer (extra keys the form does not
show); an answer without them came from the Prefect UI. `read_gate` gives another process
(the terminal's prompt) the gate a run waits at, with its question. While paused, the
waiting process stamps the run's `novaflow.gate.alive` label every few seconds, so an answer
to a gate whose process is gone can be refused (`gate_alive`) instead of resuming a run
nobody runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.exceptions import FlowPauseTimeout, ObjectNotFound, PrefectHTTPStatusError
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Crashed, Running
from pydantic import ConfigDict, Field

from flows.params import ApprovalSettings
from novaflow.gates import ALIVE_EVERY_S, ALIVE_LABEL, Gate, GateKind, duration, gate_alive
from novaflow.models import ApprovalDecision


def _form_schema(schema: dict[str, Any]) -> None:
    """The form shows only its own fields: the extra keys the CLI and Slack send (`via`,
    `approver`) are accepted but never offered for typing in the UI."""
    schema.pop("additionalProperties", None)


class GateAnswer(RunInput):
    """The Resume form every gate shares: approve or reject, and why."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_form_schema)

    approved: bool = Field(description="Tick to approve, as described above.")
    comment: str = Field("", description="Why; kept in the report.")

    needs_fencing: ClassVar[bool] = False


class MaintenancePlan(GateAnswer):
    """Drain a host for maintenance."""

    approved: bool = Field(
        description="Tick to disable the host and move its instances off as planned; "
        "leave unticked to reject the plan (nothing changes)."
    )


class MaintenanceDone(GateAnswer):
    """The work on a drained host is done."""

    approved: bool = Field(
        description="Tick when the work is done: the host is enabled again. Leave unticked "
        "to keep it disabled."
    )


class RollingPlan(GateAnswer):
    """Drain many hosts, a batch at a time."""

    approved: bool = Field(
        description="Tick to start draining the batches in turn; leave unticked to reject "
        "the plan (nothing changes)."
    )


class BatchDone(GateAnswer):
    """The work on one batch of a rolling maintenance is done."""

    approved: bool = Field(
        description="Tick when the work on this batch is done: its hosts are enabled again "
        "and the next batch starts. Leave unticked to stop here, the batch disabled."
    )


class FailingNode(GateAnswer):
    """Move everything off a failing node."""

    approved: bool = Field(
        description="Tick to disable the failing host and move its instances off now; leave "
        "unticked to leave them where they are."
    )


class Evacuation(GateAnswer):
    """Rebuild a failed node's instances elsewhere; needs the node fenced."""

    approved: bool = Field(
        description="Tick to force the host down and rebuild its instances on other hosts; "
        "leave unticked to do nothing."
    )
    fenced: bool = Field(
        description="Required to approve: I confirm the node is fenced (powered off)."
    )

    needs_fencing: ClassVar[bool] = True


class Rebalance(GateAnswer):
    """Move instances to rebalance the cloud."""

    approved: bool = Field(
        description="Tick to make the planned moves; leave unticked to reject the plan "
        "(nothing changes)."
    )


FORMS: dict[GateKind, type[GateAnswer]] = {
    "maintenance-plan": MaintenancePlan,
    "maintenance-done": MaintenanceDone,
    "rolling-plan": RollingPlan,
    "batch-done": BatchDone,
    "failing-node": FailingNode,
    "evacuation": Evacuation,
    "rebalance": Rebalance,
}

GateHook = Callable[[ApprovalDecision], None]

RESUME_POLL_S = 0.25
"""How often a paused run asks the Prefect server whether it was resumed (one flow-run read).
Prefect's default of 10 s, or the 1 s used before, is that much latency between "approved"
and the first action: for an evacuation, that much longer with the node's instances down. A
read every 0.25 s costs the server little next to a run's own task and log traffic."""

CHANNELS = ("cli", "slack")


def gate_form(gate: Gate) -> type[GateAnswer]:
    """The Resume form of `gate`: its own fields, with its description above them."""
    return FORMS[gate.kind].with_initial_data(description=gate.description())


def decision_from(answer: GateAnswer) -> ApprovalDecision:
    """The decision, with the channel novaflow recorded (the UI sends none: it is 'ui')."""
    extra = answer.model_extra or {}
    via = extra.get("via")
    if via not in CHANNELS:
        via, approver = "ui", "Prefect UI"
    else:
        approver = str(extra.get("approver") or "")
    return ApprovalDecision(
        approved=answer.approved,
        comment=answer.comment,
        fenced=bool(getattr(answer, "fenced", False)),
        approver=approver,
        via=via,
    )


def gate_input_key(key: str) -> str:
    """The flow run input under which a paused run keeps its gate (novaflow.gates.Gate)."""
    return f"novaflow-gate-{key}"


def read_gate(flow_run_id: UUID | str, key: str) -> Gate | None:
    """Gate `key` of a run, as the run posted it when it paused: its question, what approving
    and rejecting do, its timeout and what the timeout does. For a prompt in another process
    (the terminal): `gate.prompt()` is the text, `gate.on_timeout` the default to offer.
    None when the run has no such gate (not paused there, or not a novaflow run)."""
    with get_client(sync_client=True) as client:
        try:
            raw = client.read_flow_run_input(UUID(str(flow_run_id)), gate_input_key(key))
        except (ObjectNotFound, PrefectHTTPStatusError) as exc:
            if _not_found(exc):
                return None
            raise
    return Gate.model_validate_json(raw)


def _not_found(exc: Exception) -> bool:
    """Prefect's client answers a missing flow run input with a bare 404, not ObjectNotFound."""
    return isinstance(exc, ObjectNotFound) or exc.response.status_code == 404


def _post_gate(flow_run_id: UUID, gate: Gate) -> None:
    """Keep the gate with the run, replacing the one a retried run posted before."""
    with get_client(sync_client=True) as client:
        try:
            client.delete_flow_run_input(flow_run_id, gate_input_key(gate.key))
        except (ObjectNotFound, PrefectHTTPStatusError) as exc:
            if not _not_found(exc):
                raise
        client.create_flow_run_input(flow_run_id, gate_input_key(gate.key), gate.model_dump_json())


class _AliveStamp:
    """Stamps the paused run's label every ALIVE_EVERY_S seconds until stopped."""

    def __init__(self, flow_run_id: UUID) -> None:
        self.flow_run_id = flow_run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="gate-alive")

    def __enter__(self) -> _AliveStamp:
        self._stamp()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._stamp(ANSWERED)

    def _stamp(self, value: str | None = None) -> None:
        try:
            with get_client(sync_client=True) as client:
                client.update_flow_run_labels(
                    self.flow_run_id, {ALIVE_LABEL: value or datetime.now(UTC).isoformat()}
                )
        except Exception as exc:  # a missed stamp is retried in ALIVE_EVERY_S
            logging.getLogger(__name__).debug("gate alive stamp failed: %s", exc)

    def _run(self) -> None:
        while not self._stop.wait(ALIVE_EVERY_S):
            self._stamp()


ANSWERED = "answered"
"""The label's value once the gate is passed: the run's process goes on past the gate."""


def end_abandoned_gates() -> list[str]:
    """End (Crashed, with the reason) every run at or just past a gate whose process is gone.

    A paused run whose process died would otherwise keep its Resume button, and one resumed
    from the UI would stay Running with nothing to run it. Called by the compute watcher
    every minute; returns the names of the runs it ended.
    """
    ended = []
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.PAUSED, StateType.RUNNING])
                )
            ),
            limit=200,
        )
        for run in runs:
            if gate_alive(run.labels or {}) is not False:
                continue
            paused = bool(run.state and run.state.is_paused())
            message = (
                "the process waiting at this gate is gone, so an answer could not reach it"
                if paused
                else "the gate was answered after the run's process had gone: nothing ran after it"
            ) + "; start the scenario again: it picks up where this run stopped"
            client.set_flow_run_state(run.id, Crashed(message=message), force=True)
            ended.append(run.name)
    return ended


def _flow_run_id() -> str:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else "local"


def _emit(event: str, key: str, payload: dict) -> None:
    emit_event(
        event=event,
        resource={"prefect.resource.id": f"novaflow.gate.{_flow_run_id()}.{key}"},
        payload=payload,
    )


def _expired(gate: Gate) -> ApprovalDecision:
    """The gate timed out: put the run back to Running and apply the default action."""
    ctx = FlowRunContext.get()
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(
            ctx.flow_run.id,
            Running(message=f"gate {gate.key} expired; default action: {gate.on_timeout}"),
            force=True,
        )
    return ApprovalDecision(
        approved=gate.on_timeout == "approve",
        via="timeout",
        approver="timeout",
        comment=(
            f"no answer within {duration(gate.timeout_s)}: the default action "
            f"'{gate.on_timeout}' was applied ({gate.timeout_text.partition(': ')[2]})"
        ),
    )


def _wait(gate: Gate) -> ApprovalDecision:
    ctx = FlowRunContext.get()
    _post_gate(ctx.flow_run.id, gate)
    try:
        with _AliveStamp(ctx.flow_run.id):
            answer = pause_flow_run(
                wait_for_input=gate_form(gate),
                timeout=gate.timeout_s,
                poll_interval=RESUME_POLL_S,  # type: ignore[arg-type]  # Prefect sleeps a float
                key=gate.key,
            )
    except FlowPauseTimeout:
        return _expired(gate)
    return decision_from(answer)


def approval_gate(
    gate: Gate,
    settings: ApprovalSettings,
    *,
    on_open: Callable[[], None] | None = None,
    on_decided: GateHook | None = None,
) -> ApprovalDecision:
    """Pause the run at `gate` until someone answers; return the decision.

    A gate that needs fencing turns an approval without the "node is fenced" tick into a
    rejection, because evacuating a node that still runs its instances corrupts them.
    """
    log = get_run_logger()
    if settings.mode == "none":
        decision = ApprovalDecision(approved=True, via="none", approver="policy (mode none)")
        log.warning("Gate '%s' skipped: approval mode is 'none'. %s", gate.key, gate.question)
    else:
        if on_open:
            on_open()
        _emit("novaflow.gate.opened", gate.key, {"question": gate.question, "mode": settings.mode})
        log.info("Gate '%s': %s %s", gate.key, gate.question, gate.timeout_text)
        decision = _wait(gate)
    if gate.needs_fencing and decision.approved and not decision.fenced and decision.via != "none":
        decision = decision.model_copy(
            update={
                "approved": False,
                "comment": (
                    f"{decision.comment} | refused: approved without confirming the node is "
                    "fenced (powered off); nothing was done. Fence the node, then run again."
                ).strip(" |"),
            }
        )
    verdict = "approved" if decision.approved else "rejected"
    log.log(
        logging.INFO if decision.approved else logging.WARNING,
        "Gate '%s' %s by %s via %s%s",
        gate.key,
        verdict,
        decision.approver or "(unnamed)",
        decision.via,
        f": {decision.comment}" if decision.comment else "",
    )
    _emit(f"novaflow.gate.{verdict}", gate.key, decision.model_dump())
    if on_decided:
        on_decided(decision)
    return decision
