"""novaflow in production: a Prefect server on PostgreSQL, prefect.yaml deployed with
`prefect deploy --all`, two process workers, and node maintenance run from the deployment
against the simulated cloud, through a dead worker, a server restart and a busy host."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.flow_runs import resume_flow_run
from prefect.states import State

from deployments.production.crashes import HEARTBEAT_S, SILENCE_S
from deployments.server_settings import WORK_POOL
from tests.deploy.test_deployments import paused_at, run_logs
from tests.prefect_server import restart_prefect_server
from tests.production.conftest import LOADED, REPO, Lane

DEPLOYMENT = "node-maintenance/node-maintenance"
MOVED = {"completed", "confirmed", "done"}


def settings(lane: Lane, **more: Any) -> dict[str, Any]:
    return {
        "cloud": lane.sim.cloud_name,
        "max_parallel": 2,
        "move_timeout_s": 300,
        "approval": {"mode": "none"},
        **more,
    }


def start(lane: Lane, host: str, **more: Any):
    """Start node-maintenance of `host` from its deployment, as the UI's Run button does."""
    run = run_deployment(
        DEPLOYMENT,
        parameters={"host": host, "wait_for_done": False, "settings": settings(lane, **more)},
        timeout=0,
    )
    lane.flow_run_ids.append(run.id)
    return run


def wait_run(client, lane: Lane, run_id, done, what: str, timeout: float = 240):
    """Poll the run until `done(run)`; fail with its state, logs and the workers' logs."""
    deadline = time.monotonic() + timeout
    while True:
        run = client.read_flow_run(run_id)
        if done(run):
            return run
        if time.monotonic() > deadline:
            state = run.state
            raise AssertionError(
                f"waiting for {what}: still {state.name if state else None} "
                f"({state.message if state else ''}) after {timeout:.0f}s\n"
                f"{run_logs(client, run_id)}\n{lane.worker_logs()}"
            )
        time.sleep(0.5)


def completed(run) -> bool:
    if run.state.is_final() and not run.state.is_completed():
        raise AssertionError(f"the run ended {run.state.name}: {run.state.message}")
    return run.state.is_completed()


def on_host(lane: Lane, host: str) -> dict[str, str]:
    """id -> name of the instances on `host`, read with openstacksdk."""
    conn = lane.sim.connect()
    return {
        s.id: s.name
        for s in conn.compute.servers(details=True, all_projects=True)
        if s.compute_host == host
    }


def moves_of(lane: Lane, server_id: str) -> int:
    return sum(1 for m in lane.sim.migrations(server_id) if m.status in MOVED)


def moves_since(lane: Lane, before: dict[str, int]) -> dict[str, int]:
    """Migrations done per instance since `before` (an earlier test may have moved it)."""
    return {i: moves_of(lane, i) - n for i, n in before.items()}


def assert_each_moved_once(lane: Lane, host: str, ids: dict[str, str], before) -> None:
    assert not on_host(lane, host), f"{host} still holds {on_host(lane, host)}"
    moved = moves_since(lane, before)
    for server_id, name in ids.items():
        instance = lane.sim.instance(server_id)
        assert instance.host != host and instance.task_state is None, name
        assert not instance.locked, f"{name} left locked"
        assert moved[server_id] == 1, f"{name} migrated {moved[server_id]} times in this run"


def held_slots(client) -> dict[str, int]:
    """novaflow's concurrency limits (the cloud's and each host's) that have slots taken."""
    limits = client.read_global_concurrency_limits(limit=200)
    return {x.name: x.active_slots for x in limits if x.name.startswith("novaflow-")}


def all_slots_given_back(client, lane: Lane) -> None:
    """Every slot is free again: given back by the run, or (a dead run's) expired on the
    server, whose lease storage survives its restarts."""
    lane.sim.wait_for(
        lambda: not any(held_slots(client).values()),
        timeout=180,
        interval=1,
        what=f"every slot given back (held: {held_slots(client)})",
    )
    assert held_slots(client), "the runs took their slots from the server's limits"


def test_the_stack_runs_on_postgresql_with_two_workers_on_the_pool(lane: Lane):
    declared = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    assert lane.sql("select count(*) from deployment") == str(len(declared)), (
        "every deployment of prefect.yaml is in the PostgreSQL database"
    )
    with get_client(sync_client=True) as client:
        workers = {w.name for w in client.read_workers_for_work_pool(WORK_POOL)}
        assert {"worker-1", "worker-2"} <= workers
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        assert deployment.work_pool_name == WORK_POOL


