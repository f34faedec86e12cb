"""rebalance: consolidate empties hosts, spread evens load, proximity gathers instances."""

from __future__ import annotations

import pytest

from novaflow.errors import BadRequest
from novaflow.models import RebalanceRequest
from novaflow.planner import plan, violations
from novaflow.planner.metrics import host_loads, load_stats

from .util import LARGE, MEDIUM, SMALL, flavor, group, host, inst, skipped, snap, where


def rebalance(s, strategy, **kw):
    p = plan(s, RebalanceRequest(strategy=strategy, **kw))
    assert violations(s, p) == []
    return p


def test_consolidate_empties_the_least_loaded_hosts():
    s = snap(
        [host("a"), host("b"), host("c")],
        [
            inst("a1", "a", LARGE),
            inst("a2", "a", LARGE),
            inst("b1", "b", SMALL),
            inst("c1", "c", MEDIUM),
        ],
    )
    p = rebalance(s, "consolidate")
    assert sorted(p.emptied_hosts) == ["b", "c"]
    assert where(p) == {"b1": "a", "c1": "a"}
    assert "consolidate: empties b" in next(m.reason for m in p.moves if m.instance_name == "b1")


def test_consolidate_respects_the_move_budget():
    s = snap(
        [host("a"), host("b"), host("c")],
        [inst("a1", "a", LARGE), inst("b1", "b"), inst("c1", "c"), inst("c2", "c")],
    )
    p = rebalance(s, "consolidate", max_moves=1)
    assert len(p.moves) == 1 and p.emptied_hosts == ["b"]
    assert any("move budget" in w for w in p.warnings)


def test_consolidate_leaves_hosts_with_unmovable_instances():
    s = snap([host("a"), host("b")], [inst("a1", "a", LARGE), inst("b1", "b", status="ERROR")])
    p = rebalance(s, "consolidate")
    assert p.emptied_hosts == ["a"] or p.moves == []
    assert all(m.instance_name != "b1" for m in p.moves)


def test_consolidate_keeps_anti_affinity():
    x, y = inst("x", "a"), inst("y", "b")
    s = snap([host("a"), host("b")], [x, y], [group("g", "anti-affinity", x, y)])
    p = rebalance(s, "consolidate")
    assert p.moves == [] and p.emptied_hosts == []


def test_consolidate_never_splits_an_affinity_group_from_its_host():
    # Nova accepts an affinity member only where another member runs: a group whose members
    # all share host b cannot leave it, so consolidation empties a instead.
    x, y = inst("x", "b"), inst("y", "b")
    s = snap([host("a"), host("b")], [inst("a1", "a", LARGE), x, y], [group("g", "affinity", x, y)])
    p = rebalance(s, "consolidate")
    assert p.emptied_hosts == ["a"] and where(p) == {"a1": "b"}


def test_consolidate_never_fills_a_host_that_was_already_empty():
    s = snap([host("a"), host("b"), host("empty", ram_gb=128)], [inst("a1", "a"), inst("b1", "b")])
    p = rebalance(s, "consolidate")
    assert "empty" not in where(p).values() and len(p.emptied_hosts) == 1
    assert any("empty already: empty" in w for w in p.warnings)


def test_consolidate_skips_excluded_hosts():
    s = snap([host("a"), host("b")], [inst("a1", "a"), inst("b1", "b")])
    p = rebalance(s, "consolidate", exclude_hosts=["a"])
    assert p.moves == []


def _room_by_moving_on(y_from: str = "d", c_ram: int = 64):
    """x (zoned az1) fits in az1 only where y sits; y reaches a only if the plan moves it."""
    g = {gb: flavor(f"r{gb}", vcpus=1, ram_gb=gb, disk_gb=10) for gb in (8, 14, 16, 40, 46)}
    return snap(
        [
            host("a", ram_gb=64, zone="az1"),
            host("c", ram_gb=c_ram, zone="az2"),
            host("d", ram_gb=16, zone="az2"),
            host("e", ram_gb=32, zone="az1"),
        ],
        [
            inst("a1", "a", g[46]),
            inst("c1", "c", g[40]),
            inst("y", y_from, g[8]),
            inst("x", "e", g[16], zone="az1"),
            inst("x2", "e", g[14]),
        ],
    )


