"""The campaign's pure decisions: which host goes next, where drained instances land, which
limits hold a host back, and what the report says about instances moved more than once."""

from __future__ import annotations

from novaflow.campaign import (
    Campaign,
    HostRecord,
    drain_targets,
    hosts_to_do,
    may_start,
    repeat_moves_note,
    with_claims,
)
from novaflow.models import DrainRequest, Outcome
from novaflow.planner import plan
from tests.planner.util import LARGE, host, inst, snap


def campaign(**states: str) -> Campaign:
    return Campaign(campaign="k", hosts=[HostRecord(host=h, state=s) for h, s in states.items()])


def test_interrupted_hosts_first_then_empty_ones_then_fewest_instances():
    c = campaign(a="pending", b="pending", c="draining", d="pending", e="done")
    order = hosts_to_do(c, ["a", "b", "c", "d", "e"], {"a": 5, "b": 0, "c": 3, "d": 2})
    assert order == ["c", "b", "d", "a"]


def test_failed_hosts_are_retried_only_when_asked():
    c = campaign(a="failed", b="pending", s="skipped")
    assert hosts_to_do(c, ["a", "b", "s"], {}) == ["b", "s"]
    assert hosts_to_do(c, ["a", "b", "s"], {}, retry_failed=True) == ["a", "b", "s"]


def test_nothing_to_do_once_every_host_is_done():
    assert hosts_to_do(campaign(a="done", b="done"), ["a", "b"], {"a": 1}) == []


def test_done_hosts_are_preferred_and_hosts_to_do_are_the_last_resort():
    c = campaign(a="done", b="pending", c="failed", d="working")
    assert drain_targets(c, ["a", "b", "c", "d"]) == (["a"], ["b", "c", "d"])


def test_drain_lands_on_a_done_host_before_one_outside_the_campaign():
    s = snap([host("src"), host("done"), host("outside"), host("todo")], [inst("x", "src")])
    req = DrainRequest(hosts=["src"], prefer_hosts=["done"], last_resort_hosts=["todo"])
    assert [m.target for m in plan(s, req).moves] == ["done"]


def test_drain_uses_a_host_still_to_do_only_when_nothing_else_fits():
    small = host("outside", ram_gb=4, vcpus=2, disk_gb=100)
    s = snap([host("src"), small, host("todo")], [inst("x", "src"), inst("big", "src", LARGE)])
    req = DrainRequest(hosts=["src"], last_resort_hosts=["todo"])
    targets = {m.instance_name: m.target for m in plan(s, req).moves}
    assert targets == {"x": "outside", "big": "todo"}


def test_zone_and_aggregate_limits_hold_a_host_back():
    zone_of = {"a": "z1", "b": "z1", "c": "z2"}
    aggs = {"a": ["rack1"], "b": ["rack2"], "c": ["rack1"]}
    assert may_start("b", ["a"], zone_of, aggs, max_per_zone=1) is not None
    assert may_start("c", ["a"], zone_of, aggs, max_per_zone=1) is None
    why = may_start("c", ["a"], zone_of, aggs, max_per_aggregate=1)
    assert why is not None and "rack1" in why
    assert may_start("b", ["a"], zone_of, aggs, max_per_zone=2, max_per_aggregate=1) is None


def test_report_names_instances_moved_more_than_once_and_why():
    def moved(iid: str, name: str, source: str) -> Outcome:
        return Outcome(instance_id=iid, instance_name=name, result="moved", source=source)

    once = [moved("1", "web-1", "a"), moved("2", "web-2", "a")]
    assert repeat_moves_note(once) == "every instance moved at most once"
    failed = Outcome(instance_id="2", instance_name="web-2", result="failed", source="b")
    note = repeat_moves_note([*once, moved("1", "web-1", "b"), failed])
    assert note.startswith("1 instance(s) moved more than once: web-1 (left a then b)")
    assert "no host already done" in note


def test_room_claimed_by_a_drain_under_way_is_not_counted_twice():
    tight = host("tight", ram_gb=2, vcpus=1, disk_gb=100)  # room for one m1.small
    src1 = host("src1", status="disabled")  # the drain under way disabled it
    s = snap([src1, host("src2"), tight, host("roomy")], [inst("x", "src1"), inst("y", "src2")])
    first = plan(s, DrainRequest(hosts=["src1"], prefer_hosts=["tight"]))
    assert [m.target for m in first.moves] == ["tight"]
    claimed = with_claims(s, {"x-0000-uuid": "tight"})
    second = plan(claimed, DrainRequest(hosts=["src2"], prefer_hosts=["tight"]))
    assert [m.target for m in second.moves] == ["roomy"]  # x's room on tight is taken
    assert with_claims(s, {}) is s
