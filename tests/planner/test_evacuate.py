"""evacuate: a failed host's instances rebuilt elsewhere, reserved hosts and priorities first."""

from __future__ import annotations

from collections import Counter

import pytest

from novaflow.errors import BadRequest
from novaflow.models import AllocationRatios, EvacuateRequest, Method
from novaflow.planner import plan, violations

from .util import LARGE, flavor, group, host, inst, skipped, snap, where

DEAD = {"state": "down", "forced_down": True}


def evacuate(s, h="dead", **kw):
    p = plan(s, EvacuateRequest(host=h, **kw))
    assert violations(s, p) == []
    return p


def test_every_instance_is_evacuated_to_a_host_with_room():
    s = snap([host("dead", **DEAD), host("h2")], [inst("a", "dead"), inst("b", "dead")])
    p = evacuate(s)
    assert where(p) == {"a": "h2", "b": "h2"}
    assert all(m.method is Method.EVACUATE for m in p.moves)
    assert not any("service is up" in w for w in p.warnings)


def test_host_still_up_gives_a_fencing_warning_not_an_error():
    s = snap([host("h1"), host("h2")], [inst("a", "h1")])
    p = evacuate(s, "h1")
    assert len(p.moves) == 1
    assert "up and not forced down" in p.warnings[0] and "Fence it" in p.warnings[0]


def test_reserved_hosts_are_used_first_even_when_disabled():
    s = snap(
        [host("dead", **DEAD), host("busy", ram_gb=8), host("spare", ram_gb=64, status="disabled")],
        [inst("a", "dead"), inst("b", "dead")],
    )
    p = evacuate(s, reserved_hosts=["spare"])
    assert where(p) == {"a": "spare", "b": "spare"}
    assert "reserved host spare" in p.moves[0].reason
    assert any("enable it" in w for w in p.warnings)


def test_reserved_hosts_overflow_to_other_hosts():
    s = snap(
        [host("dead", **DEAD), host("spare", ram_gb=10), host("other", ram_gb=64)],
        [inst("a", "dead", LARGE), inst("b", "dead", LARGE)],
    )
    p = evacuate(s, reserved_hosts=["spare"])
    assert sorted(where(p).values()) == ["other", "spare"]


def test_down_reserved_host_is_not_used():
    s = snap([host("dead", **DEAD), host("spare", state="down"), host("h2")], [inst("a", "dead")])
    p = evacuate(s, reserved_hosts=["spare"])
    assert where(p) == {"a": "h2"} and any("spare is down" in w for w in p.warnings)


def test_priorities_get_room_first_and_run_first():
    s = snap(
        [host("dead", **DEAD), host("h2", ram_gb=10)],
        [
            inst("low", "dead", LARGE, metadata={"evacuation_priority": "1"}),
            inst("high", "dead", LARGE, metadata={"evacuation_priority": "5"}),
            inst("none", "dead", LARGE),
        ],
    )
    p = evacuate(s)
    assert where(p) == {"high": "h2"}
    assert p.moves[0].priority == 5 and "priority 5" in p.moves[0].reason
    assert set(skipped(p)) == {"low", "none"}
    assert not p.feasible


def test_priority_order_of_execution_and_custom_key():
    s = snap(
        [host("dead", **DEAD), host("h2", ram_gb=256)],
        [inst(f"i{n}", "dead", metadata={"rank": str(n)}) for n in range(5)],
    )
    p = evacuate(s, priority_key="rank")
    assert [m.instance_name for m in p.moves][:2] == ["i4", "i3"]
    starts = {t.instance_id: t.start for t in p.timeline}
    assert starts[p.moves[0].instance_id] <= starts[p.moves[-1].instance_id]


def test_bad_priority_value_is_a_warning():
    s = snap(
        [host("dead", **DEAD), host("h2")],
        [inst("a", "dead", metadata={"evacuation_priority": "high"})],
    )
    p = evacuate(s)
    assert len(p.moves) == 1 and any("not a number" in w for w in p.warnings)


def test_error_instances_are_evacuated_and_stuck_ones_need_a_reset():
    s = snap(
        [host("dead", **DEAD), host("h2")],
        [inst("err", "dead", status="ERROR"), inst("stuck", "dead", task_state="migrating")],
    )
    p = evacuate(s)
    moves = {m.instance_name: m for m in p.moves}
    assert not moves["err"].needs_state_reset and "ERROR" in moves["err"].reason
    assert moves["stuck"].needs_state_reset and "resets its state" in moves["stuck"].reason
    assert any("need a state reset" in w for w in p.warnings)


def test_what_evacuation_keeps_or_loses():
    s = snap(
        [host("dead", **DEAD), host("h2")],
        [
            inst("vol", "dead", boot_from_volume=True, image_id=None),
            inst("local", "dead"),
            inst("orphan", "dead", image_id=None),
        ],
    )
    p = evacuate(s)
    reasons = {m.instance_name: m.reason for m in p.moves}
    assert "keeps its disk" in reasons["vol"]
    assert "rebuilt from image" in reasons["local"]
    assert "nothing to rebuild" in skipped(p)["orphan"]
    assert any("lose their local disk" in w and "local" in w for w in p.warnings)
    shared = evacuate(s, shared_storage=True)
    assert len(shared.moves) == 3 and not any("lose" in w for w in shared.warnings)


