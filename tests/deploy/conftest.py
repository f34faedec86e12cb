"""Fixtures for deploying novaflow as operators do: `prefect deploy --all` onto a process
work pool, a `prefect worker start` subprocess, and a simulated cloud the worker's flow
runs reach through clouds.yaml."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deployments.processes import stop_group
from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import SimHandle, running_sim, wait_for

REPO = Path(__file__).resolve().parents[2]
POOL = "novaflow"
PREFECT = str(Path(sys.executable).with_name("prefect"))


def tail(path: Path, lines: int = 60) -> str:
    """The end of a log file, for failure messages."""
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def prefect_cli(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    """Run `prefect --no-prompt <args>` from the repo root; its output, or a failure."""
    proc = subprocess.run(
        [PREFECT, "--no-prompt", *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"`prefect {' '.join(args)}` exited {proc.returncode}:\n{output}"
    return output


@dataclass
class Stack:
    """A simulated cloud plus the environment every Prefect subprocess runs with."""

    sim: SimHandle
    env: dict[str, str]
    worker_log: Path
    worker: subprocess.Popen | None = None
    flow_run_ids: list = field(default_factory=list)

    def start_worker(self) -> None:
        # `timeout` bounds the worker's life even if this test process dies before
        # teardown; teardown normally ends its process group long before.
        argv = [PREFECT, "worker", "start", "--pool", POOL, "--limit", "2"]
        if (timeout := shutil.which("timeout")) is not None:
            argv = [timeout, "--kill-after=10", "240", *argv]
        with self.worker_log.open("w") as log:
            self.worker = subprocess.Popen(
                argv,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(
            lambda: self.worker.poll() is not None or "started" in self.worker_log.read_text(),
            timeout=60,
            interval=0.2,
            what=f"the worker to start; its log:\n{tail(self.worker_log)}",
        )
        assert self.worker.poll() is None, (
            f"the worker exited {self.worker.returncode}; its log:\n{tail(self.worker_log)}"
        )

    def worker_output(self) -> str:
        return f"--- worker log ({self.worker_log}) ---\n{tail(self.worker_log)}"


def _end_run(client, flow_run_id) -> None:
    """Cancel a run still going, then wait for its process to exit (killing it if need
    be): a process worker starts each run in its own session, and a run's process whose
    worker is gone does not always exit by itself."""
    from prefect.client.schemas.objects import StateType
    from prefect.states import State

    with contextlib.suppress(Exception):
        run = client.read_flow_run(flow_run_id)
        if run.state is not None and not run.state.is_final():
            client.set_flow_run_state(flow_run_id, State(type=StateType.CANCELLING), force=True)
            with contextlib.suppress(AssertionError):
                wait_for(
                    lambda: client.read_flow_run(flow_run_id).state.is_final(),
                    timeout=20,
                    interval=0.5,
                    what="the cancelled run to end",
                )
            run = client.read_flow_run(flow_run_id)
        pid = (run.infrastructure_pid or "").rpartition(":")[2]
        if pid.isdigit() and not _gone(int(pid)):
            _kill_engine(int(pid))


def _gone(pid: int, timeout: float = 15) -> bool:
    """True once the run's engine process `pid` has exited (within `timeout`)."""
    with contextlib.suppress(AssertionError):
        return wait_for(lambda: not _is_engine(pid), timeout=timeout, interval=0.2)
    return False


def _is_engine(pid: int) -> bool:
    try:
        return b"prefect.engine" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _kill_engine(pid: int) -> None:
    if _is_engine(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def deployed_stack(prefect_api: str, tmp_path: Path) -> Iterator[Callable[[ClusterSpec], Stack]]:
    """Factory: `start(spec)` runs the sim, creates the work pool, runs `prefect deploy
    --all` from the repo root, and returns the Stack; teardown ends runs and the worker."""
    stacks: list[Stack] = []
    with contextlib.ExitStack() as exits:

        def start(spec: ClusterSpec, time_scale: float = 0.002) -> Stack:
            sim = exits.enter_context(running_sim(spec, time_scale=time_scale, directory=tmp_path))
            home = tmp_path / "prefect-home"
            home.mkdir(exist_ok=True)
            env = {
                **os.environ,
                "PREFECT_API_URL": prefect_api,
                "PREFECT_HOME": str(home),
                # Pick a scheduled run up within a second, not the default ten.
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "NOVAFLOW_HOME": str(REPO),
                "OS_CLOUD": sim.cloud_name,
                "OS_CLIENT_CONFIG_FILE": str(sim.clouds_yaml),
            }
            stack = Stack(sim=sim, env=env, worker_log=tmp_path / "worker.log")
            stacks.append(stack)
            prefect_cli("work-pool", "create", POOL, "--type", "process", "--overwrite", env=env)
            prefect_cli("deploy", "--all", env=env, timeout=180)
            return stack

        try:
            yield start
        finally:
            from prefect.client.orchestration import get_client

            with get_client(sync_client=True) as client:
                for stack in stacks:
                    for run_id in stack.flow_run_ids:
                        _end_run(client, run_id)
            for stack in stacks:
                if stack.worker is not None:
                    stop_group(stack.worker, timeout=15)
