"""The independent validator catches what a broken plan would do to the cloud."""

from __future__ import annotations

from novaflow.models import DrainRequest, Method, Move, Plan, RebalanceRequest
from novaflow.planner import violations

from .util import LARGE, group, host, inst, snap


def mv(i, src, dst, method=Method.LIVE):
    return Move(
        instance_id=i.id, instance_name=i.name, source=src, target=dst, method=method, reason="test"
    )


def drain_plan(moves, hosts=("h1",), skips=()):
    return Plan(request=DrainRequest(hosts=list(hosts)), moves=moves, skips=list(skips))


def test_sound_plan_has_no_violations():
    a = inst("a", "h1")
    s = snap([host("h1"), host("h2")], [a])
    assert violations(s, drain_plan([mv(a, "h1", "h2")])) == []


def test_over_capacity_is_caught():
    a, b = inst("a", "h1", LARGE), inst("b", "h1", LARGE)
    s = snap([host("h1"), host("h2", ram_gb=10)], [a, b])
    v = violations(s, drain_plan([mv(a, "h1", "h2"), mv(b, "h1", "h2")]))
    assert any("h2 is over capacity" in x and "ram_mb" in x for x in v)


def test_anti_affinity_and_affinity_breaks_are_caught():
    a, b = inst("a", "h1"), inst("b", "h2")
    s = snap([host("h1"), host("h2"), host("h3")], [a, b], [group("g", "anti-affinity", a, b)])
    assert any("anti-affinity group g" in x for x in violations(s, drain_plan([mv(a, "h1", "h2")])))
    c, d = inst("c", "h1"), inst("d", "h1")
    s2 = snap([host("h1"), host("h2"), host("h3")], [c, d], [group("f", "affinity", c, d)])
    v = violations(s2, drain_plan([mv(c, "h1", "h2"), mv(d, "h1", "h3")]))
    assert any("affinity group f" in x for x in v)


def test_zone_disabled_target_twice_and_wrong_source_are_caught():
    a = inst("a", "h1", zone="az1")
    b = inst("b", "h2")
    s = snap([host("h1", zone="az1"), host("h2"), host("off", status="disabled")], [a, b])
    v = violations(s, drain_plan([mv(a, "h1", "h2"), mv(a, "h1", "off"), mv(b, "h2", "h1")]))
    text = "\n".join(v)
    assert "leaves its availability zone az1" in text
    assert "moved twice" in text
    assert "a host the request did not name" in text


def test_missing_instance_in_drain_and_bad_method_are_caught():
    a, b = inst("a", "h1"), inst("b", "h1", status="SHUTOFF")
    s = snap([host("h1"), host("h2")], [a, b])
    v = violations(s, drain_plan([mv(b, "h1", "h2", Method.LIVE)]))
    assert any("neither moved nor skipped" in x for x in v)
    assert any("live migration of a SHUTOFF instance" in x for x in v)


def test_rebalance_move_off_an_excluded_host_is_caught():
    a = inst("a", "h1")
    s = snap([host("h1"), host("h2")], [a])
    p = Plan(
        request=RebalanceRequest(strategy="spread", exclude_hosts=["h1"]), moves=[mv(a, "h1", "h2")]
    )
    assert any("did not name" in x for x in violations(s, p))


def test_host_that_sends_and_receives_must_hold_arrivals_first():
    a, b = inst("a", "h1", LARGE), inst("b", "h2", LARGE)
    s = snap([host("h1", ram_gb=10), host("h2", ram_gb=10)], [a, b])
    swap = Plan(
        request=RebalanceRequest(strategy="spread"),
        moves=[mv(a, "h1", "h2"), mv(b, "h2", "h1")],
    )
    v = violations(s, swap)
    assert any("both sends and receives" in x for x in v)
