"""`novaflow` without a cloud or a Prefect server: help per scenario, and how a second
terminal finds a running demo (only while the demo's process lives)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from deployments.cli import app
from novaflow.cli import LoadStatistic, load_settings
from novaflow.demo_state import DemoStack, running_demo, use_demo_clouds, write_demo_state
from novaflow.telemetry import LoadSettings


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_run_help_is_one_command_per_scenario_each_with_only_its_options():
    listing = _help("run")
    for scenario in ("maintenance", "failing", "evacuate", "rolling", "rebalance"):
        assert scenario in listing
    maintenance = _help("run", "maintenance")
    assert "--move-back" in maintenance and "--strategy" not in maintenance
    assert "--os-cloud" in maintenance and "--cloud" in maintenance  # the old spelling too
    for panel in ("Cloud and output", "Limits and window", "Approval"):
        assert panel in maintenance
    evacuate = _help("run", "evacuate")
    assert "--rebuild-slots" in evacuate and "--pack-targets" in evacuate
    assert "--slots" not in evacuate.replace("--rebuild-slots", "")
    rebalance = _help("run", "rebalance")
    assert "consolidate|spread|proximity" in rebalance and "--host" not in rebalance
    assert "--window-minutes" in rebalance


DEMO_VARIABLES = ("XDG_RUNTIME_DIR", "OS_CLIENT_CONFIG_FILE", "NOVAFLOW_PROMETHEUS_URL")


@pytest.fixture
def environment_as_found():
    """After the test (and monkeypatch's undo, which runs first), every variable a demo test
    may set is as it was before: nothing leaks into the rest of the suite."""
    before = {name: os.environ.get(name) for name in DEMO_VARIABLES}
    yield
    assert {name: os.environ.get(name) for name in DEMO_VARIABLES} == before


@pytest.fixture
def in_tmp(environment_as_found, tmp_path, monkeypatch):
    """A directory of its own, with nothing pointing at a demo or a clouds.yaml. What
    use_demo_clouds() sets in os.environ is undone after the test: monkeypatch restores only
    variables it recorded, and delenv records none that is unset, so each is set first."""
    monkeypatch.chdir(tmp_path)
    for name in DEMO_VARIABLES:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return tmp_path


def test_a_demo_is_found_only_while_its_process_lives(in_tmp, monkeypatch):
    clouds = in_tmp / "clouds.yaml"
    clouds.write_text(json.dumps({"clouds": {"sim": {}}}))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stack = DemoStack(
        pid=int(gone.stdout), prefect_api_url="http://127.0.0.1:1/api", clouds_yaml=str(clouds)
    )
    write_demo_state(stack)
    assert running_demo() is None  # its process has ended: a stale file is ignored
    assert use_demo_clouds() is None
    alive = stack.model_copy(update={"pid": os.getpid()})
    write_demo_state(alive)
    assert running_demo() == alive
    assert use_demo_clouds() == str(clouds)
    assert alive.exports() == [
        "export PREFECT_API_URL=http://127.0.0.1:1/api",
        f"export OS_CLIENT_CONFIG_FILE={clouds}",
    ]
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", "/etc/mine.yaml")
    assert use_demo_clouds() is None  # the operator's own choice always wins


def test_a_run_beside_the_demo_measures_load_with_the_demo_s_prometheus(in_tmp, monkeypatch):
    clouds = in_tmp / "clouds.yaml"
    clouds.write_text(json.dumps({"clouds": {"sim": {}}}))
    stack = DemoStack(
        pid=os.getpid(),
        prefect_api_url="http://127.0.0.1:1/api",
        clouds_yaml=str(clouds),
        prometheus_url="http://127.0.0.1:9090",
    )
    write_demo_state(stack)
    assert stack.exports()[-1] == "export NOVAFLOW_PROMETHEUS_URL=http://127.0.0.1:9090"
    use_demo_clouds()
    assert os.environ["NOVAFLOW_PROMETHEUS_URL"] == "http://127.0.0.1:9090"
    assert LoadSettings().prometheus_url == "http://127.0.0.1:9090"  # what rebalance reads
    monkeypatch.setenv("NOVAFLOW_PROMETHEUS_URL", "http://prometheus.example:9090")
    use_demo_clouds()
    assert LoadSettings().prometheus_url == "http://prometheus.example:9090"  # the operator's


def test_the_command_line_s_load_options_default_to_the_demo_s_prometheus(in_tmp):
    stack = DemoStack(
        pid=os.getpid(),
        prefect_api_url="http://127.0.0.1:1/api",
        clouds_yaml=str(in_tmp / "clouds.yaml"),
        prometheus_url="http://127.0.0.1:9090",
    )
    write_demo_state(stack)
    given = {"window": "1h", "statistic": LoadStatistic.mean, "rate_interval": "5m"}
    assert load_settings(None, **given).prometheus_url == "http://127.0.0.1:9090"
    assert load_settings("", **given).prometheus_url is None  # --prometheus-url "": none
    assert load_settings("http://p:9090", **given).prometheus_url == "http://p:9090"
