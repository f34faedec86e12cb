"""drain: where every instance of a host in maintenance goes, and what stays and why."""

from __future__ import annotations

import pydantic
import pytest

from novaflow.errors import BadRequest
from novaflow.models import DrainRequest, Method, MethodPolicy
from novaflow.planner import plan, violations

from .util import LARGE, MEDIUM, SMALL, flavor, group, host, inst, skipped, snap, where


def drain(s, *hosts, **kw):
    p = plan(s, DrainRequest(hosts=list(hosts), **kw))
    assert violations(s, p) == []
    return p


def test_every_instance_leaves_to_a_host_with_room():
    s = snap(
        [host("h1"), host("h2", ram_gb=8), host("h3", ram_gb=64)],
        [inst("a", "h1", LARGE), inst("b", "h1", MEDIUM), inst("c", "h1", SMALL)],
    )
    p = drain(s, "h1")
    assert set(where(p)) == {"a", "b", "c"}
    assert "h1" not in where(p).values()
    assert all(m.method is Method.LIVE and m.fallback is Method.COLD for m in p.moves)
    assert p.feasible and p.skips == []
    assert p.usage_after["h1"].ram_mb == 0


def test_best_fit_prefers_the_tightest_host():
    s = snap(
        [host("h1"), host("roomy", ram_gb=64), host("tight", ram_gb=12)],
        [inst("big", "h1", LARGE), inst("x", "tight", SMALL)],
    )
    p = drain(s, "h1")
    assert where(p) == {"big": "tight"}
    assert "tightest fit" in p.moves[0].reason


def test_a_host_out_of_vcpus_is_passed_over_although_it_has_the_tightest_ram():
    busy = flavor("cpu-heavy", vcpus=16, ram_gb=4)  # 4:1 CPU ratio: four fill 16 cores
    s = snap(
        [host("src"), host("no-cpu", ram_gb=32), host("roomy", ram_gb=64)],
        [inst("m", "src", MEDIUM)] + [inst(f"b{n}", "no-cpu", busy) for n in range(4)],
    )
    p = drain(s, "src")
    assert where(p) == {"m": "roomy"} and not p.skips


def test_empty_host_gives_an_empty_plan_and_says_so():
    p = drain(snap([host("h1"), host("h2")], []), "h1")
    assert p.moves == [] and p.skips == []
    assert any("no instances" in w for w in p.warnings)


def test_full_cloud_says_so_up_front_with_numbers():
    s = snap(
        [host("h1", ram_gb=16), host("h2", ram_gb=9)],
        [inst("a", "h1", LARGE), inst("b", "h1", LARGE)],
    )
    p = drain(s, "h1")
    assert not p.feasible
    assert p.capacity.needed.ram_mb == 16384 and p.capacity.free.ram_mb == 9216
    assert "cannot absorb h1" in p.warnings[0] and "ram_mb short by 7168" in p.warnings[0]
    assert len(p.moves) == 1 and len(p.skips) == 1
    assert "no host has room for 4 vCPU / 8192 MiB RAM" in p.skips[0].reason
    assert "h2" in p.skips[0].reason


def test_every_instance_unmovable():
    s = snap(
        [host("h1"), host("h2")],
        [inst("e", "h1", status="ERROR"), inst("t", "h1", task_state="rebooting")],
    )
    p = drain(s, "h1")
    assert p.moves == []
    assert set(skipped(p)) == {"e", "t"}
    assert "--state active" in p.skips[0].remedy or "--state active" in p.skips[1].remedy


def test_anti_affinity_that_forbids_the_drain():
    a, b, c = inst("a", "h1"), inst("b", "h2"), inst("c", "h3")
    s = snap(
        [host("h1"), host("h2"), host("h3")], [a, b, c], [group("ha", "anti-affinity", a, b, c)]
    )
    p = drain(s, "h1")
    assert p.moves == []
    assert "anti-affinity group ha" in skipped(p)["a"]
    assert "soft policy" in p.skips[0].remedy


def test_anti_affinity_picks_the_host_without_a_member():
    a, b = inst("a", "h1"), inst("b", "tight")
    s = snap(
        [host("h1"), host("tight", ram_gb=8), host("free", ram_gb=64)],
        [a, b],
        [group("ha", "anti-affinity", a, b)],
    )
    assert where(drain(s, "h1")) == {"a": "free"}


def test_soft_anti_affinity_is_preferred_but_not_required():
    a, b = inst("a", "h1"), inst("b", "tight")
    hosts = [host("h1"), host("tight", ram_gb=8), host("free", ram_gb=64)]
    assert where(drain(snap(hosts, [a, b], [group("s", "soft-anti-affinity", a, b)]), "h1")) == {
        "a": "free"
    }
    only = [host("h1"), host("tight", ram_gb=8)]
    assert where(drain(snap(only, [a, b], [group("s", "soft-anti-affinity", a, b)]), "h1")) == {
        "a": "tight"
    }


