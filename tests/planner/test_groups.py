"""Server groups as Nova's filters apply them: hard affinity, anti-affinity with 2.64 rules."""

from __future__ import annotations

from novaflow.models import DrainRequest, EvacuateRequest, Move, Plan
from novaflow.planner import plan, violations

from .util import LARGE, SMALL, group, host, inst, skipped, snap, where

DEAD = {"state": "down", "forced_down": True}


def checked(s, req):
    p = plan(s, req)
    assert violations(s, p) == []
    return p


def test_evacuation_of_a_whole_affinity_group_needs_a_forced_target():
    a, b, other = inst("a", "dead"), inst("b", "dead"), inst("other", "dead")
    s = snap([host("dead", **DEAD), host("h2")], [a, b, other], [group("db", "affinity", a, b)])
    p = checked(s, EvacuateRequest(host="dead"))
    assert where(p) == {"other": "h2"}
    assert "affinity group db" in skipped(p)["a"] and "evacuation" in skipped(p)["a"]
    remedy = next(x.remedy for x in p.skips if x.instance_name == "b")
    assert "evacuate --force" in remedy and "2.67" in remedy
    assert any("affinity group db" in w for w in p.warnings)


def test_group_on_two_drained_hosts_has_nowhere_to_go():
    a, b = inst("a", "h1"), inst("b", "h2")
    s = snap([host("h1"), host("h2"), host("h3")], [a, b], [group("g", "affinity", a, b)])
    p = checked(s, DrainRequest(hosts=["h1", "h2"]))
    assert p.moves == [] and set(skipped(p)) == {"a", "b"}
    assert "h1, h2" in skipped(p)["a"]


def test_soft_affinity_is_still_only_a_preference():
    a, b = inst("a", "h1"), inst("b", "h1")
    s = snap([host("h1"), host("h2")], [a, b], [group("s", "soft-affinity", a, b)])
    assert where(checked(s, DrainRequest(hosts=["h1"]))) == {"a": "h2", "b": "h2"}


def _anti(rules, *members):
    return group("web", "anti-affinity", *members).model_copy(update={"rules": rules})


def test_anti_affinity_counts_members_against_max_server_per_host():
    a = inst("a", "h1")
    one = inst("one", "h2")
    two = [inst("t1", "h3"), inst("t2", "h3")]
    hosts = [host("h1"), host("h2", ram_gb=64), host("h3", ram_gb=8)]
    members = [a, one, *two]
    # Default rule (1 per host): both other hosts hold a member, so a cannot move.
    p = checked(snap(hosts, members, [_anti({}, *members)]), DrainRequest(hosts=["h1"]))
    assert p.moves == [] and "anti-affinity group web" in skipped(p)["a"]
    # max_server_per_host 2: h2 (one member) takes it, h3 (two, and the tighter fit) does not.
    p = checked(
        snap(hosts, members, [_anti({"max_server_per_host": 2}, *members)]),
        DrainRequest(hosts=["h1"]),
    )
    assert where(p) == {"a": "h2"}


def test_anti_affinity_rule_above_the_members_on_a_host_lets_it_share():
    a, b = inst("a", "h1"), inst("b", "h2")
    s = snap([host("h1"), host("h2")], [a, b], [_anti({"max_server_per_host": 3}, a, b)])
    assert where(checked(s, DrainRequest(hosts=["h1"]))) == {"a": "h2"}


def test_validator_refuses_an_affinity_member_sent_where_no_member_runs():
    a, b = inst("a", "h1", LARGE), inst("b", "h1", SMALL)
    s = snap([host("h1"), host("h2")], [a, b], [group("g", "affinity", a, b)])
    bad = Plan(
        request=DrainRequest(hosts=["h1"]),
        moves=[
            Move(
                instance_id=i.id,
                instance_name=i.name,
                source="h1",
                target="h2",
                method="live",
                reason="test",
            )
            for i in (a, b)
        ],
    )
    v = violations(s, bad)
    assert any("no member of affinity group g runs" in x for x in v)


def test_validator_allows_anti_affinity_sharing_within_the_rule():
    a, b = inst("a", "h1"), inst("b", "h2")
    s = snap([host("h1"), host("h2")], [a, b], [_anti({"max_server_per_host": 2}, a, b)])
    ok = Plan(
        request=DrainRequest(hosts=["h1"]),
        moves=[
            Move(
                instance_id=a.id,
                instance_name="a",
                source="h1",
                target="h2",
                method="live",
                reason="t",
            )
        ],
    )
    assert violations(s, ok) == []
    strict = s.model_copy(update={"server_groups": [_anti({}, a, b)]})
    assert any("breaking anti-affinity group web" in x for x in violations(strict, ok))
