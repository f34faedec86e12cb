"""novaflow deployed as operators deploy it: `prefect deploy --all` onto a process work
pool, a `prefect worker start`, a node maintenance started and approved through Prefect's
API, checked against the simulated cloud with openstacksdk."""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

import yaml
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.flow_runs import resume_flow_run

from novaflow.sim.spec import ClusterSpec
from tests.deploy.conftest import REPO, Stack

DEPLOYMENT = "node-maintenance/node-maintenance"
APPROVE = {"approved": True, "approver": "ci", "comment": "e2e", "via": "ui"}


def maintenance_cluster() -> ClusterSpec:
    """Three hosts; cmp-a holds four instances, one of them shut off (a cold move)."""
    spec = ClusterSpec().host("cmp-a").host("cmp-b").host("cmp-c")
    for i in range(3):
        spec.instance(f"web-{i}", host="cmp-a", flavor="m1.small")
    spec.instance("db-0", host="cmp-a", flavor="m1.medium", status="SHUTOFF")
    spec.instance("cache-0", host="cmp-b", flavor="m1.small")
    return spec


def run_logs(client, flow_run_id, lines: int = 40) -> str:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    logs = client.read_logs(
        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    )
    text = "\n".join(f"{log.level:>2} {log.message}" for log in logs[-lines:])
    return f"--- flow run logs ---\n{text or '(none)'}"


def wait_run(client, stack: Stack, flow_run_id, done, what: str, timeout: float) -> Any:
    """Poll the run until `done(run)`; fail with its state, its logs and the worker's log."""
    deadline = time.monotonic() + timeout
    while True:
        run = client.read_flow_run(flow_run_id)
        if done(run):
            return run
        state = run.state
        ended = state is not None and state.is_final()
        if ended or time.monotonic() > deadline or stack.worker.poll() is not None:
            why = (
                f"the run ended {state.name}: {state.message}"
                if ended
                else f"the worker exited {stack.worker.returncode}"
                if stack.worker.poll() is not None
                else f"timed out after {timeout:.0f}s (state {state.name if state else None})"
            )
            raise AssertionError(
                f"waiting for {what}: {why}\n{run_logs(client, flow_run_id)}\n"
                f"{stack.worker_output()}"
            )
        time.sleep(0.3)


def paused_at(gate: str):
    def check(run) -> bool:
        state = run.state
        return bool(state and state.is_paused() and state.state_details.pause_key == gate)

    return check


def servers(sim) -> dict[str, tuple[str, str]]:
    """name -> (host, status) of every instance, read with openstacksdk."""
    conn = sim.connect()
    return {
        s.name: (s.compute_host, s.status)
        for s in conn.compute.servers(details=True, all_projects=True)
    }


def compute_service(sim, host: str):
    conn = sim.connect()
    return next(s for s in conn.compute.services() if s.host == host and s.binary == "nova-compute")


def test_deployed_maintenance_runs_on_a_worker_and_is_approved_through_the_api(deployed_stack):
    stack: Stack = deployed_stack(maintenance_cluster())
    sim = stack.sim
    stack.start_worker()
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        assert deployment.work_pool_name == "novaflow"
        assert deployment.parameters["settings"] == {"cloud": "sim"}, (
            "prefect.yaml's {{ $OS_CLOUD }} should be resolved at deploy time"
        )
        run = run_deployment(
            DEPLOYMENT,
            parameters={
                "host": "cmp-a",
                "reason": "kernel 6.8",
                # Short gate timeouts: a failed test leaves no run waiting for an hour.
                "settings": {"cloud": "sim", "move_timeout_s": 60, "approval": {"timeout_s": 120}},
            },
            timeout=0,
        )
        stack.flow_run_ids.append(run.id)

        wait_run(client, stack, run.id, paused_at("approve-plan"), "gate approve-plan", 60)
        assert {n: h for n, (h, _) in servers(sim).items()} == {
            "web-0": "cmp-a",
            "web-1": "cmp-a",
            "web-2": "cmp-a",
            "db-0": "cmp-a",
            "cache-0": "cmp-b",
        }, "nothing may move before the plan is approved"
        resume_flow_run(run.id, run_input=APPROVE)

        wait_run(client, stack, run.id, paused_at("maintenance-done"), "gate maintenance-done", 60)
        placed = servers(sim)
        assert not [n for n, (h, _) in placed.items() if h == "cmp-a"], placed
        svc = compute_service(sim, "cmp-a")
        assert svc.status == "disabled" and "kernel 6.8" in (svc.disabled_reason or "")
        resume_flow_run(run.id, run_input=APPROVE)

        final = wait_run(
            client, stack, run.id, lambda r: r.state.is_completed(), "the run to complete", 60
        )
        assert final.work_pool_name == "novaflow"

    placed = servers(sim)
    assert all(host in ("cmp-b", "cmp-c") for host, _ in placed.values()), placed
    assert {n: s for n, (_, s) in placed.items()} == {
        "web-0": "ACTIVE",
        "web-1": "ACTIVE",
        "web-2": "ACTIVE",
        "db-0": "SHUTOFF",
        "cache-0": "ACTIVE",
    }
    assert compute_service(sim, "cmp-a").status == "enabled"


# -- prefect.yaml and deployments/catalog.py declare the same deployments -----------------


def yaml_deployments() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load((REPO / "prefect.yaml").read_text())
    return {d["name"]: d for d in doc["deployments"]}


def entrypoint_of(flow) -> str:
    path = Path(inspect.getsourcefile(flow.fn)).resolve().relative_to(REPO)
    return f"{path.as_posix()}:{flow.fn.__name__}"


def test_prefect_yaml_and_the_serve_catalog_declare_the_same_deployments():
    from deployments.catalog import catalog

    in_yaml = yaml_deployments()
    entries = {e.name: e for e in catalog("sim")}
    assert sorted(in_yaml) == sorted(entries), "deployment names differ"
    assert len(entries) == len(catalog("sim")), "a name is used twice in the catalog"
    for name, entry in entries.items():
        declared = in_yaml[name]
        assert declared["entrypoint"] == entrypoint_of(entry.flow), name
        crons = [(s["cron"], s["timezone"]) for s in declared.get("schedules", [])]
        assert crons == [(c.cron, c.timezone) for c in entry.schedules], name
        inactive = any(not s.get("active", True) for s in declared.get("schedules", []))
        assert inactive == entry.paused, f"{name}: paused in one, active in the other"
        assert declared["work_pool"]["name"] == "novaflow", name