def test_affinity_group_all_on_the_drained_host_stays_and_the_rest_moves():
    # Nova's affinity filter takes only hosts already holding a member, and the source is
    # never a target: with every member on h1, Nova can move none of them.
    a, b, c = inst("a", "h1", MEDIUM), inst("b", "h1", MEDIUM), inst("c", "h1", SMALL)
    s = snap(
        [host("h1"), host("h2", ram_gb=6), host("h3", ram_gb=10)],
        [a, b, c],
        [group("web", "affinity", a, b)],
    )
    p = drain(s, "h1")
    assert where(p) == {"c": "h2"}
    assert set(skipped(p)) == {"a", "b"}
    reason = skipped(p)["a"]
    assert "affinity group web" in reason and "all 2 member(s) are on h1" in reason
    assert "NoValidHost" in reason
    remedy = next(x.remedy for x in p.skips if x.instance_name == "a")
    assert "openstack server stop" in remedy and "--force" in remedy
    assert any("affinity group web" in w and "stay on h1" in w for w in p.warnings)
    assert p.feasible  # the group staying is reported, not a reason to refuse the drain


def test_lone_member_of_an_affinity_group_cannot_be_moved_by_nova():
    # The group's hosts include the member's own host: a group of one is pinned there too.
    a = inst("a", "h1")
    p = drain(snap([host("h1"), host("h2")], [a], [group("solo", "affinity", a)]), "h1")
    assert p.moves == [] and "affinity group solo" in skipped(p)["a"]


def test_affinity_group_joins_its_member_on_another_host_when_it_fits():
    a, b = inst("a", "h1", LARGE), inst("b", "h1", LARGE)
    peer = inst("peer", "h3", SMALL)
    s = snap(
        [host("h1"), host("h2", ram_gb=64), host("h3", ram_gb=20)],
        [a, b, peer],
        [group("g", "affinity", a, b, peer)],
    )
    p = drain(s, "h1")
    assert where(p) == {"a": "h3", "b": "h3"}
    assert "next to its affinity group g" in p.moves[0].reason
    tight = snap(
        [host("h1"), host("h2", ram_gb=64), host("h3", ram_gb=10)],
        [a, b, peer],
        [group("g", "affinity", a, b, peer)],
    )
    p = drain(tight, "h1")
    assert p.moves == [] and "must join its peers on h3" in p.skips[0].reason


def test_soft_affinity_prefers_the_peers_host():
    a, b = inst("a", "h1"), inst("b", "roomy")
    s = snap(
        [host("h1"), host("tight", ram_gb=4), host("roomy", ram_gb=64)],
        [a, b],
        [group("s", "soft-affinity", a, b)],
    )
    assert where(drain(s, "h1")) == {"a": "roomy"}


def test_instance_stays_in_its_zone():
    s = snap(
        [host("h1", zone="az1"), host("h2", zone="az2", ram_gb=4), host("h3", zone="az1")],
        [inst("z", "h1", zone="az1"), inst("free", "h1")],
    )
    p = drain(s, "h1")
    assert where(p)["z"] == "h3"


def test_zone_without_room_is_explained():
    s = snap(
        [host("h1", zone="az1"), host("h2", zone="az2", ram_gb=64)],
        [inst("z", "h1", LARGE, zone="az1")],
    )
    p = drain(s, "h1")
    assert "availability zone az1" in skipped(p)["z"]
    assert any("zone az1 cannot absorb" in w for w in p.warnings)


def test_hosts_that_do_not_accept_instances_are_not_targets():
    s = snap(
        [
            host("h1"),
            host("off", status="disabled"),
            host("dead", state="down"),
            host("fenced", forced_down=True),
            host("ok", ram_gb=4),
        ],
        [inst("a", "h1")],
    )
    assert where(drain(s, "h1")) == {"a": "ok"}


def test_excluded_and_other_drained_hosts_are_not_targets():
    s = snap(
        [host("h1"), host("h2"), host("x", ram_gb=64), host("ok")],
        [inst("a", "h1"), inst("b", "h2")],
    )
    p = drain(s, "h1", "h2", exclude_hosts=["x"])
    assert set(where(p).values()) == {"ok"}


def test_target_hosts_limit_where_instances_go():
    s = snap([host("h1"), host("h2", ram_gb=64), host("h3")], [inst("a", "h1")])
    assert where(drain(s, "h1", target_hosts=["h3"])) == {"a": "h3"}


def test_let_scheduler_choose_hides_the_target_but_checks_room():
    s = snap([host("h1"), host("h2", ram_gb=12)], [inst("a", "h1", LARGE), inst("b", "h1", LARGE)])
    p = drain(s, "h1", let_scheduler_choose=True)
    assert where(p) == {"a": None} or where(p) == {"b": None}
    assert "Nova's scheduler picks the host" in p.moves[0].reason
    assert len(p.skips) == 1 and not p.feasible


