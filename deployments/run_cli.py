"""`novaflow run ...`: run a scenario flow in the foreground and follow it at the terminal.

The flow runs in a worker thread on the Prefect server `find_prefect` chose; this thread
follows it: live progress per host, each gate shown with its plan and question and answered
here (or where the operator chose: the Prefect UI, Slack), and the report at the end.
Whatever answers a gate, the terminal follows the run: an answer given elsewhere, or a gate
that expired, ends the prompt and says who decided. Ctrl-C stops starting moves, waits for
the moves in flight, marks the run Cancelled and prints the summary; a second Ctrl-C lists
the moves still in flight and leaves at once.
"""

from __future__ import annotations

import contextlib
import contextvars
import getpass
import json
import logging
import os
import select
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from prefect import tags
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags, LogFilter
from prefect.exceptions import (
    FlowPauseTimeout,
    ObjectNotFound,
    PrefectHTTPStatusError,
    UnfinishedRun,
)
from prefect.flow_runs import resume_flow_run
from prefect.states import Cancelled
from rich.live import Live
from rich.markdown import Markdown
from rich.table import Table

from deployments.find_prefect import leave_now
from novaflow import render
from novaflow.errors import REFUSALS
from novaflow.models import Outcome, RunReport
from novaflow.output import Format, write_rows
from novaflow.output import console as make_console
from tasks import live

console = make_console(stderr=True)

FENCING_GATES = {"approve-evacuation"}
POLL_S = 0.3


# -- Prefect's console logging, sent to a file while the terminal is ours ------------------


@contextlib.contextmanager
def prefect_logs_to(path: Path) -> Iterator[Path]:
    """Send every log line Prefect would print on this terminal to `path` instead.

    The live view and the prompt own the terminal; a flow's log lines (and the tracebacks
    of a refused run) in between would cut them to pieces. The run's logs still reach the
    Prefect server (its API handler is left alone); this file is the local copy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    swapped: list[tuple[logging.Logger, logging.Handler]] = []
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for lg in loggers:
        for handler in list(lg.handlers):
            stream = getattr(handler, "stream", None)
            if isinstance(handler, logging.StreamHandler) and stream in (
                sys.stderr,
                sys.stdout,
                sys.__stderr__,
                sys.__stdout__,
            ):
                to_file.setLevel(min(to_file.level or handler.level, handler.level))
                lg.removeHandler(handler)
                lg.addHandler(to_file)
                swapped.append((lg, handler))
    try:
        yield path
    finally:
        for lg, handler in swapped:
            lg.removeHandler(to_file)
            lg.addHandler(handler)
        to_file.close()


# -- gates -----------------------------------------------------------------------------


@dataclass
class OpenGate:
    """A gate the run is paused at, as the terminal shows it."""

    key: str
    question: str
    closes_at: datetime | None
    fields: set[str] | None  # the Resume form's fields (None: unknown, send them all)
    required: set[str] = field(default_factory=set)
    keyset: dict[str, str] = field(default_factory=dict)

    def time_left(self) -> str:
        if self.closes_at is None:
            return "no time limit"
        left = max(0, int((self.closes_at - datetime.now(UTC)).total_seconds()))
        return f"{left // 60}m{left % 60:02d}s left"


def _read_input(client, run_id, key: str | None) -> Any:
    if not key:
        return None
    try:
        return json.loads(client.read_flow_run_input(run_id, key))
    except (ObjectNotFound, PrefectHTTPStatusError, ValueError):  # no such input (yet)
        return None


def _question_from_logs(client, run_id, key: str) -> str | None:
    """The question the gate logged when it opened (for gates without a description)."""
    with contextlib.suppress(Exception):
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id={"any_": [run_id]}), limit=200, offset=0
        )
        opened = [rec.message for rec in logs if rec.message.startswith(f"Gate '{key}': ")]
        if opened:
            text = opened[-1].removeprefix(f"Gate '{key}': ")
            return text.split(" Waiting up to ")[0]
    return None


def open_gate(client, run) -> OpenGate | None:
    """The gate `run` waits at, with its question and form, or None."""
    state = run.state
    if state is None or not state.is_paused() or not state.state_details.pause_key:
        return None
    details = state.state_details
    keyset = details.run_input_keyset or {}
    schema = _read_input(client, run.id, keyset.get("schema"))
    fields = set(schema.get("properties", {})) if isinstance(schema, dict) else None
    required = set(schema.get("required", [])) if isinstance(schema, dict) else set()
    question = (
        _read_input(client, run.id, keyset.get("description"))
        or live.board_of(run.id).questions.get(details.pause_key)
        or _question_from_logs(client, run.id, details.pause_key)
        or f"Gate '{details.pause_key}'"
    )
    closes = details.pause_timeout
    return OpenGate(
        key=details.pause_key,
        question=str(question),
        closes_at=closes.astimezone(UTC) if closes else None,
        fields=fields,
        required=required,
        keyset=keyset,
    )


def who_decided(client, run, gate: OpenGate, on_timeout: str) -> str:
    """How a gate that left the terminal's hands was closed, in one line."""
    answer = _read_input(client, run.id, gate.keyset.get("response"))
    if isinstance(answer, dict):
        verdict = "approved" if answer.get("approved") else "rejected"
        who = answer.get("approver") or "someone"
        via = answer.get("via") or "the Prefect API"
        comment = f": {answer['comment']}" if answer.get("comment") else ""
        return f"gate '{gate.key}' {verdict} by {who} via {via}{comment}"
    if run.state and run.state.is_final():
        return f"gate '{gate.key}' closed: the run ended {run.state.name}"
    return f"gate '{gate.key}' expired unanswered: its default action '{on_timeout}' applies"


