"""The PromQL novaflow sends for each choice of window and statistic, and bad settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from novaflow.models import Host, Inventory, Resources
from novaflow.telemetry import LoadSettings, host_key, threads

NOVAFLOW = str(Path(sys.executable).with_name("novaflow"))


def test_the_default_queries_read_the_exporters_operators_run():
    settings = LoadSettings(prometheus_url="http://prometheus:9090")
    assert settings.promql(settings.instance_query) == (
        "avg_over_time((sum by (uuid) (rate(libvirt_domain_info_cpu_time_seconds_total[5m])))"
        "[1h:60s])"
    )
    assert settings.promql(settings.host_query) == (
        'avg_over_time((sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m])) '
        "/ sum by (instance) (rate(node_cpu_seconds_total[5m])))[1h:60s])"
    )


def test_p95_and_a_custom_query_and_step():
    settings = LoadSettings(
        load_window="30m",
        load_statistic="p95",
        rate_interval="2m",
        instance_query="sum by (instance_id) (rate(my_cpu_seconds_total[{rate}]))",
        instance_label="instance_id",
    )
    assert settings.promql(settings.instance_query) == (
        "quantile_over_time(0.95, (sum by (instance_id) (rate(my_cpu_seconds_total[2m])))[30m:30s])"
    )
    assert LoadSettings(load_window="10s", resolution="2s").promql("x").endswith("[10s:2s])")


def test_the_url_comes_from_the_environment_when_not_given(monkeypatch):
    monkeypatch.setenv("NOVAFLOW_PROMETHEUS_URL", "http://prom:9090")
    assert LoadSettings().prometheus_url == "http://prom:9090"
    monkeypatch.delenv("NOVAFLOW_PROMETHEUS_URL")
    assert LoadSettings().prometheus_url is None


@pytest.mark.parametrize("field", ["load_window", "rate_interval", "resolution"])
def test_a_window_that_is_not_a_promql_duration_is_refused(field):
    with pytest.raises(ValidationError, match="not a Prometheus duration"):
        LoadSettings(**{field: "an hour"})


def test_exporter_targets_name_compute_hosts():
    assert host_key("compute-01.example.org:9100") == "compute-01"
    assert host_key("compute-01") == "compute-01"


def test_threads_are_placements_vcpu_total_before_the_ratio():
    placed = Host(
        name="c1",
        service_id="1",
        capacity=Resources(vcpus=64),
        inventory={"VCPU": Inventory(total=48, allocation_ratio=4.0)},
    )
    assert threads(placed) == 48
    assert threads(Host(name="c2", service_id="2", capacity=Resources(vcpus=32))) == 32


def test_a_bad_window_on_the_command_line_is_one_line_and_exit_2():
    done = subprocess.run(
        [
            NOVAFLOW,
            "plan",
            "rebalance",
            "--strategy",
            "spread",
            "--load-window",
            "1x",
            "--snapshot",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "novaflow: bad load option: '1x' is not a Prometheus duration (like 1h, 30m, 90s)"
    )
