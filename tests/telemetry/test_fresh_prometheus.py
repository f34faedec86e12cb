"""A Prometheus started minutes ago (the demo's): the default 5m rates must not read idle
hosts as busy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from novaflow.sim.metrics import HOST_OVERHEAD
from novaflow.sim.testing import SimHandle
from novaflow.telemetry import LoadSettings, measure
from tests.telemetry.conftest import INSTANCE_SERIES, scraped_sim
from tests.telemetry.test_prometheus_load import model_cores, snapshot_of


@pytest.fixture(scope="module")
def fresh(
    prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SimHandle, str]]:
    """(sim, Prometheus URL) once Prometheus holds a few seconds of samples: far less than
    the default 5m rate interval, as in the demo a minute after it starts."""
    ready = f"count_over_time({INSTANCE_SERIES}[1m]) >= 5"
    with scraped_sim(tmp_path_factory, seed=3, ready=ready) as scraped:
        yield scraped


def test_host_load_is_right_before_a_whole_rate_interval_of_samples(fresh):
    sim, url = fresh
    # The defaults (5m rates) over a window of one minute: the series are seconds old.
    snap = measure(snapshot_of(sim), LoadSettings(prometheus_url=url, load_window="1m"))
    assert snap.load.source == "prometheus"
    cores = model_cores(sim)
    for host in snap.hosts:
        on_host = sum(cores.get(i.id, 0.0) for i in snap.instances_on(host.name))
        expected = min(1.0, HOST_OVERHEAD + on_host / host.threads)
        # `1 - rate(idle)` read these hosts at 90 % and more here, whatever they ran.
        assert host.cpu_load == pytest.approx(expected, rel=0.1, abs=0.03), host.name