def test_consolidate_moves_an_instance_on_to_make_room_for_another():
    # Emptying d puts y on a (the tightest fit); x, which must stay in az1, then finds no
    # host with room until y moves on to c. y still migrates once: from d straight to c.
    s = _room_by_moving_on()
    p = rebalance(s, "consolidate")
    assert sorted(p.emptied_hosts) == ["d", "e"]
    assert where(p) == {"y": "c", "x": "a", "x2": "c"}
    assert len(p.moves) == 3


def test_consolidate_never_makes_room_by_moving_an_instance_that_was_there():
    # Same cloud, but y is on a from the start: moving it off a host that also receives
    # instances could overfill a while moves run, so e cannot be emptied and stays as it is.
    s = _room_by_moving_on(y_from="a")
    p = rebalance(s, "consolidate")
    assert "e" not in p.emptied_hosts
    assert "x" not in where(p) and "y" not in where(p)


def test_consolidate_undoes_making_room_when_the_instance_moved_on_finds_none():
    # c is too full to take y: making room on a fails, e keeps x, and y stays where the
    # first step put it (moved once, off d).
    s = _room_by_moving_on(c_ram=44)
    p = rebalance(s, "consolidate")
    assert p.emptied_hosts == ["d"]
    assert where(p) == {"y": "a"}


def _hot_cold():
    hosts = [host(f"h{i}") for i in range(4)]
    insts = [inst(f"i{n}", "h0", MEDIUM) for n in range(7)] + [inst("j", "h1", MEDIUM)]
    return snap(hosts, insts)


def test_spread_lowers_the_hottest_host_and_the_spread():
    s = _hot_cold()
    before = load_stats(host_loads(s).values())
    p = rebalance(s, "spread")
    after = load_stats(host_loads(s, p).values())
    assert after.max < before.max and after.std < before.std
    assert after.max <= 1.10 * after.mean + 1e-9
    assert all(m.source == "h0" for m in p.moves)
    assert "spread: h0 is among the hottest" in p.moves[0].reason


def test_spread_respects_max_moves_and_says_why_it_stopped():
    p = rebalance(_hot_cold(), "spread", max_moves=1)
    assert len(p.moves) == 1 and any("budget of 1" in w for w in p.warnings)


def test_spread_min_gain_refuses_small_moves():
    s = snap([host("h0"), host("h1")], [inst("a", "h0", SMALL), inst("b", "h0", SMALL)])
    assert rebalance(s, "spread", min_gain=0.2).moves == []
    assert len(rebalance(s, "spread").moves) == 1


def test_spread_keeps_zones_and_anti_affinity():
    a, b = inst("a", "h0", MEDIUM, zone="az1"), inst("b", "h0", MEDIUM)
    c = inst("c", "h1", zone="az2")
    s = snap(
        [host("h0", zone="az1"), host("h1", zone="az2"), host("h2", zone="az2")],
        [a, b, inst("x", "h0", MEDIUM), c],
        [group("g", "anti-affinity", b, c)],
    )
    p = rebalance(s, "spread")
    assert "a" not in where(p)
    assert where(p).get("b") != "h1"


def test_proximity_moves_a_project_onto_target_hosts():
    s = snap(
        [host("h1"), host("h2"), host("t1", aggregates=["gold"]), host("t2", aggregates=["gold"])],
        [
            inst("p1", "h1", project_id="blue"),
            inst("p2", "h2", project_id="blue"),
            inst("o", "h1", project_id="red"),
            inst("p3", "t1", project_id="blue"),
        ],
    )
    p = rebalance(s, "proximity", select_project="blue", target_aggregate="gold")
    assert set(where(p)) == {"p1", "p2"} and set(where(p).values()) <= {"t1", "t2"}
    assert any("1 selected instance(s) already run" in w for w in p.warnings)


