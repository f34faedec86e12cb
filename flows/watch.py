"""Automatic failure response: notice a compute node that stays down, start its evacuation.

Runs every minute (a scheduled deployment). A host whose compute service has been down
longer than the threshold gets a `novaflow.compute.down` event and an evacuate-failed-node
run, which then waits at its gate for a human (Slack or UI) to confirm fencing. It never
starts two evacuations for one host. It also ends runs whose process died at a gate.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.events import emit_event
from prefect.variables import Variable

from flows.names import run_name
from tasks.gates import end_abandoned_gates
from tasks.inventory import read_cloud

ACTIVE = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED]


def _down_since_name(cloud: str) -> str:
    return "novaflow-down-since-" + "".join(c if c.isalnum() else "-" for c in cloud.lower())


def evacuations_in_progress(deployment: str) -> set[str]:
    """Hosts that already have an evacuation run that is not finished."""
    dep_name = deployment.partition("/")[2]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[dep_name])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ACTIVE))
            ),
        )
    return {str(r.parameters.get("host")) for r in runs}


@flow(flow_run_name=run_name, name="watch-compute-services")
def watch_compute_services(
    cloud: str = "sim",
    down_for_s: int = 180,
    start_evacuation: bool = True,
    evacuation_deployment: str = "evacuate-failed-node/evacuate-failed-node",
    approval_mode: str = "ui",
) -> list[str]:
    """Start an evacuation for each compute host down longer than `down_for_s`.

    Args:
        cloud: Cloud name in clouds.yaml.
        down_for_s: How long a compute service must stay down before acting.
        start_evacuation: Off: only emit the event (an automation may react to it).
        evacuation_deployment: The deployment to start, as flow-name/deployment-name.
        approval_mode: Gate mode of the evacuation run it starts (ui or slack).
    """
    log = get_run_logger()
    for name in end_abandoned_gates():
        log.warning("flow run %s lost its process at a gate: marked Crashed", name)
    snapshot = read_cloud(cloud, 1)
    now = datetime.now(UTC)
    seen: dict[str, str] = Variable.get(_down_since_name(cloud), default={}) or {}
    down = {h.name for h in snapshot.hosts if not h.is_up}
    seen = {h: t for h, t in seen.items() if h in down}
    started: list[str] = []
    busy = evacuations_in_progress(evacuation_deployment) if down else set()
    for host in sorted(down):
        since = datetime.fromisoformat(seen.setdefault(host, now.isoformat()))
        waited = (now - since).total_seconds()
        holds = len(snapshot.instances_on(host))
        if waited < down_for_s or not holds:
            continue
        emit_event(
            event="novaflow.compute.down",
            resource={"prefect.resource.id": f"novaflow.host.{host}", "novaflow.cloud": cloud},
            payload={"host": host, "down_for_s": waited, "instances": holds},
        )
        if not start_evacuation or host in busy:
            log.info(
                "%s down for %.0fs; evacuation %s",
                host,
                waited,
                "already running" if host in busy else "not started (event only)",
            )
            continue
        run = run_deployment(
            evacuation_deployment,
            parameters={
                "host": host,
                "settings": {"cloud": cloud, "approval": {"mode": approval_mode}},
            },
            timeout=0,
            idempotency_key=f"evacuate-{cloud}-{host}-{since.isoformat()}",
        )
        log.warning(
            "%s down for %.0fs with %d instance(s): started evacuation run %s",
            host,
            waited,
            holds,
            run.name,
        )
        started.append(host)
    Variable.set(_down_since_name(cloud), seen, overwrite=True)
    return started