def test_vtpm_instance_is_not_evacuated():
    f = flavor("t", 2, 4, **{"hw__tpm_version": "2.0"})
    s = snap([host("dead", **DEAD), host("h2")], [inst("t", "dead", f)])
    p = evacuate(s)
    assert p.moves == [] and "vTPM" in skipped(p)["t"]


def test_anti_affinity_holds_in_evacuation():
    a, b = inst("a", "dead"), inst("b", "h2")
    s = snap(
        [host("dead", **DEAD), host("h2", ram_gb=64), host("h3", ram_gb=4)],
        [a, b],
        [group("g", "anti-affinity", a, b)],
    )
    assert where(evacuate(s)) == {"a": "h3"}


def test_let_scheduler_choose_hides_targets():
    s = snap([host("dead", **DEAD), host("h2")], [inst("a", "dead")])
    assert where(evacuate(s, let_scheduler_choose=True)) == {"a": None}


def test_unknown_failed_host_suggests_names():
    s = snap([host("compute-07"), host("compute-17")], [])
    with pytest.raises(BadRequest, match="unknown failed host 'compute-7'") as err:
        plan(s, EvacuateRequest(host="compute-7"))
    assert "compute-07" in err.value.remedy


def test_failed_host_cannot_be_its_own_reserve():
    s = snap([host("dead", **DEAD)], [])
    with pytest.raises(BadRequest, match="both the failed host and a reserved host"):
        plan(s, EvacuateRequest(host="dead", reserved_hosts=["dead"]))


def _forty():
    """A failed host with 40 instances, priorities 0-3; two reserved hosts with room for all,
    and another host that must stay untouched."""
    names = ("dead", "spare-1", "spare-2", "other")
    hosts = [host(n, ram_gb=128, vcpus=64, **(DEAD if n == "dead" else {})) for n in names]
    prio = [{"evacuation_priority": str(n % 4)} for n in range(40)]
    return snap(hosts, [inst(f"vm{n:02d}", "dead", metadata=prio[n]) for n in range(40)])


def test_rebuilds_are_shared_out_across_reserved_hosts_for_a_fast_recovery():
    p = evacuate(_forty(), reserved_hosts=["spare-1", "spare-2"])
    per_target = Counter(where(p).values())
    assert per_target == {"spare-1": 20, "spare-2": 20}
    assert "one of 20 rebuilds there" in p.moves[0].reason


def test_rebuilds_start_priority_first_and_on_every_target_at_once():
    p = evacuate(_forty(), reserved_hosts=["spare-1", "spare-2"])
    prios = [m.priority for m in p.moves]
    assert prios == sorted(prios, reverse=True)
    # Each priority band takes the targets in turn: no target waits for the other to finish.
    for i in range(0, len(p.moves) - 1, 2):
        assert {p.moves[i].target, p.moves[i + 1].target} == {"spare-1", "spare-2"}


def test_pack_targets_fills_one_reserved_host_first():
    p = evacuate(_forty(), reserved_hosts=["spare-1", "spare-2"], pack_targets=True)
    assert len(set(where(p).values())) == 1
    assert "one of" not in p.moves[0].reason


def test_spreading_respects_room_with_allocation_ratios():
    # 2 vCPU x 2.0 ratio = 4 vCPU each: a reserved host takes four 1-vCPU instances, then
    # the rest overflow to the general hosts, themselves shared out.
    tight = AllocationRatios(cpu=2.0, ram=1.0, disk=1.0)
    s = snap(
        [
            host("dead", **DEAD),
            host("spare-1", vcpus=2, ratios=tight),
            host("spare-2", vcpus=2, ratios=tight),
            host("g1"),
            host("g2"),
        ],
        [inst(f"vm{n}", "dead") for n in range(16)],
    )
    per_target = Counter(where(evacuate(s, reserved_hosts=["spare-1", "spare-2"])).values())
    assert per_target == {"spare-1": 4, "spare-2": 4, "g1": 4, "g2": 4}


def test_spreading_keeps_priorities_first_when_room_is_short():
    s = snap(
        [host("dead", **DEAD), host("h2", ram_gb=10), host("h3", ram_gb=10)],
        [inst(f"p{n}", "dead", LARGE, metadata={"evacuation_priority": str(n)}) for n in range(4)],
    )
    p = evacuate(s)
    assert set(where(p)) == {"p3", "p2"} and set(where(p).values()) == {"h2", "h3"}
    assert set(skipped(p)) == {"p1", "p0"}


def test_spreading_keeps_server_groups_and_zones():
    # The affinity group has a member on c: Nova's filter lets the others join it there.
    together = [inst(f"db{n}", "dead") for n in range(3)] + [inst("db-peer", "c")]
    apart = [inst(f"web{n}", "dead") for n in range(3)]
    zoned = [inst(f"az2-{n}", "dead", zone="az2") for n in range(2)]
    s = snap(
        [
            host("dead", **DEAD),
            host("a"),
            host("b"),
            host("c"),
            host("z", zone="az2"),
        ],
        [*together, *apart, *zoned],
        [group("db", "affinity", *together), group("web", "anti-affinity", *apart)],
    )
    w = where(evacuate(s))  # evacuate() also runs the plan validator
    assert {w[i.name] for i in together[:3]} == {"c"}
    assert len({w[i.name] for i in apart}) == 3
    assert {w[i.name] for i in zoned} == {"z"}
