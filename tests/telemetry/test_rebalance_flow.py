"""The rebalance flow reads measured load before it plans, and says where it came from."""

from __future__ import annotations

import socket

import pytest

from flows.params import ApprovalSettings, RunSettings
from flows.rebalance import rebalance
from novaflow.telemetry import LoadSettings
from tasks.connect import forget_clouds
from tests.flows.conftest import drive
from tests.telemetry.conftest import SHORT


@pytest.fixture
def sim_cloud(scraped, prefect_api, monkeypatch):
    """The scraped sim as the clouds.yaml cloud 'sim' the flows connect to."""
    sim, url = scraped
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(sim.clouds_yaml))
    forget_clouds()
    yield sim, url
    forget_clouds()


def dry_run(load: LoadSettings):
    settings = RunSettings(
        cloud="sim", dry_run=True, approval=ApprovalSettings(mode="none"), load=load
    )
    return drive(rebalance, strategy="spread", max_moves=5, settings=settings)


def test_a_dry_run_rebalance_plans_on_measured_load(sim_cloud):
    _, url = sim_cloud
    report = dry_run(LoadSettings(prometheus_url=url, **SHORT))
    assert any(n.startswith(f"CPU load from {url}: mean over 10s") for n in report.notes), (
        report.notes
    )
    assert report.dry_run and not report.outcomes
    # The summary the operator reads is on the basis the plan used, allocation labelled apart.
    cpu = [n for n in report.notes if n.startswith("CPU load before: hottest ")]
    assert len(cpu) == 1 and "; planned after: hottest " in cpu[0], report.notes
    assert any(n.startswith("allocation load before: ") for n in report.notes)


def test_a_rebalance_without_metrics_says_it_planned_on_allocation(sim_cloud):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}"
    report = dry_run(LoadSettings(prometheus_url=down))
    assert any(
        n.startswith(f"no metrics from {down}") and n.endswith("planned on allocation")
        for n in report.notes
    ), report.notes
    assert not any(n.startswith("CPU load before") for n in report.notes)
