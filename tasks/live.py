"""What a terminal following a run in this process sees, and how it asks the run to stop.

`novaflow run` executes the flow in a thread of its own process, so the flow can tell it
the plan and each move as it starts and ends, without a round trip to the Prefect server
(whose task runs reach it a second or more late). The same board carries the stop request:
Ctrl-C at the terminal, or `prefect flow-run cancel` from anywhere (the run is then
Cancelling on the server; Prefect does not interrupt a flow running in-process, so the
dispatcher asks here before starting each batch of moves).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

from novaflow.models import Move, Outcome, Plan, RunReport

CANCEL_CHECK_S = 2.0
"""How often a run reads its own state to notice a cancellation: one flow-run read per
interval, whatever the number of moves."""


@dataclass
class Board:
    """One run's plan and moves, as the dispatcher reports them."""

    plan: Plan | None = None
    questions: dict[str, str] = field(default_factory=dict)  # gate key -> its question
    report: RunReport | None = None  # kept here too: a cancelled run's result is not
    started: dict[str, Move] = field(default_factory=dict)
    finished: dict[str, Outcome] = field(default_factory=dict)
    stop_reason: str | None = None
    _checked_at: float = 0.0

    def in_flight(self) -> list[Move]:
        return [m for i, m in self.started.items() if i not in self.finished]


_boards: dict[str, Board] = {}
_lock = threading.Lock()


def _run_id() -> str | None:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else None


KEPT = 32
"""Boards kept per process: a process that runs many flows (a test session, a benchmark)
keeps only the latest runs' plans, not every plan it ever made."""


def board_of(flow_run_id: object) -> Board:
    """The board of a run (made on first use, by either side)."""
    with _lock:
        key = str(flow_run_id)
        board = _boards.get(key)
        if board is None:
            board = _boards[key] = Board()
            while len(_boards) > KEPT:
                del _boards[next(iter(_boards))]
        return board


def _mine() -> Board | None:
    run_id = _run_id()
    return board_of(run_id) if run_id else None


def plan_made(plan: Plan) -> None:
    board = _mine()
    if board is not None:
        board.plan = plan
        board.started.clear()
        board.finished.clear()


def gate_opened(key: str, question: str) -> None:
    board = _mine()
    if board is not None:
        board.questions[key] = question


def report_made(report: RunReport) -> None:
    board = _mine()
    if board is not None:
        board.report = report


def move_started(move: Move) -> None:
    board = _mine()
    if board is not None:
        board.started[move.instance_id] = move


def move_finished(outcome: Outcome) -> None:
    board = _mine()
    if board is not None:
        board.finished[outcome.instance_id] = outcome


def request_stop(flow_run_id: object, reason: str) -> None:
    """Ask the run to start no new move (the terminal's Ctrl-C)."""
    board = board_of(flow_run_id)
    board.stop_reason = board.stop_reason or reason


def stop_requested() -> str | None:
    """Why this run must start no new move, or None: asked at the terminal, or the run
    was cancelled on the Prefect server (read at most every CANCEL_CHECK_S)."""
    run_id = _run_id()
    if run_id is None:
        return None
    board = board_of(run_id)
    if board.stop_reason is None and time.monotonic() - board._checked_at >= CANCEL_CHECK_S:
        board._checked_at = time.monotonic()
        try:
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(run_id).state
        except Exception:  # a busy or restarting server: ask again at the next check
            return None
        if state is not None and (state.is_cancelling() or state.is_cancelled()):
            board.stop_reason = "the run was cancelled in Prefect"
    return board.stop_reason
