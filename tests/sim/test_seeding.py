"""Seeded clusters are deterministic and realistic; ClusterSpec validates what it builds."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError

from novaflow.sim.spec import ClusterSpec
from novaflow.sim.state import SimCloud


def test_same_seed_same_cloud_other_seed_other_cloud() -> None:
    a = ClusterSpec.generated(hosts=8, instances=120, seed=1)
    b = ClusterSpec.generated(hosts=8, instances=120, seed=1)
    c = ClusterSpec.generated(hosts=8, instances=120, seed=2)
    assert a == b
    assert a != c


def test_generated_cluster_looks_like_a_real_one() -> None:
    spec = ClusterSpec.generated(hosts=8, instances=120, seed=1)
    cloud = SimCloud(spec, time_scale=0)
    assert [h.name for h in spec.hosts] == [f"sim-compute-{i}" for i in range(8)]
    assert {h.zone for h in spec.hosts} == {"az1", "az2"}
    assert all(32 <= h.vcpus <= 64 and 256 * 1024 <= h.memory_mb <= 512 * 1024 for h in spec.hosts)
    statuses = Counter(i.status for i in spec.instances)
    assert len(spec.instances) >= 110
    assert 0.04 < statuses["SHUTOFF"] / len(spec.instances) < 0.2 and statuses["PAUSED"] >= 1
    flavors = Counter(i.flavor for i in spec.instances)
    assert flavors["s1.vtpm"] and flavors["g1.pci"] and flavors["c1.pinned"]
    assert any(i.boot_from_volume and i.volumes for i in spec.instances)
    assert any("evacuation_priority" in i.metadata for i in spec.instances)
    assert len({i.project for i in spec.instances}) >= 4
    # Uneven load, so a rebalance has something to do; never over capacity.
    usage = cloud.usages()
    ram_share = [usage[h].ram / cloud.hosts[h].memory_mb for h in cloud.hosts]
    assert max(ram_share) > 2 * min(ram_share)
    assert all(usage[h].vcpus <= cloud.hosts[h].vcpus * 4 for h in cloud.hosts)


def test_generated_groups_respect_their_policies() -> None:
    cloud = SimCloud(ClusterSpec.generated(hosts=8, instances=120, seed=5), time_scale=0)
    policies = Counter(g.policy for g in cloud.groups.values() if g.members)
    assert policies["anti-affinity"] >= 2
    for group in cloud.groups.values():
        hosts = [cloud.instances[m].host for m in group.members]
        if group.policy == "anti-affinity":
            assert len(hosts) == len(set(hosts))
        if group.policy == "affinity":
            assert len(set(hosts)) <= 1


def test_builder_rejects_unknown_references() -> None:
    with pytest.raises(ValidationError, match="unknown host"):
        SimCloud(ClusterSpec().host("a").instance("x", host="b"))
    with pytest.raises(ValidationError, match="unknown flavor"):
        SimCloud(ClusterSpec().host("a").instance("x", host="a", flavor="huge"))
    with pytest.raises(ValidationError, match="unknown server groups"):
        SimCloud(ClusterSpec().host("a").instance("x", host="a", groups=["g"]))


def test_builder_places_what_it_is_told() -> None:
    spec = (
        ClusterSpec()
        .host("a", max_concurrent_live_migrations=3)
        .host("b", zone="az2")
        .group("g", "anti-affinity")
        .instance("v1", host="a", flavor="s1.vtpm", groups=["g"], metadata={"k": "v"})
        .instance("v2", host="b", status="SHUTOFF", groups=["g"])
    )
    cloud = SimCloud(spec, time_scale=0)
    by_name = {i.name: i for i in cloud.instances.values()}
    assert by_name["v1"].host == "a" and by_name["v1"].metadata == {"k": "v"}
    assert by_name["v2"].status == "SHUTOFF" and by_name["v2"].zone == "az2"
    assert cloud.hosts["a"].max_concurrent_live_migrations == 3
    (group,) = cloud.groups.values()
    assert sorted(group.members) == sorted(i.id for i in cloud.instances.values())