def test_pci_instance_leaves_the_target_to_nova():
    f = flavor("gpu", 4, 8, **{"pci_passthrough__alias": "a100:1"})
    s = snap([host("h1"), host("h2")], [inst("g", "h1", f)])
    p = drain(s, "h1")
    assert where(p) == {"g": None} and p.moves[0].method is Method.COLD


def test_policy_live_skips_what_cannot_live_migrate():
    f = flavor("vtpm", 2, 4, **{"hw__tpm_version": "2.0"})
    s = snap([host("h1"), host("h2")], [inst("v", "h1", f), inst("w", "h1")])
    p = drain(s, "h1", policy=MethodPolicy.LIVE)
    assert where(p) == {"w": "h2"} and "vTPM" in skipped(p)["v"]
    assert "cold" in p.skips[0].remedy


def test_unknown_host_suggests_the_closest_names():
    s = snap([host("compute-01"), host("compute-02"), host("storage-1")], [])
    with pytest.raises(BadRequest) as err:
        plan(s, DrainRequest(hosts=["compute-1"]))
    assert "compute-1" in err.value.what
    assert "did you mean compute-01" in err.value.remedy


def test_unknown_excluded_host_is_refused():
    s = snap([host("h1"), host("h2")], [])
    with pytest.raises(BadRequest, match="excluded host 'h9'"):
        plan(s, DrainRequest(hosts=["h1"], exclude_hosts=["h9"]))


def test_host_named_twice_is_refused():
    with pytest.raises(pydantic.ValidationError, match="more than once: h1"):
        DrainRequest(hosts=["h1", "h2", "h1"])
    s = snap([host("h1"), host("h2")], [])
    with pytest.raises(BadRequest, match="more than once"):
        plan(
            s,
            DrainRequest.model_construct(
                hosts=["h1", "h1"], kind="drain", exclude_hosts=[], target_hosts=[]
            ),
        )


def test_drain_of_a_down_host_suggests_evacuation():
    s = snap([host("h1", state="down"), host("h2")], [inst("a", "h1")])
    with pytest.raises(BadRequest) as err:
        plan(s, DrainRequest(hosts=["h1"]))
    assert "h1" in err.value.what and "evacuate" in err.value.remedy


def test_big_instances_are_placed_first():
    # Small-first would put the small instance on the 8 GiB host and strand the large one.
    s = snap(
        [host("h1"), host("a", ram_gb=8), host("b", ram_gb=2)],
        [inst("small", "h1", SMALL), inst("large", "h1", LARGE)],
    )
    p = drain(s, "h1")
    assert where(p) == {"large": "a", "small": "b"}


def test_allocation_ratios_give_room():
    from novaflow.models import AllocationRatios

    s = snap(
        [host("h1"), host("h2", ram_gb=4, ratios=AllocationRatios(ram=2.0))],
        [inst("a", "h1", flavor("r", 1, 6))],
    )
    assert where(drain(s, "h1")) == {"a": "h2"}


def test_disabled_target_host_is_named_in_a_warning():
    s = snap([host("h1"), host("off", status="disabled"), host("ok")], [inst("a", "h1")])
    p = drain(s, "h1", target_hosts=["off", "ok"])
    assert where(p) == {"a": "ok"}
    assert any("target host off does not take instances" in w for w in p.warnings)


def test_let_scheduler_choose_does_not_reveal_the_planned_host():
    s = snap([host("h1"), host("h2"), host("h3")], [inst("a", "h1")])
    p = drain(s, "h1", let_scheduler_choose=True)
    assert p.usage_after["h1"].ram_mb == 0
    assert p.usage_after["h2"] == s.host("h2").used and p.usage_after["h3"] == s.host("h3").used
    assert "h2" not in p.moves[0].reason and "h3" not in p.moves[0].reason


def test_affinity_peer_elsewhere_pulls_the_instance_to_its_host():
    a, b = inst("a", "h1"), inst("b", "peer")
    s = snap(
        [host("h1"), host("peer"), host("tight", ram_gb=4)], [a, b], [group("g", "affinity", a, b)]
    )
    assert where(drain(s, "h1")) == {"a": "peer"}
    full = snap(
        [host("h1"), host("peer", ram_gb=2), host("roomy", ram_gb=64)],
        [a, b],
        [group("g", "affinity", a, b)],
    )
    p = drain(full, "h1")
    assert p.moves == [] and "must join its peers on peer" in skipped(p)["a"]
    assert "free room on peer" in p.skips[0].remedy


def test_affinity_peer_that_cannot_move_keeps_the_group_on_the_drained_host():
    a, b = inst("a", "h1"), inst("b", "h1", status="ERROR")
    s = snap([host("h1"), host("h2")], [a, b], [group("g", "affinity", a, b)])
    p = drain(s, "h1")
    assert p.moves == []
    assert "peers stay on h1" in skipped(p)["a"] and "ERROR" in skipped(p)["b"]
    remedy = next(x.remedy for x in p.skips if x.instance_name == "a")
    assert "deal with the members on h1 first" in remedy
