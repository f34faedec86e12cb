"""A real Prometheus (Debian's package) scraping a sim's /metrics every second."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from novaflow.sim import prometheus
from novaflow.sim.testing import SimHandle, running_sim

# The tests run for seconds, not hours: the default queries over a short window.
SHORT = {"load_window": "10s", "rate_interval": "3s", "resolution": "1s"}
INSTANCE_SERIES = "libvirt_domain_info_cpu_time_seconds_total"


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """The prometheus executable. Missing, the tests that need it fail and say how to
    install it; NOVAFLOW_NO_PROMETHEUS=1 skips them instead (a machine without it)."""
    found = prometheus.binary()
    if found is None:
        if os.environ.get("NOVAFLOW_NO_PROMETHEUS"):
            pytest.skip("NOVAFLOW_NO_PROMETHEUS is set: tests with a real Prometheus left out")
        pytest.fail(prometheus.NOT_INSTALLED, pytrace=False)
    return found


@pytest.fixture(scope="module")
def scraped(
    prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SimHandle, str]]:
    """(sim, Prometheus URL): 4 hosts, 24 instances, seed 1, scraped every second, once
    Prometheus holds a whole short window of samples. The sim's clock runs in real time, so
    over a test's seconds its load model stays put and can be checked against what Prometheus
    measured. Tests sharing it only read the cloud."""
    # Window + rate interval of samples: every point of the window has a whole rate.
    ready = f"count_over_time({INSTANCE_SERIES}[14s]) >= 13"
    with scraped_sim(tmp_path_factory, seed=1, ready=ready) as scraped:
        yield scraped


@contextlib.contextmanager
def scraped_sim(
    tmp_path_factory: pytest.TempPathFactory, *, seed: int, ready: str
) -> Iterator[tuple[SimHandle, str]]:
    """(sim, Prometheus URL): a 4-host, 24-instance sim on a real-time clock, scraped every
    second, once the PromQL `ready` holds."""
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(
            running_sim(
                hosts=4,
                instances=24,
                seed=seed,
                time_scale=1.0,
                directory=tmp_path_factory.mktemp("sim"),
            )
        )
        target = sim.url.split("://", 1)[1].rstrip("/")
        url = stack.enter_context(
            prometheus.running_prometheus([target], tmp_path_factory.mktemp("prometheus"))
        )
        prometheus.wait_for_series(url, ready)
        yield sim, url
