"""Measured load read from a real Prometheus that scrapes the sim, and the fallback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from novaflow.cloud import Cloud
from novaflow.models import Snapshot
from novaflow.sim.metrics import HOST_OVERHEAD, meter_for
from novaflow.sim.testing import SimHandle
from novaflow.telemetry import LoadSettings, measure
from tests.telemetry.conftest import SHORT

NOVAFLOW = str(Path(sys.executable).with_name("novaflow"))


def snapshot_of(sim: SimHandle) -> Snapshot:
    cloud = Cloud.connect(sim.cloud_name, config_file=str(sim.clouds_yaml))
    try:
        return cloud.snapshot()
    finally:
        cloud.close()


def model_cores(sim: SimHandle) -> dict[str, float]:
    """What the sim's load model says each running instance uses now, in cores."""
    model = meter_for(sim.cloud).model
    with sim.state.lock:
        now = sim.state.now
        return {
            i.id: model.cores(i.id, i.host, i.flavor.vcpus, now)
            for i in sim.state.instances.values()
            if i.status == "ACTIVE"
        }


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_prometheus_scrapes_the_sim_and_telemetry_reads_per_instance_cores(scraped):
    sim, url = scraped
    snap = measure(snapshot_of(sim), LoadSettings(prometheus_url=url, **SHORT))
    assert snap.load is not None and snap.load.source == "prometheus", snap.load
    assert snap.load.url == url and snap.load.window == "10s"
    expected = model_cores(sim)
    measured = {i.id: i.cpu_load for i in snap.instances}
    for server, cores in expected.items():
        assert measured[server] == pytest.approx(cores, rel=0.1, abs=0.05), server
    # The hottest instance is the one the model makes hottest.
    assert max(measured, key=lambda k: measured[k] or 0) == max(expected, key=expected.get)


def test_host_load_is_the_busy_share_of_its_threads(scraped):
    sim, url = scraped
    snap = measure(snapshot_of(sim), LoadSettings(prometheus_url=url, **SHORT))
    cores = model_cores(sim)
    for host in snap.hosts:
        assert host.threads == sim.state.hosts[host.name].vcpus
        on_host = sum(cores.get(i.id, 0.0) for i in snap.instances_on(host.name))
        expected = min(1.0, HOST_OVERHEAD + on_host / host.threads)
        assert host.cpu_load == pytest.approx(expected, rel=0.1, abs=0.02), host.name


def test_p95_is_at_least_the_mean(scraped):
    sim, url = scraped
    base = snapshot_of(sim)
    mean = measure(base, LoadSettings(prometheus_url=url, **SHORT))
    p95 = measure(base, LoadSettings(prometheus_url=url, load_statistic="p95", **SHORT))
    assert p95.load.statistic == "p95"
    for a, b in zip(mean.instances, p95.instances, strict=True):
        assert b.cpu_load >= a.cpu_load * 0.95


def test_without_prometheus_the_load_falls_back_to_allocation(scraped):
    sim, _ = scraped
    base = snapshot_of(sim)
    down = f"http://127.0.0.1:{closed_port()}"
    snap = measure(base, LoadSettings(prometheus_url=down))
    assert snap.load.source == "allocation"
    assert snap.load.note.startswith(f"no metrics from {down}")
    assert snap.load.note.endswith("planned on allocation")
    assert all(i.cpu_load is None for i in snap.instances)
    # Threads are known from Placement all the same: the planner's denominator.
    assert all(h.threads == sim.state.hosts[h.name].vcpus for h in snap.hosts)
    nothing = measure(base, LoadSettings())
    assert nothing.load.source == "allocation" and "no Prometheus URL" in nothing.load.note


def test_no_series_falls_back_to_allocation(scraped):
    sim, url = scraped
    wrong = "sum by (uuid) (rate(libvirt_domain_cpu_seconds_total_typo[{rate}]))"
    snap = measure(
        snapshot_of(sim), LoadSettings(prometheus_url=url, instance_query=wrong, **SHORT)
    )
    assert snap.load.source == "allocation"
    assert "no instance CPU series" in snap.load.note
    bad = measure(
        snapshot_of(sim), LoadSettings(prometheus_url=url, instance_query="rate(", **SHORT)
    )
    assert bad.load.source == "allocation" and "bad_data" in bad.load.note


def novaflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NOVAFLOW, *args], env=env, capture_output=True, text=True, timeout=240, check=False
    )


def test_plan_rebalance_says_where_its_load_came_from(scraped):
    sim, url = scraped
    env = {**os.environ, **sim.env, "COLUMNS": "200"}
    env.pop("NOVAFLOW_PROMETHEUS_URL", None)
    args = ("plan", "rebalance", "--strategy", "spread", "--os-cloud", sim.cloud_name)
    measured = novaflow(
        *args,
        "--prometheus-url",
        url,
        "--load-window",
        "10s",
        "--rate-interval",
        "3s",
        "--format",
        "json",
        env=env,
    )
    assert measured.returncode in (0, 1), measured.stderr
    assert f"CPU load from {url}: mean over 10s" in measured.stderr
    assert "24 of 24 instance(s)" in measured.stderr
    down = f"http://127.0.0.1:{closed_port()}"
    fallback = novaflow(*args, "--prometheus-url", down, env=env)
    assert fallback.returncode in (0, 1), fallback.stderr
    assert f"no metrics from {down}" in fallback.stderr
    assert "planned on allocation" in fallback.stderr
    assert "Traceback" not in fallback.stderr


def test_a_snapshot_file_keeps_the_load_it_was_taken_with(scraped, tmp_path):
    sim, url = scraped
    env = {**os.environ, **sim.env, "COLUMNS": "200"}
    env.pop("NOVAFLOW_PROMETHEUS_URL", None)
    taken = novaflow(
        "snapshot",
        "--os-cloud",
        sim.cloud_name,
        "--prometheus-url",
        url,
        "--load-window",
        "10s",
        "--rate-interval",
        "3s",
        env=env,
    )
    assert taken.returncode == 0, taken.stderr
    snap = Snapshot.model_validate_json(taken.stdout)
    assert snap.load.source == "prometheus"
    assert all(i.cpu_load is not None for i in snap.instances)
    path = tmp_path / "snap.json"
    path.write_text(taken.stdout)
    offline = novaflow(
        "plan", "rebalance", "--strategy", "spread", "--snapshot", str(path), env=env
    )
    assert offline.returncode in (0, 1), offline.stderr
    assert f"CPU load from {url}: mean over 10s" in offline.stderr