def fill_form(gate: OpenGate, answer: dict[str, Any]) -> dict[str, Any]:
    """The answer with the approver recorded by novaflow (the login), never typed in, and
    only the fields the gate's form has."""
    answer = {"approver": getpass.getuser(), "via": "cli", **answer}
    if gate.fields is None:
        return answer
    # `approver` and `via` always go along: a form that does not show them still keeps them.
    return {k: v for k, v in answer.items() if k in gate.fields or k in ("approver", "via")}


class GateGone(Exception):
    """The gate closed (answered elsewhere, expired, run over) while the prompt was open."""


def _read_line(still_open: Callable[[], bool]) -> str | None:
    """A line typed at the terminal, None at end of input; GateGone when the gate closes."""
    try:
        fd = sys.stdin.fileno()
    except (OSError, ValueError, AttributeError):
        return None
    while True:
        ready, _, _ = select.select([fd], [], [], POLL_S)
        if ready:
            line = sys.stdin.readline()
            if not sys.stdin.isatty():
                console.print()  # nothing echoed the answer's end of line
            return line if line else None
        if not still_open():
            raise GateGone


def _ask_yes_no(text: str, default: bool, still_open: Callable[[], bool]) -> bool | None:
    hint = "[Y/n]" if default else "[y/N]"
    while True:
        console.print(f"{text} {hint} ", end="", markup=False)
        line = _read_line(still_open)
        if line is None:
            console.print()
            return None
        reply = line.strip().lower()
        if not reply:
            return default
        if reply in ("y", "yes", "n", "no"):
            return reply.startswith("y")
        console.print("please answer y or n")


@dataclass
class Terminal:
    """How this terminal answers gates: the mode the operator chose, --yes, --fenced."""

    mode: str = "cli"  # cli: prompt here; ui / slack: answered there; none: no gates
    yes: bool = False
    fenced: bool = False
    on_timeout: str = "reject"
    prompting: bool = True  # False after end of input: nobody is at this terminal

    def where(self, ui_url: str) -> str:
        if self.mode == "slack":
            return "in Slack (the message's Approve / Reject buttons)"
        return f"in the Prefect UI: {ui_url} (Resume)"

    def answer(self, gate: OpenGate, still_open: Callable[[], bool]) -> dict[str, Any] | None:
        """The operator's answer to `gate`, or None (answered elsewhere, or not here)."""
        if self.yes:
            return {"approved": True, "comment": "--yes", "fenced": self.fenced}
        if self.mode != "cli" or not self.prompting:
            return None
        default = self.on_timeout == "approve"
        console.print(f"[bold]Gate '{gate.key}'[/bold] ({gate.time_left()})")
        console.print(Markdown(gate.question))
        console.print(
            f"If nobody answers in time, the gate does '{self.on_timeout}' (the default "
            "below). It can also be answered in the Prefect UI or Slack.",
            markup=False,
        )
        approved = _ask_yes_no("Approve?", default, still_open)
        if approved is None:
            self.prompting = False
            return None
        fenced = False
        if approved and (gate.key in FENCING_GATES or "fenced" in gate.required):
            fenced = bool(_ask_yes_no("Is the node fenced (powered off)?", False, still_open))
        return {"approved": approved, "comment": "answered at the terminal", "fenced": fenced}


