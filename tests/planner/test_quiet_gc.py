"""Planning pauses the cycle collector only while it runs, and leaves nothing for it to free."""

from __future__ import annotations

import gc

import pytest

from novaflow.errors import BadRequest
from novaflow.models import DrainRequest, EvacuateRequest, RebalanceRequest
from novaflow.planner import plan
from novaflow.planner.quiet_gc import collector_paused
from novaflow.synthetic import generate


def _requests(s):
    up = [h.name for h in s.hosts if h.is_up]
    dead = next(h.name for h in s.hosts if not h.is_up)
    return [
        DrainRequest(hosts=up[:3]),
        EvacuateRequest(host=dead),
        RebalanceRequest(strategy="consolidate"),
        RebalanceRequest(strategy="spread"),
        RebalanceRequest(strategy="proximity", select_project="project-03", target_zone="az1"),
    ]


def _planner_garbage(s, req) -> list[str]:
    """Types of novaflow objects a plan left in reference cycles. Only novaflow's count:
    other threads of the test process (Prefect's, the sims') may make cycles meanwhile."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        with collector_paused():
            p = plan(s, req)
            assert p.moves
            del p
        gc.collect()
        return [type(o).__name__ for o in gc.garbage if type(o).__module__.startswith("novaflow")]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def test_plans_leave_no_reference_cycles():
    # What makes pausing safe: everything a plan allocates is freed by reference counting.
    s = generate(40, 700, seed=2, down_hosts=1)
    for req in _requests(s):
        assert _planner_garbage(s, req) == [], req


def test_collector_runs_again_after_a_plan_and_after_a_refused_one():
    s = generate(10, 100, seed=1)
    assert gc.isenabled()
    plan(s, RebalanceRequest(strategy="consolidate"))
    assert gc.isenabled()
    with pytest.raises(BadRequest):
        plan(s, DrainRequest(hosts=["no-such-host"]))
    assert gc.isenabled()


def test_nested_pauses_resume_once_and_respect_a_collector_that_was_off():
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