def test_node_maintenance_from_the_deployment_runs_to_completed(lane: Lane):
    ids = on_host(lane, "cmp-a")
    assert len(ids) == LOADED["cmp-a"]
    before = {i: moves_of(lane, i) for i in ids}
    with get_client(sync_client=True) as client:
        run = start(lane, "cmp-a")
        wait_run(client, lane, run.id, completed, "maintenance of cmp-a to complete")
    assert_each_moved_once(lane, "cmp-a", ids, before)
    db = lane.sim.instance(next(i for i, n in ids.items() if n == "cmp-a-db"))
    assert db.status == "SHUTOFF", "a shut-off instance must stay shut off"


def engine_pid(run) -> int:
    return int((run.infrastructure_pid or "").rpartition(":")[2])


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def test_a_killed_worker_s_run_is_crashed_and_its_retry_moves_nothing_twice(lane: Lane):
    ids = on_host(lane, "cmp-b")  # its own, and some of cmp-a's
    assert len(ids) >= LOADED["cmp-b"]
    before = {i: moves_of(lane, i) for i in ids}
    with get_client(sync_client=True) as client:
        run = start(lane, "cmp-b")
        running = wait_run(
            client,
            lane,
            run.id,
            lambda r: r.state.is_running() and r.infrastructure_pid,
            "the run to start",
        )
        lane.sim.wait_for(
            lambda: sum(moves_since(lane, before).values()) >= 2,
            timeout=180,
            what="two moves done",
        )
        # The worker's machine dies: the worker and the run's process with it.
        pid = engine_pid(running)
        worker = next(n for n, p in lane.workers.items() if p.pid == parent_of(pid))
        os.killpg(lane.workers[worker].pid, signal.SIGKILL)
        os.killpg(pid, signal.SIGKILL)
        lane.workers[worker].wait()
        left = on_host(lane, "cmp-b")
        assert left, "the run was killed after its last move; nothing left to resume"

        crashed = wait_run(
            client,
            lane,
            run.id,
            lambda r: r.state.is_final(),
            "the run to be seen as crashed",
            timeout=HEARTBEAT_S + SILENCE_S + 120,
        )
        assert crashed.state.is_crashed(), crashed.state
        assert "heartbeat" in crashed.state.message

        # The UI's Retry on a crashed deployment run; the other worker picks it up.
        client.set_flow_run_state(
            run.id,
            State(type=StateType.SCHEDULED, name="AwaitingRetry", message="Retry from the UI"),
            force=True,
        )
        wait_run(client, lane, run.id, completed, "the retried run to complete")
        all_slots_given_back(client, lane)  # the dead attempt's leases expired
        lane.start_worker(worker)  # the machine is back, for the tests after this one
    assert_each_moved_once(lane, "cmp-b", ids, before)


def test_a_prefect_server_restart_mid_run_does_not_stop_the_run(lane: Lane):
    ids = on_host(lane, "cmp-c")
    before = {i: moves_of(lane, i) for i in ids}
    with get_client(sync_client=True) as client:
        run = start(lane, "cmp-c")
        lane.sim.wait_for(
            lambda: sum(moves_since(lane, before).values()) >= 1,
            timeout=180,
            what="a move done",
        )
        restart_prefect_server(lane.api_url)
        wait_run(client, lane, run.id, completed, "the run to complete after the restart")
        all_slots_given_back(client, lane)
    assert_each_moved_once(lane, "cmp-c", ids, before)


def test_a_second_run_on_the_same_host_is_refused_and_names_the_first(lane: Lane):
    ids = on_host(lane, "cmp-d")
    before = {i: moves_of(lane, i) for i in ids}
    with get_client(sync_client=True) as client:
        first = start(lane, "cmp-d", approval={"mode": "ui", "timeout_s": 600})
        wait_run(client, lane, first.id, paused_at("approve-plan"), "the first run's gate")
        second = start(lane, "cmp-d")
        refused = wait_run(
            client, lane, second.id, lambda r: r.state.is_final(), "the second run to end"
        )
        assert refused.state.is_failed(), refused.state
        first_name = client.read_flow_run(first.id).name
        message = refused.state.message + run_logs(client, second.id)
        assert f"flow run '{first_name}'" in message, message
        reject = {"approved": False, "approver": "ci", "comment": "lane", "via": "ui"}
        resume_flow_run(first.id, run_input=reject)
        wait_run(client, lane, first.id, lambda r: r.state.is_final(), "the first run to end")
    assert on_host(lane, "cmp-d") == ids, "a refused run, or a rejected plan, moves nothing"
    assert not any(moves_since(lane, before).values())


pytestmark = pytest.mark.production