Answer = Callable[[str], "dict[str, Any] | None"]
"""A scripted answer to a gate, by key (tests, benchmarks, the demo); None leaves it open."""


def prompt_answer(yes: bool, fenced: bool) -> Terminal:
    """Gates answered at this terminal (or all approved with --yes)."""
    return Terminal(yes=yes, fenced=fenced)


# -- live progress ---------------------------------------------------------------------


@dataclass
class HostLine:
    moved: int = 0
    in_flight: int = 0
    failed: int = 0
    left: int = 0
    failing: list[str] = field(default_factory=list)


def per_host(board: live.Board) -> dict[str, HostLine]:
    """Moved, in flight, failed and left per source host, from the run's own board."""
    lines: dict[str, HostLine] = {}
    if board.plan is None:
        return lines
    for move in board.plan.moves:
        line = lines.setdefault(move.source, HostLine())
        outcome = board.finished.get(move.instance_id)
        if outcome is None:
            if move.instance_id in board.started:
                line.in_flight += 1
            else:
                line.left += 1
        elif outcome.result in ("moved", "already-done"):
            line.moved += 1
        elif outcome.result in ("not-started", "skipped"):
            line.left += 1
        else:
            line.failed += 1
            line.failing.append(move.instance_name)
    return lines


def eta(board: live.Board, elapsed_s: float) -> str:
    """Time left, from the plan's estimates scaled by how fast the finished moves went."""
    if board.plan is None or not board.started:
        return ""
    est = {m.instance_id: m.expected_seconds or 0.0 for m in board.plan.moves}
    done = sum(est.get(i, 0.0) for i in board.finished)
    rest = sum(s for i, s in est.items() if i not in board.finished)
    if rest <= 0:
        return ""
    if done > 0:
        return f"about {rest * elapsed_s / done:.0f}s left"
    return f"about {rest / max(1, len(board.in_flight())):.0f}s left (plan estimate)"


MOVE_TASKS = ("live", "cold", "evacuate")


def task_counts(client, run) -> Table:
    """Moves by task state, read from the API: for a run in another process (the demo's
    served deployments), whose board this process does not have."""
    task_runs = client.read_task_runs(
        flow_run_filter=FlowRunFilter(id={"any_": [run.id]}), limit=200
    )
    counts: dict[str, int] = {}
    for t in task_runs:
        if t.name.split("-")[0] in MOVE_TASKS:
            state = t.state.name if t.state else "?"
            counts[state] = counts.get(state, 0) + 1
    table = Table(title=f"{run.name}: {run.state.name if run.state else '?'}")
    table.add_column("moves")
    table.add_column("count", justify="right")
    for state, n in sorted(counts.items()):
        table.add_row(state, str(n))
    return table


def progress_table(run, board: live.Board, elapsed_s: float) -> Table:
    state = run.state.name if run.state else "?"
    table = Table(title=f"{run.name}: {state}", caption=eta(board, elapsed_s))
    for col in ("host", "moved", "in flight", "failed", "left", "failing"):
        table.add_column(col, justify="left" if col in ("host", "failing") else "right")
    for host, line in sorted(per_host(board).items()):
        table.add_row(
            host,
            str(line.moved),
            str(line.in_flight),
            str(line.failed),
            str(line.left),
            ", ".join(line.failing),
        )
    return table


# -- following a run -------------------------------------------------------------------


CLI_TAG = "novaflow-cli"
"""Tag of every run started by `novaflow run` (with one tag of its own, to find it by)."""