def test_proximity_by_metadata_and_name_with_budget():
    s = snap(
        [host("h1"), host("t", zone="edge")],
        [
            inst("db-1", "h1", metadata={"app": "db"}),
            inst("db-2", "h1", metadata={"app": "db"}),
            inst("web-1", "h1", metadata={"app": "db"}),
        ],
    )
    p = rebalance(
        s,
        "proximity",
        select_metadata={"app": "db"},
        select_name="db-",
        target_zone="edge",
        max_moves=1,
    )
    assert len(p.moves) == 1 and len(p.skips) == 1
    assert "move budget of 1" in p.skips[0].reason


def test_proximity_skips_what_cannot_move_or_fit():
    s = snap(
        [host("h1"), host("t", ram_gb=4)],
        [inst("e", "h1", status="ERROR", project_id="p"), inst("big", "h1", LARGE, project_id="p")],
    )
    p = rebalance(s, "proximity", select_project="p", target_hosts=["t"])
    assert "ERROR" in skipped(p)["e"] and "no host has room" in skipped(p)["big"]


def test_proximity_needs_selection_and_destination():
    s = snap([host("h1")], [])
    with pytest.raises(BadRequest, match="no project, metadata or name"):
        plan(s, RebalanceRequest(strategy="proximity", target_hosts=["h1"]))
    with pytest.raises(BadRequest, match="no target hosts, aggregate or zone"):
        plan(s, RebalanceRequest(strategy="proximity", select_project="p"))
    with pytest.raises(BadRequest, match="unknown aggregate 'gld'"):
        plan(s, RebalanceRequest(strategy="proximity", select_project="p", target_aggregate="gld"))


def test_proximity_pci_instance_is_skipped():
    f = flavor("g", 4, 8, **{"pci_passthrough__alias": "a100:1"})
    s = snap([host("h1"), host("t")], [inst("g", "h1", f, project_id="p")])
    p = rebalance(s, "proximity", select_project="p", target_hosts=["t"])
    assert p.moves == [] and "PCI" in skipped(p)["g"]


def test_spread_never_has_a_host_both_give_and_take():
    from novaflow.synthetic import generate

    s = generate(30, 600, seed=11)
    p = rebalance(s, "spread")
    assert p.moves
    assert not {m.source for m in p.moves} & {m.target for m in p.moves}


def test_moves_come_in_timeline_order():
    from novaflow.synthetic import generate

    s = generate(30, 600, seed=12)
    p = rebalance(s, "consolidate")
    starts = {t.instance_id: t.start for t in p.timeline}
    ordered = [starts[m.instance_id] for m in p.moves]
    assert ordered == sorted(ordered)
    assert all(m.expected_seconds and m.expected_seconds > 0 for m in p.moves)


def test_plan_rejects_what_is_not_a_request():
    from novaflow.planner import plan as plan_

    with pytest.raises(TypeError):
        plan_(snap([host("h1")], []), object())


def test_spread_moves_an_affinity_member_only_to_a_host_holding_another_member():
    # Nova's affinity filter: a1 may join a2 on h1 (a member runs there), never go to h2.
    a1, a2 = inst("a1", "h0", MEDIUM), inst("a2", "h1", SMALL)
    fill = [inst(f"x{n}", "h0", LARGE) for n in range(5)]
    s = snap(
        [host("h0"), host("h1"), host("h2")],
        [a1, a2, *fill],
        [group("g", "affinity", a1, a2)],
    )
    p = rebalance(s, "spread")
    assert where(p).get("a1") in (None, "h1")
    assert p.moves  # the hot host still cools down


def test_proximity_leaves_an_affinity_group_that_shares_one_host():
    a, b = inst("a", "h1", project_id="p"), inst("b", "h1", project_id="p")
    s = snap([host("h1"), host("t")], [a, b], [group("g", "affinity", a, b)])
    p = rebalance(s, "proximity", select_project="p", target_hosts=["t"])
    assert p.moves == [] and "affinity group g" in skipped(p)["a"]
    assert "re-create its servers" in p.skips[0].remedy
