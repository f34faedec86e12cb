"""The live view of `novaflow run`: per host, what moved, what is moving, what failed (by
name) and what is left, with the time left from the plan's own estimates."""

from __future__ import annotations

from deployments.run_cli import eta, per_host
from novaflow.models import DrainRequest, Method, Move, Outcome, Plan
from tasks.live import Board


def _move(name: str, source: str, seconds: float = 60.0) -> Move:
    return Move(
        instance_id=f"id-{name}",
        instance_name=name,
        source=source,
        target="cmp-z",
        method=Method.LIVE,
        reason="drain",
        expected_seconds=seconds,
    )


def _outcome(move: Move, result: str) -> Outcome:
    return Outcome(
        instance_id=move.instance_id,
        instance_name=move.instance_name,
        result=result,
        source=move.source,
        error="Nova: migration failed" if result == "failed" else None,
    )


def test_each_host_shows_moved_in_flight_failed_and_left_with_the_failing_by_name():
    moves = [_move(f"a-{i}", "cmp-a") for i in range(4)] + [_move("b-0", "cmp-b")]
    board = Board(plan=Plan(request=DrainRequest(hosts=["cmp-a", "cmp-b"]), moves=moves))
    for m in moves[:3]:
        board.started[m.instance_id] = m
    board.finished[moves[0].instance_id] = _outcome(moves[0], "moved")
    board.finished[moves[1].instance_id] = _outcome(moves[1], "failed")
    lines = per_host(board)
    a, b = lines["cmp-a"], lines["cmp-b"]
    assert (a.moved, a.in_flight, a.failed, a.left) == (1, 1, 1, 1)
    assert a.failing == ["a-1"]
    assert (b.moved, b.in_flight, b.failed, b.left) == (0, 0, 0, 1)


def test_time_left_follows_the_plan_scaled_by_how_fast_moves_went():
    moves = [_move(f"a-{i}", "cmp-a", seconds=60) for i in range(4)]
    board = Board(plan=Plan(request=DrainRequest(hosts=["cmp-a"]), moves=moves))
    assert eta(board, elapsed_s=0) == ""  # nothing started yet: no guess
    board.started[moves[0].instance_id] = moves[0]
    board.finished[moves[0].instance_id] = _outcome(moves[0], "moved")
    # One 60 s move took 30 s: the three left (180 s planned) take about 90 s.
    assert eta(board, elapsed_s=30) == "about 90s left"