def _find_run(client, tag: str):
    runs = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])), limit=1
    )
    return runs[0] if runs else None


def _ui_url(run) -> str:
    api = os.environ.get("PREFECT_API_URL", "").removesuffix("/api")
    return f"{api}/runs/flow-run/{run.id}" if api else f"flow run {run.name}"


def _resume(run, reply: dict[str, Any]) -> str | None:
    """Resume `run` with `reply`; a one-line reason when the gate was no longer open."""
    try:
        resume_flow_run(run.id, run_input=reply)
    except FlowPauseTimeout:
        return "the gate had already expired"
    except Exception as exc:  # NotPausedError, or the server refused the answer
        if type(exc).__name__ == "NotPausedError":
            return "the gate was already answered elsewhere"
        return f"the answer was not accepted: {exc}"
    return None


class CtrlC:
    """Ctrl-C (SIGINT) while a run is followed at the terminal.

    Installed explicitly for the run: a process started with SIGINT ignored (a background
    job of a non-interactive shell, as a test suite or a script may start it) keeps it
    ignored under Python's default handling, and `kill -INT` then did nothing: the drain
    went on to the end (the fresh-clone suite run that way, 2026-12-07). And rather than
    raise KeyboardInterrupt at whatever line the main thread is at, inside a Prefect client
    call or a library's own handler, each press is counted here and the follower acts on it
    at its next step, every POLL_S; only a prompt waiting for the operator's answer is
    interrupted at once."""

    def __init__(self) -> None:
        self.presses = 0
        self.handled = 0
        self.prompting = False

    def __call__(self, signum: int, frame: object) -> None:
        self.presses += 1
        if self.prompting:
            self.handled += 1
            raise KeyboardInterrupt

    def unhandled(self) -> bool:
        """True once for each press the follower has not acted on yet."""
        if self.handled < self.presses:
            self.handled += 1
            return True
        return False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """This handler for SIGINT meanwhile (the main thread only: signals are its own)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        before = signal.signal(signal.SIGINT, self)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, before)

    @contextlib.contextmanager
    def prompt(self) -> Iterator[None]:
        """A press while the operator is asked interrupts the question at once."""
        self.prompting = True
        try:
            yield
        finally:
            self.prompting = False


@dataclass
class Follower:
    """Follows one run: its gates, its progress, Ctrl-C."""

    client: Any
    find_run: Callable[[], Any]
    running: Callable[[], bool]
    answer: Answer | Terminal
    show: bool
    answered: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)
    stopping: bool = False
    run: Any = None
    ctrl_c: CtrlC = field(default_factory=CtrlC)

    def gate_still_open(self, key: str) -> Callable[[], bool]:
        def still_open() -> bool:
            if not self.running():
                return False
            run = self.find_run()
            state = run.state if run else None
            return bool(state and state.is_paused() and state.state_details.pause_key == key)

        return still_open

    def on_gate(self, run, gate: OpenGate, live_view: Live | None) -> None:
        self.answered.add(gate.key)
        if live_view:
            live_view.stop()
        board = live.board_of(run.id)
        terminal = self.answer if isinstance(self.answer, Terminal) else None
        if (self.show or terminal) and board.plan is not None:
            render.print_plan(board.plan, None, console)
        if self.stopping:
            reply: dict[str, Any] | None = {
                "approved": False,
                "comment": "interrupted at the terminal (Ctrl-C)",
            }
        elif terminal is not None:
            try:
                with self.ctrl_c.prompt():
                    reply = terminal.answer(gate, self.gate_still_open(gate.key))
            except KeyboardInterrupt:
                console.print()
                self.interrupt()
                reply = {"approved": False, "comment": "interrupted at the terminal (Ctrl-C)"}
            except GateGone:
                reply = None
                console.print()
                console.print(who_decided(self.client, self.find_run(), gate, terminal.on_timeout))
            else:
                if reply is None and terminal.mode != "none":
                    console.print(
                        f"Gate '{gate.key}' is open ({gate.time_left()}): answer it "
                        f"{terminal.where(_ui_url(run))}. Following the run."
                    )
                    self._follow_gate(gate, terminal.on_timeout)
        else:
            reply = self.answer(gate.key)
        if reply is not None:
            reply = fill_form(gate, reply)
            refused = _resume(run, reply)
            if refused:
                console.print(f"gate '{gate.key}': {refused}")
                console.print(who_decided(self.client, self.find_run(), gate, "reject"))
        if live_view:
            live_view.start()

    def _follow_gate(self, gate: OpenGate, on_timeout: str) -> None:
        """Wait for a gate answered elsewhere, then say who decided and how."""
        still_open = self.gate_still_open(gate.key)
        while still_open():
            time.sleep(POLL_S)
        console.print(who_decided(self.client, self.find_run(), gate, on_timeout))

    def interrupt(self) -> None:
        """Ctrl-C: the first stops new moves; the second lists what is in flight and leaves."""
        run = self.run
        if run is None:
            raise KeyboardInterrupt
        board = live.board_of(run.id)
        if not self.stopping:
            self.stopping = True
            live.request_stop(run.id, "interrupted at the terminal (Ctrl-C)")
            console.print(
                f"Stopping: no new move starts; waiting for {len(board.in_flight())} move(s) "
                "in flight. Ctrl-C again to leave them running."
            )
            return
        moving = board.in_flight()
        console.print(f"Leaving {len(moving)} move(s) in flight (Nova finishes them):")
        for m in moving:
            console.print(f"  {m.instance_name}: {m.source} -> {m.target or 'scheduler'}")
        # Ended, so its host claims are free: the same command run again resumes, waiting
        # for the moves still in flight instead of starting them twice.
        with contextlib.suppress(Exception):
            self.client.set_flow_run_state(
                run.id,
                Cancelled(message=f"left at the terminal with {len(moving)} move(s) in flight"),
                force=True,
            )
        console.print(f"Run {run.name} marked Cancelled; run the same command again to resume.")
        leave_now(130)

    def follow(self) -> None:
        live_view = Live(console=console, transient=True) if self.show else None
        if live_view:
            live_view.start()
        try:
            while self.running():
                try:
                    self._step(live_view)
                    time.sleep(POLL_S)
                    while self.ctrl_c.unhandled():
                        self.interrupt()
                except KeyboardInterrupt:
                    self.interrupt()
        finally:
            if live_view:
                live_view.stop()

    def _step(self, live_view: Live | None) -> None:
        run = self.find_run()
        if run is None:
            return
        self.run = run
        if live_view:
            board = live.board_of(run.id)
            elapsed = time.monotonic() - self.started
            live_view.update(
                progress_table(run, board, elapsed)
                if board.plan is not None
                else task_counts(self.client, run)
            )
        if run.state and run.state.is_cancelling() and not self.stopping:
            self.stopping = True
            console.print("The run was cancelled in Prefect: no new move starts.")
        gate = open_gate(self.client, run)
        if gate and gate.key not in self.answered:
            self.on_gate(run, gate, live_view)


def watch_run(
    client,
    find_run: Callable[[], Any],
    running: Callable[[], bool],
    answer: Answer | Terminal,
    show: bool,
    ctrl_c: CtrlC | None = None,
) -> Follower:
    """Follow a flow run until `running()` is false: show progress, answer each gate once."""
    follower = Follower(client, find_run, running, answer, show, ctrl_c=ctrl_c or CtrlC())
    follower.follow()
    return follower


def report_of(state, board: live.Board | None = None) -> RunReport | None:
    """The RunReport a finished run returned (or carried in MovesIncomplete)."""
    try:
        result = state.result(raise_on_failure=False)
    except UnfinishedRun:  # a run cancelled in Prefect ends Cancelling, with no result
        result = board.report if board is not None else None
    if isinstance(result, RunReport):
        return result
    report = getattr(result, "report", None)
    if isinstance(report, RunReport):
        return report
    if isinstance(result, REFUSALS):  # refused before anything moved
        # No markup (a message may hold brackets) and no wrapping (one line per refusal).
        console.print(
            f"novaflow: refused, nothing was changed: {result}",
            style="red",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    console.print(
        f"novaflow: the run ended {state.name}: {state.message or result}",
        style="red",
        markup=False,
        soft_wrap=True,
    )
    return None


@dataclass
class Finished:
    """How a foreground run ended: its report (if any) and whether it was stopped."""

    report: RunReport | None
    cancelled: bool = False
    run_name: str = ""


def run_followed(
    flow, params: dict[str, Any], answer: Answer | Terminal, *, show: bool = True
) -> Finished:
    """Run `flow` with `params` in a worker thread and follow it from this one."""
    # Found by a tag of its own, so the run keeps the name its flow gives it.
    tag = f"cli-{uuid.uuid4().hex[:10]}"
    box: dict[str, Any] = {}

    def target() -> None:
        with tags(CLI_TAG, tag):
            box["state"] = flow(**params, return_state=True)

    # Run in a copy of this context so the flow sees the same Prefect settings (API URL).
    worker = threading.Thread(target=contextvars.copy_context().run, args=(target,), daemon=True)
    ctrl_c = CtrlC()
    with get_client(sync_client=True) as client, ctrl_c.installed():
        worker.start()
        follower = watch_run(
            client, lambda: _find_run(client, tag), worker.is_alive, answer, show, ctrl_c
        )
        while worker.is_alive():  # Ctrl-C during the last moments of the run
            try:
                worker.join(timeout=POLL_S)
                while ctrl_c.unhandled():
                    follower.interrupt()
            except KeyboardInterrupt:
                follower.interrupt()
        state = box.get("state")
        cancelled = follower.stopping
        if cancelled and follower.run is not None:
            with contextlib.suppress(Exception):
                client.set_flow_run_state(
                    follower.run.id,
                    Cancelled(message="stopped: no new move was started; see the report"),
                    force=True,
                )
    board = live.board_of(follower.run.id) if follower.run is not None else None
    report = report_of(state, board) if state is not None else None
    run_name = follower.run.name if follower.run is not None else tag
    return Finished(report, cancelled, run_name)


def run_foreground(
    flow, params: dict[str, Any], answer: Answer | Terminal, *, show: bool = True
) -> RunReport | None:
    """Run `flow` with `params`, answer each gate with `answer(gate)` (None: leave it
    unanswered, so it expires), and return the run's report."""
    return run_followed(flow, params, answer, show=show).report


