"""Mark a flow run Crashed once its process stops sending heartbeats: a worker machine that
dies takes the run's process with it, and nothing else would ever end that run.

Prefect's documented answer is a proactive automation on the flow-run heartbeat event. With
it, a run killed mid-drain is seen as Crashed within HEARTBEAT_S + SILENCE_S, and the
operator retries it from the deployment (moves are idempotent: nothing migrates twice).

    python -m deployments.production.crashes     # once per Prefect server (idempotent)
"""

from __future__ import annotations

from prefect.client.orchestration import SyncPrefectClient, get_client

HEARTBEAT_S = 30
"""How often a flow run's process says it is alive (PREFECT_FLOWS_HEARTBEAT_FREQUENCY on the
workers; Prefect's minimum, its default is 180)."""

SILENCE_S = 90
"""A run silent this long is Crashed: three heartbeats missed, so that a run held up by a
busy machine or a restarting server is not taken for dead."""

NAME = "novaflow: crash flow runs that stop sending heartbeats"

WORKER_SETTINGS = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S)}
"""Environment every worker runs with (the README's production recipe exports it)."""

_ENDED = ["Completed", "Failed", "Cancelled", "Crashed"]


def automation() -> dict:
    """The automation, as the JSON Prefect's /automations API takes."""
    return {
        "name": NAME,
        "description": f"No heartbeat for {SILENCE_S} s: the run's process is gone.",
        "enabled": True,
        "trigger": {
            "type": "event",
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "after": ["prefect.flow-run.heartbeat"],
            "expect": ["prefect.flow-run.heartbeat", *(f"prefect.flow-run.{s}" for s in _ENDED)],
            "for_each": ["prefect.resource.id"],
            "posture": "Proactive",
            "threshold": 1,
            "within": SILENCE_S,
        },
        "actions": [
            {
                "type": "change-flow-run-state",
                "state": "CRASHED",
                "message": f"No heartbeat for {SILENCE_S} s: the run's process died "
                "(its worker machine stopped?). Retry it from the deployment.",
            }
        ],
    }


def ensure_crash_detection(client: SyncPrefectClient) -> None:
    """Create the automation unless the server has it already."""
    existing = client.request("POST", "/automations/filter", json={}).json()
    if any(a["name"] == NAME for a in existing):
        return
    client.request("POST", "/automations/", json=automation()).raise_for_status()


if __name__ == "__main__":
    with get_client(sync_client=True) as client:
        ensure_crash_detection(client)
    print(f"automation ready: {NAME}")
