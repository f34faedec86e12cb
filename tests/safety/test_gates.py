"""No cloud action before the approval gate: a rejected or an expired gate changes nothing.

Every flow that has a gate runs at once against one cloud (each on its own hosts, so their
host claims do not collide), waits at its first gate, and is rejected there (then, in a
second round, left unanswered until the gate expires with on_timeout=reject). The sim must
have seen no write request to Nova, and `Cloud.snapshot()` before and after must be the same
JSON, except `taken_at`, the time of reading itself. With nothing in flight the sim's clock
changes nothing else (no heartbeats or usage counters are part of a snapshot).
"""

from __future__ import annotations

from typing import Any

import pytest

from deployments.run_cli import run_foreground
from flows.evacuation import evacuate_failed_node
from flows.failing import failing_node
from flows.maintenance import node_maintenance
from flows.params import ApprovalSettings, RunSettings
from flows.rebalance import rebalance
from flows.rolling import rolling_maintenance
from novaflow.sim.spec import ClusterSpec
from tests.flows.conftest import REJECT, in_background
from tests.safety.conftest import unchanged

pytestmark = pytest.mark.timeout(240)


def gated_cloud() -> ClusterSpec:
    spec = ClusterSpec()
    for name in ("m-src", "f-src", "r-src", "p-src", "p-dst", "spare-1", "spare-2"):
        spec.host(name)
    spec.host("e-dead", up=False)
    for host in ("m-src", "f-src", "r-src", "e-dead"):
        spec.instance(f"{host}-vm0", host=host, flavor="m1.small")
        spec.instance(f"{host}-vm1", host=host, flavor="m1.small", status="SHUTOFF")
    spec.instance("px-0", host="p-src", flavor="m1.small")
    return spec


def every_gated_flow(approval: ApprovalSettings) -> list[tuple[Any, dict[str, Any], str]]:
    """(flow, parameters, first gate) for each scenario that has a gate."""
    s = RunSettings(cloud="sim", move_timeout_s=60, approval=approval)
    return [
        (node_maintenance, dict(host="m-src", settings=s), "approve-plan"),
        (failing_node, dict(host="f-src", settings=s), "approve-plan"),
        (rolling_maintenance, dict(hosts=["r-src"], settings=s), "approve-plan"),
        (evacuate_failed_node, dict(host="e-dead", settings=s), "approve-evacuation"),
        (
            rebalance,
            dict(strategy="proximity", select_name="px-", target_hosts=["p-dst"], settings=s),
            "approve-plan",
        ),
    ]


def run_all(runs: list[tuple[Any, dict[str, Any], str]], answer: dict | None) -> list:
    reports: dict[int, Any] = {}
    threads = [
        in_background(
            lambda i=i, flow=flow, params=params, gate=gate: reports.__setitem__(
                i,
                run_foreground(
                    flow, params, lambda key, g=gate: answer if key == g else None, show=False
                ),
            )
        )
        for i, (flow, params, gate) in enumerate(runs)
    ]
    for t in threads:
        t.join(timeout=180)
    return [reports.get(i) for i in range(len(runs))]


@pytest.mark.parametrize("how", ["rejected", "expired"])
def test_a_gate_that_says_no_leaves_the_cloud_byte_for_byte_unchanged(cloud_of, how):
    sim = cloud_of(gated_cloud())
    approval = ApprovalSettings(timeout_s=10 if how == "expired" else 120, on_timeout="reject")
    runs = every_gated_flow(approval)
    with unchanged(sim):
        reports = run_all(runs, REJECT if how == "rejected" else None)
    for (flow, _params, gate), report in zip(runs, reports, strict=True):
        assert report is not None, f"{flow.name}: no report"
        decision = report.gates[0].decision
        assert report.gates[0].gate == gate and not decision.approved, flow.name
        assert decision.via == ("timeout" if how == "expired" else "ui"), flow.name
        assert not report.outcomes, f"{flow.name} moved something: {report.outcomes}"
        assert any("nothing was changed" in n for n in report.notes), (flow.name, report.notes)
