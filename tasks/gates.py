"""Approval gates: show the plan, pause the run, and return who decided what.

A gate pauses the flow run with Prefect's `pause_flow_run` and the `Approval` RunInput, so
the Prefect UI shows a Resume form, the API can answer with `resume_flow_run`, and the
Slack listener resumes the same way. An expired gate does the configured default action.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Running
from pydantic import Field

from flows.params import ApprovalSettings
from novaflow.models import ApprovalDecision


class Approval(RunInput):
    """The Resume form of a gate (the same fields as novaflow.models.ApprovalDecision)."""

    approved: bool = Field(description="Tick to approve; leave unticked to reject the plan.")
    comment: str = Field("", description="Why; kept in the report.")
    fenced: bool = Field(
        False, description="Evacuation only: I confirm the node is fenced (powered off)."
    )
    approver: str = Field("", description="Your name, for the report.")
    via: Literal["ui", "slack", "cli", "none", "timeout"] = "ui"


GateHook = Callable[[ApprovalDecision], None]

RESUME_POLL_S = 0.25
"""How often a paused run asks the Prefect server whether it was resumed (one flow-run read).
Prefect's default of 10 s, or the 1 s used before, is that much latency between "approved"
and the first action: for an evacuation, that much longer with the node's instances down. A
read every 0.25 s costs the server little next to a run's own task and log traffic."""


def _flow_run_id() -> str:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else "local"


def _emit(event: str, key: str, payload: dict) -> None:
    emit_event(
        event=event,
        resource={"prefect.resource.id": f"novaflow.gate.{_flow_run_id()}.{key}"},
        payload=payload,
    )


def _expired(settings: ApprovalSettings) -> ApprovalDecision:
    """The gate timed out: put the run back to Running and apply the default action."""
    ctx = FlowRunContext.get()
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(
            ctx.flow_run.id,
            Running(message=f"gate expired; default action: {settings.on_timeout}"),
            force=True,
        )
    return ApprovalDecision(
        approved=settings.on_timeout == "approve",
        via="timeout",
        approver="timeout",
        comment=(
            f"no answer within {settings.timeout_s}s; the configured default action "
            f"'{settings.on_timeout}' was applied"
        ),
    )


def approval_gate(
    key: str,
    question: str,
    settings: ApprovalSettings,
    *,
    needs_fencing: bool = False,
    on_open: Callable[[], None] | None = None,
    on_decided: GateHook | None = None,
) -> ApprovalDecision:
    """Pause the run at gate `key` until someone answers; return the decision.

    `needs_fencing`: an approval without the "node is fenced" tick is turned into a
    rejection, because evacuating a node that still runs its instances corrupts them.
    """
    log = get_run_logger()
    if settings.mode == "none":
        decision = ApprovalDecision(approved=True, via="none", approver="policy (mode none)")
        log.warning("Gate '%s' skipped: approval mode is 'none'. %s", key, question)
    else:
        if on_open:
            on_open()
        _emit("novaflow.gate.opened", key, {"question": question, "mode": settings.mode})
        log.info(
            "Gate '%s': %s Waiting up to %ss for an answer.", key, question, settings.timeout_s
        )
        try:
            answer = pause_flow_run(
                wait_for_input=Approval,
                timeout=settings.timeout_s,
                poll_interval=RESUME_POLL_S,  # type: ignore[arg-type]  # Prefect sleeps a float
                key=key,
            )
            decision = ApprovalDecision(
                **answer.model_dump(include=set(ApprovalDecision.model_fields))
            )
        except FlowPauseTimeout:
            decision = _expired(settings)
    if needs_fencing and decision.approved and not decision.fenced and decision.via != "none":
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
        key,
        verdict,
        decision.approver or "(unnamed)",
        decision.via,
        f": {decision.comment}" if decision.comment else "",
    )
    _emit(f"novaflow.gate.{verdict}", key, decision.model_dump())
    if on_decided:
        on_decided(decision)
    return decision
