"""The sim served by a process of its own, as the benchmarks use it."""

from __future__ import annotations

import os

import pytest

from novaflow.cloud import Cloud
from novaflow.sim.clouds_yaml import CLOUD_NAME
from novaflow.sim.process import sim_process
from novaflow.sim.spec import ClusterSpec


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_sim_process_serves_the_spec_counts_requests_and_ends_with_its_block(tmp_path) -> None:
    spec = ClusterSpec().host("a").host("b").instance("web-1", host="a")
    with sim_process(spec, time_scale=0, directory=tmp_path) as sim:
        cloud = Cloud.connect(CLOUD_NAME, config_file=str(sim.clouds_yaml))
        try:
            sim.reset_stats()
            snap = cloud.snapshot()
        finally:
            cloud.close()
        assert sorted(h.name for h in snap.hosts) == ["a", "b"]
        assert [(i.name, i.host) for i in snap.instances] == [("web-1", "a")]
        assert sim.stats()["requests"]["GET /compute/v2.1/servers/detail"] == 1
        pid = sim.pid
        assert _alive(pid)
    assert not _alive(pid)


def test_a_sim_process_that_cannot_start_says_so_at_once(tmp_path) -> None:
    spec = ClusterSpec().host("a")
    (tmp_path / "clouds.yaml").mkdir()  # the sim cannot write its clouds.yaml there
    with (
        pytest.raises(RuntimeError, match="ended with exit code"),
        sim_process(spec, time_scale=0, directory=tmp_path, start_s=60),
    ):
        pass