# -- the report ------------------------------------------------------------------------

REPORT_COLUMNS = (
    "instance",
    "outcome",
    "method",
    "from",
    "now on",
    "status",
    "seconds",
    "error",
    "next step",
)


def report_rows(outcomes: list[Outcome]) -> list[dict[str, str]]:
    """One row per instance, failures first (they are what the operator acts on)."""
    ordered = sorted(outcomes, key=lambda o: o.result == "moved")
    return [
        {
            "instance": o.instance_name,
            "outcome": o.result,
            "method": o.method.value if o.method else "",
            "from": o.source or "",
            "now on": o.final_host or "",
            "status": o.final_status or "",
            "seconds": f"{o.seconds:.1f}" if o.seconds is not None else "",
            "error": o.error or "",
            "next step": o.remedy or "",
        }
        for o in ordered
    ]


def print_report(
    report: RunReport, fmt: Format = Format.table, columns: tuple[str, ...] = ()
) -> None:
    """The report on stdout (scripts read it with -f json); gates and notes on stderr."""
    if fmt is Format.json and not columns:
        sys.stdout.write(report.model_dump_json(indent=1) + "\n")
        return
    if report.dry_run and report.plan is not None and fmt is Format.table:
        render.print_plan(report.plan, None, make_console())
    elif report.outcomes or fmt is not Format.table:
        write_rows(
            REPORT_COLUMNS,
            report_rows(report.outcomes),
            fmt,
            columns,
            title=f"{report.scenario} on {', '.join(report.hosts)}",
        )
    for g in report.gates:
        d = g.decision
        verdict = "approved" if d.approved else "rejected"
        comment = f": {d.comment}" if d.comment else ""
        console.print(
            f"gate {g.gate}: {verdict} by {d.approver or '(unnamed)'} via {d.via}{comment}",
            markup=False,
        )
    for note in report.notes:
        console.print(f"- {note}", markup=False)
