"""Whoever answers a gate from another process (the terminal) reads the gate the run waits
at: its question, what approving does and the timeout's default, as the form shows them."""

from __future__ import annotations

import uuid

from prefect import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType

from deployments.run_cli import run_foreground
from flows.maintenance import node_maintenance
from flows.params import ApprovalSettings, RunSettings
from tasks.gates import read_gate
from tests.flows.conftest import REJECT, two_hosts


def _paused_run_id():
    with get_client(sync_client=True) as client:
        [run] = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
            ),
            limit=1,
        )
    return run.id


def test_the_gate_a_run_waits_at_can_be_read_with_its_question(cloud_of) -> None:
    cloud_of(two_hosts(2))
    seen = {}

    def answer(key: str) -> dict:
        seen[key] = read_gate(_paused_run_id(), key)
        return REJECT

    settings = RunSettings(cloud="sim", approval=ApprovalSettings(timeout_s=120))
    report = run_foreground(
        node_maintenance, {"host": "cmp-a", "settings": settings}, answer, show=False
    )
    gate = seen["approve-plan"]
    assert gate.question == "Drain cmp-a for maintenance (maintenance)?"
    assert gate.on_timeout == "reject" and gate.timeout_s == 120
    assert "2 instances move off cmp-a" in gate.prompt()
    assert report.gates[0].decision.via == "ui" and not report.gates[0].decision.approved
    assert read_gate(uuid.UUID(int=0), "approve-plan") is None
