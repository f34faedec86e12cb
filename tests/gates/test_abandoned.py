"""A run whose process died at a gate is ended with the reason, so the UI offers no Resume
into a run nobody runs; a live gate is left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Paused, Running

from novaflow.gates import ALIVE_LABEL
from tasks.gates import end_abandoned_gates


@flow(persist_result=False)
def _record_only() -> None:
    """Only its flow run records are used."""


def _run_at_gate(client, state, stamp: datetime):
    run = client.create_flow_run(_record_only)
    client.set_flow_run_state(run.id, state, force=True)
    client.update_flow_run_labels(run.id, {ALIVE_LABEL: stamp.isoformat()})
    return run


def test_runs_whose_gate_process_is_gone_are_crashed_with_the_reason(prefect_api: str) -> None:
    now = datetime.now(UTC)
    with get_client(sync_client=True) as client:
        dead = _run_at_gate(
            client, Paused(timeout_seconds=600, pause_key="k"), now - timedelta(hours=1)
        )
        resumed = _run_at_gate(client, Running(), now - timedelta(hours=1))
        alive = _run_at_gate(client, Paused(timeout_seconds=600, pause_key="k"), now)

        ended = end_abandoned_gates()

        assert dead.name in ended and resumed.name in ended and alive.name not in ended
        dead_state = client.read_flow_run(dead.id).state
        assert dead_state.is_crashed() and "waiting at this gate is gone" in dead_state.message
        resumed_state = client.read_flow_run(resumed.id).state
        assert resumed_state.is_crashed() and "nothing ran after it" in resumed_state.message
        assert client.read_flow_run(alive.id).state.is_paused()
