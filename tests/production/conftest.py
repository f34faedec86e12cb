"""The production lane's stack, built as the README's production recipe builds it: PostgreSQL
(deployments/production/postgres.py), a Prefect server on it with the settings of
deployments/server_settings.py, the crash-detection automation, a process work pool,
`prefect deploy --all` from prefect.yaml, and two process workers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deployments.processes import stop_group
from deployments.production.crashes import WORKER_SETTINGS, ensure_crash_detection
from deployments.production.postgres import Postgres, running_postgres
from deployments.server_settings import WORK_POOL
from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import SimHandle, running_sim, wait_for
from tests.deploy.conftest import _kill_engine, prefect_cli, tail
from tests.prefect_server import free_port, running_prefect_server

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/production/" in str(item.fspath):
            item.add_marker(pytest.mark.production)
            item.add_marker(pytest.mark.timeout(900))


LOADED = {"cmp-a": 6, "cmp-b": 8, "cmp-c": 6, "cmp-d": 2}
"""Instances per host at the start: each test drains a host of its own."""


def lane_cluster() -> ClusterSpec:
    """Six hosts, four of them loaded (one shut-off instance each: a cold move), two live
    migrations at a time per host, as a Nova of modest settings runs them."""
    spec = ClusterSpec()
    for name in (*LOADED, "cmp-e", "cmp-f"):
        spec.host(name, max_concurrent_live_migrations=2)
    for host, count in LOADED.items():
        for i in range(count - 1):
            spec.instance(f"{host}-web-{i}", host=host, flavor="m1.small")
        spec.instance(f"{host}-db", host=host, flavor="m1.small", status="SHUTOFF")
    return spec


@dataclass
class Lane:
    """The production stack: where its parts are and how to drive them."""

    api_url: str
    pg: Postgres
    sim: SimHandle
    env: dict[str, str]
    logs: Path
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    flow_run_ids: list = field(default_factory=list)

    def start_worker(self, name: str) -> subprocess.Popen:
        log = self.logs / f"worker-{name}.log"
        with log.open("a") as out:
            proc = subprocess.Popen(
                [PREFECT, "worker", "start", "--pool", WORK_POOL, "--name", name, "--limit", "4"],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers[name] = proc
        wait_for(
            lambda: proc.poll() is not None or "started" in log.read_text(),
            timeout=120,
            interval=0.3,
            what=f"worker {name} to start; its log:\n{tail(log)}",
        )
        assert proc.poll() is None, f"worker {name} exited {proc.returncode}:\n{tail(log)}"
        return proc

    def sql(self, query: str) -> str:
        """One value from the Prefect server's PostgreSQL database, read with psql."""
        argv = ["psql", "-h", "127.0.0.1", "-p", str(self.pg.port), "-U", "prefect"]
        done = subprocess.run(
            [*argv, "-d", "prefect", "-tAc", query], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def worker_logs(self) -> str:
        return "\n".join(
            f"--- worker {name} ---\n{tail(self.logs / f'worker-{name}.log', 30)}"
            for name in self.workers
        )


def _kill_run_process(client, flow_run_id) -> None:
    """A run still going at teardown: cancel it and make sure its process is gone."""
    from prefect.client.schemas.objects import StateType
    from prefect.states import State

    with contextlib.suppress(Exception):
        run = client.read_flow_run(flow_run_id)
        if run.state is not None and not run.state.is_final():
            client.set_flow_run_state(flow_run_id, State(type=StateType.CANCELLED), force=True)
        pid = (run.infrastructure_pid or "").rpartition(":")[2]
        if pid.isdigit():
            _kill_engine(int(pid))  # only if that pid is still a flow run's process


@pytest.fixture(scope="module")
def lane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lane]:
    """The whole production stack, once for the module's tests (they share it, as an
    operator's runs share one server and its workers)."""
    from prefect.client.orchestration import get_client

    logs = tmp_path_factory.mktemp("production")
    for home in ("prefect-home", "client-home"):
        (logs / home).mkdir()
    with contextlib.ExitStack() as exits:
        pg = exits.enter_context(running_postgres(free_port()))
        api_url = exits.enter_context(
            running_prefect_server(logs / "prefect-home", database_url=pg.url)
        )
        sim = exits.enter_context(running_sim(lane_cluster(), time_scale=0.1, directory=logs))
        env = {
            **os.environ,
            "PREFECT_API_URL": api_url,
            "PREFECT_HOME": str(logs / "client-home"),
            "PREFECT_LOGGING_LEVEL": "INFO",
            "PREFECT_WORKER_QUERY_SECONDS": "1",  # pick a run up within a second, not ten
            "NOVAFLOW_HOME": str(REPO),
            "OS_CLOUD": sim.cloud_name,
            "OS_CLIENT_CONFIG_FILE": str(sim.clouds_yaml),
            **WORKER_SETTINGS,
        }
        with get_client(sync_client=True) as client:
            ensure_crash_detection(client)
        prefect_cli("work-pool", "create", WORK_POOL, "--type", "process", env=env)
        prefect_cli("deploy", "--all", env=env, timeout=300)
        lane = Lane(api_url=api_url, pg=pg, sim=sim, env=env, logs=logs)
        try:
            lane.start_worker("worker-1")
            lane.start_worker("worker-2")
            yield lane
        finally:
            with get_client(sync_client=True) as client:
                for run_id in lane.flow_run_ids:
                    _kill_run_process(client, run_id)
            for proc in lane.workers.values():
                stop_group(proc)
