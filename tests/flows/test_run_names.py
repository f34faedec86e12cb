"""Runs are named for their scenario and host, and a refusal is told apart from a crash in the
runs list: it ends in a Failed state named 'Refused' whose message is the refusal."""

from __future__ import annotations

import pytest
from prefect import get_client

from flows.common import REFUSED
from flows.maintenance import node_maintenance
from flows.names import run_name_for
from flows.params import ApprovalSettings, RunSettings
from flows.rebalance import rebalance
from novaflow.errors import BadRequest
from tests.flows.conftest import two_hosts

pytestmark = pytest.mark.timeout(180)


def _settings(**kw) -> RunSettings:
    return RunSettings(cloud="sim", approval=ApprovalSettings(timeout_s=60), **kw)


def _run(state):
    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id)


@pytest.mark.parametrize(
    ("flow_name", "params", "name"),
    [
        ("node-maintenance", {"host": "sim-compute-3"}, "maintenance-sim-compute-3"),
        ("failing-node", {"host": "cmp-7"}, "failing-cmp-7"),
        ("evacuate-failed-node", {"host": "cmp-9"}, "evacuate-cmp-9"),
        ("rolling-maintenance", {"hosts": ["a", "b"]}, "rolling-a-b"),
        ("rolling-maintenance", {"zone": "az1"}, "rolling-zone-az1"),
        ("rolling-maintenance", {"aggregate": "gpu"}, "rolling-aggregate-gpu"),
        ("rebalance", {"strategy": "consolidate"}, "rebalance-consolidate"),
        (
            "rebalance",
            {"strategy": "proximity", "target_zone": "az2"},
            "rebalance-proximity-to-az2",
        ),
    ],
)
def test_run_names_say_the_scenario_and_the_host(flow_name, params, name) -> None:
    assert run_name_for(flow_name, params) == name


def test_a_zone_of_hosts_gives_a_short_name() -> None:
    hosts = [f"sim-compute-{i}" for i in range(1000)]
    name = run_name_for("rolling-maintenance", {"hosts": hosts})
    assert name.startswith("rolling-sim-compute-0-sim-compute-1") and len(name) <= 100


def test_a_run_in_prefect_is_named_for_its_scenario_and_host(cloud_of) -> None:
    cloud_of(two_hosts(1))
    state = node_maintenance(host="cmp-a", settings=_settings(dry_run=True), return_state=True)
    assert state.is_completed()
    assert _run(state).name == "maintenance-cmp-a"
    state = rebalance(strategy="spread", settings=_settings(dry_run=True), return_state=True)
    assert _run(state).name == "rebalance-spread"


def test_a_refusal_ends_in_a_failed_state_named_refused_with_the_reason(cloud_of) -> None:
    cloud_of(two_hosts(1))
    state = node_maintenance(host="cmp-x", settings=_settings(), return_state=True)
    run = _run(state)
    assert state.is_failed() and run.state.name == REFUSED
    assert "unknown host 'cmp-x'" in run.state.message
    assert run.state.message.startswith("refused, nothing was changed")
    assert isinstance(state.result(raise_on_failure=False), BadRequest)
    with pytest.raises(BadRequest, match="unknown host"):
        node_maintenance(host="cmp-x", settings=_settings())
