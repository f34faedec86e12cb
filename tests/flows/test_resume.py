"""Crash and resume, and one run per host: nothing migrated twice, nothing left half-done."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL
from prefect.states import Crashed

from deployments.run_cli import run_foreground
from flows.maintenance import node_maintenance
from flows.params import ApprovalSettings, RunSettings
from tasks.locks import HostBusy
from tests.flows.conftest import REJECT, drive, in_background, two_hosts, where

RUN_IN_CHILD = """
from flows.maintenance import node_maintenance
from flows.params import RunSettings
node_maintenance.with_options(flow_run_name="crashing-run")(
    host="cmp-a", wait_for_done=False,
    settings=RunSettings(cloud="sim", max_parallel=4, approval={"mode": "none"}),
)
"""

DONE_STATES = {"completed", "confirmed", "done"}


def moved_count(sim, server_id: str) -> int:
    return sum(1 for m in sim.migrations(server_id) if m.status in DONE_STATES)


def test_a_killed_run_resumed_with_the_same_parameters_moves_nothing_twice(cloud_of, tmp_path):
    spec = two_hosts(8, max_concurrent_live_migrations=2)
    spec.instance("db-0", host="cmp-a", flavor="m1.small", status="SHUTOFF")
    sim = cloud_of(spec, time_scale=0.01)
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    ids = [sim.server_id(f"web-{i}") for i in range(8)] + [sim.server_id("db-0")]
    with open(tmp_path / "child.log", "w") as log:
        child = subprocess.Popen(
            [sys.executable, "-c", RUN_IN_CHILD], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        sim.wait_for(lambda: sum(moved_count(sim, i) for i in ids) >= 2, timeout=90)
        child.send_signal(signal.SIGKILL)  # mid-run: some moved, some in flight, some not yet
        child.wait()
    with get_client(sync_client=True) as client:  # what a worker does when its process dies
        run = next(r for r in client.read_flow_runs() if r.name == "crashing-run")
        client.set_flow_run_state(run.id, Crashed(message="process killed"), force=True)
    report = drive(
        node_maintenance,
        host="cmp-a",
        wait_for_done=False,
        settings=RunSettings(cloud="sim", max_parallel=4, approval={"mode": "none"}),
    )
    for server_id in ids:
        instance = sim.instance(server_id)
        assert instance.host == "cmp-b", instance.name
        assert instance.task_state is None and not instance.locked, instance.name
        assert moved_count(sim, server_id) == 1, f"{instance.name} migrated twice"
    assert where(sim, "db-0") == ("cmp-b", "SHUTOFF")
    assert report.ok


def test_a_second_run_on_a_busy_host_refuses_and_names_the_holder(cloud_of):
    sim = cloud_of(two_hosts(2))
    first: dict = {}
    gate_open = threading.Event()

    def answer(gate):
        gate_open.set()
        return None

    settings = RunSettings(cloud="sim", approval=ApprovalSettings(timeout_s=15))
    holder = in_background(
        lambda: first.update(
            report=run_foreground(
                node_maintenance,
                {"host": "cmp-a", "settings": settings},
                answer,
                show=False,
            )
        )
    )
    assert gate_open.wait(60)
    with pytest.raises(HostBusy, match=r"being worked on by flow run '[^']+'.*cancel it"):
        node_maintenance(host="cmp-a", settings=RunSettings(cloud="sim"))
    holder.join(120)
    assert where(sim, "web-0") == ("cmp-a", "ACTIVE")
    assert first["report"].gates[0].decision.via == "timeout"


def test_rejected_gate_leaves_the_cloud_unchanged(cloud_of):
    sim = cloud_of(two_hosts(3))
    before = sim.connect().compute.servers(details=True, all_projects=True)
    before = {s.id: (s.compute_host, s.status, s.is_locked) for s in before}
    drive(
        node_maintenance, {"approve-plan": REJECT}, host="cmp-a", settings=RunSettings(cloud="sim")
    )
    after = {
        s.id: (s.compute_host, s.status, s.is_locked)
        for s in sim.connect().compute.servers(details=True, all_projects=True)
    }
    assert after == before
    assert not sim.migrations()
