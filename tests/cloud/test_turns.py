"""Requests in turn: a move that will queue in Nova is requested after the ones before it."""

from __future__ import annotations

import threading
import time

from novaflow.models import Method, Outcome
from novaflow.mover import run_move
from novaflow.sim.spec import ClusterSpec
from novaflow.turns import Turn

from .conftest import find, move_of


def test_a_queued_move_is_requested_after_every_move_started_before_it():
    first, second = Turn(), Turn()
    queued = Turn(after=[first, second])
    sent: list[str] = []

    def request(name: str, turn: Turn, delay: float) -> None:
        time.sleep(delay)
        turn.wait()
        sent.append(name)
        turn.take()

    threads = [
        threading.Thread(target=request, args=("queued", queued, 0.0)),
        threading.Thread(target=request, args=("second", second, 0.05)),
        threading.Thread(target=request, args=("first", first, 0.1)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sent[-1] == "queued" and sorted(sent[:2]) == ["first", "second"]


def test_moves_that_start_at_once_do_not_wait_and_sent_ones_are_not_waited_for():
    done = Turn()
    done.take()
    assert Turn(after=[done]).after == []
    free = Turn()
    t0 = time.monotonic()
    free.wait()
    assert time.monotonic() - t0 < 0.05


def test_a_move_stuck_before_its_request_holds_the_next_one_only_for_a_while():
    stuck = Turn()
    t0 = time.monotonic()
    Turn(after=[stuck]).wait(timeout_s=0.2)
    assert 0.15 <= time.monotonic() - t0 < 2


def test_a_queued_move_sends_nothing_to_nova_before_the_moves_ahead_of_it(connect):
    """Not even its read and lock: they would only slow the requests that start Nova's slots."""
    sim, cloud = connect(ClusterSpec().host("src").host("dst").instance("web-1", host="src"))
    web = find(cloud, "web-1")
    ahead = Turn()
    outcome: list[Outcome] = []
    before = sum(sim.cloud.requests.values())
    mover = threading.Thread(
        target=lambda: outcome.append(
            run_move(cloud, move_of(web, Method.LIVE, "dst"), timeout_s=30, turn=Turn([ahead]))
        )
    )
    mover.start()
    time.sleep(0.3)
    assert sum(sim.cloud.requests.values()) == before, "the queued move asked Nova already"
    assert not sim.instance(web.id).locked
    ahead.take()
    mover.join(30)
    assert outcome and outcome[0].result == "moved" and sim.host_of(web.id) == "dst"
