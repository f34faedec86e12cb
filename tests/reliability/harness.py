"""Running one cell: a fresh simulated cloud, flow runs in child processes, triggers, the audit."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.exceptions import ObjectNotFound
from prefect.states import Crashed

from novaflow.sim.clouds_yaml import clouds_config
from novaflow.sim.testing import SimHandle, running_sim
from tasks.prefect_api import quick_retries, retried
from tests.reliability import child
from tests.reliability.outcome import CellResult, RunResult, audit
from tests.reliability.scenarios import SCENARIOS, Scenario, settings

TIME_SCALE = 0.002  # a 60 s live migration takes 0.12 s
RUN_TIMEOUT_S = 180
APPROVE = {"approved": True, "comment": "go", "approver": "reliability", "via": "ui"}


class CloudsFile:
    """One clouds.yaml naming every cell's sim, so concurrent cells (and children) share it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clouds: dict[str, Any] = {}
        self.lock = threading.Lock()
        self._write()

    def add(self, name: str, sim: SimHandle) -> None:
        with self.lock:
            self.clouds.update(clouds_config(sim.url, "secret", name)["clouds"])
            self._write()

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"clouds": self.clouds}, indent=1))
        tmp.replace(self.path)  # readers never see half a file


class Cell:
    """One flow under one fault: its own sim, its own host names, its own cloud name."""

    def __init__(
        self,
        scenario: Scenario,
        fault: str,
        prefix: str,
        clouds: CloudsFile,
        work: Path,
        *,
        row: str | None = None,
        seed: int = 0,
        requests_per_run: int = 100,
        time_scale: float = TIME_SCALE,
    ):
        self.row = row or scenario.key  # the matrix row (the flow under test)
        self.seed = seed
        self.requests_per_run = requests_per_run
        self.time_scale = time_scale
        self.scenario = scenario
        self.fault = fault
        self.prefix = prefix
        self.cloud = f"rel-{prefix}"
        self.clouds = clouds
        self.work = work
        self.results: list[RunResult] = []
        self.owner: dict[str, str] = {}
        self.notes: list[str] = []
        self.sim: SimHandle | None = None
        self.initial: dict[str, tuple[str, str | None, str]] = {}
        self._runs = 0
        self.second_ran = False  # concurrency cells: the second flow was not refused

    @contextlib.contextmanager
    def cloud_up(self, faults: dict[str, Any] | None = None) -> Iterator[SimHandle]:
        spec = self.scenario.build(self.prefix)
        with running_sim(
            spec, time_scale=self.time_scale, faults=faults, directory=self.work
        ) as sim:
            self.sim = sim
            self.clouds.add(self.cloud, sim)
            if self.scenario.dead_source:
                sim.kill_host(f"{self.prefix}-a")
            with sim.state.lock:
                self.initial = {
                    i.id: (i.name, i.host, i.status) for i in sim.state.instances.values()
                }
            yield sim

    def params(self, **settings_kw: Any) -> dict[str, Any]:
        return self.scenario.params(self.prefix, settings(self.cloud, **settings_kw))

    def start(self, params: dict[str, Any], scenario: Scenario | None = None) -> tuple:
        """Start a flow run (this cell's flow, or `scenario`'s) in a child process."""
        self._runs += 1
        name = f"{self.cloud}-run{self._runs}"
        out = self.work / f"{name}.pickle"
        flow_name = (scenario or self.scenario).flow_name
        return child.start(flow_name, params, name, out), out, name

    def finish(self, proc: Any, out: Path, keep: bool = True) -> RunResult:
        proc.join(RUN_TIMEOUT_S)
        if proc.is_alive():
            proc.kill()
            proc.join()
            result = RunResult(state="Timeout", error=f"no end within {RUN_TIMEOUT_S} s")
        elif out.exists():
            result = pickle.loads(out.read_bytes())
        else:
            result = RunResult(state="Died", error=f"the run's process exited {proc.exitcode}")
        if keep:
            self.results.append(result)
        return result

    def run(self, **settings_kw: Any) -> RunResult:
        """One flow run; a run Prefect refused to even create (an overloaded server's 503)
        is started again, as an operator would: nothing had happened yet."""
        for attempt in range(3):
            proc, out, _ = self.start(self.params(**settings_kw))
            result = self.finish(proc, out)
            if result.state != "NotStarted" or attempt == 2:
                break
            self.results.remove(result)
            self.notes.append(f"a run could not start ({result.error}); started again")
        return result

    def audit(self) -> CellResult:
        assert self.sim is not None
        sources = self.scenario.sources(self.prefix)
        if self.row != self.scenario.key and self.second_ran:  # its sources count as well
            extra = SCENARIOS[self.row].sources(self.prefix)
            sources = None if sources is None or extra is None else sources | extra
        cell = audit(
            self.sim, self.row, self.fault, self.initial, sources, self.results, self.owner
        )
        cell.notes += self.notes
        for r in self.results:
            if r.error and r.report is None:
                cell.notes.append(f"a run ended {r.state}: {r.error[:300]}")
        return cell


PATIENCE_S = 120
"""How long a harness call to the Prefect server is asked again on a server hiccup (503,
connection refused): the product's own patience (tasks.prefect_api.retried) and its quick
503 retries (QuickRetries), so a busy server fails a cell only where it would fail a run."""


@contextlib.contextmanager
def prefect() -> Iterator[Any]:
    """A Prefect client with the product's quick retries on a refused (503) request."""
    with get_client(sync_client=True) as client:
        yield quick_retries(client)


def find_run(client: Any, run_name: str) -> Any:
    runs = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[run_name])), limit=1
    )
    return runs[0] if runs else None


@retried(within_s=PATIENCE_S)
def _find_run(run_name: str) -> Any:
    with prefect() as client:
        return find_run(client, run_name)


@retried(within_s=PATIENCE_S)
def mark_crashed(run_name: str) -> None:
    """What a worker does when its flow-run process dies: the run is Crashed, not Running."""
    with prefect() as client:
        run = find_run(client, run_name)
        if run is not None:
            client.set_flow_run_state(run.id, Crashed(message="process killed"), force=True)


def wait_paused(run_name: str, timeout: float) -> bool:
    """Bounded poll until the run waits at a gate (it then holds its hosts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _find_run(run_name)
        if run is not None and run.state and run.state.is_paused():
            return True
        if run is not None and run.state and run.state.is_final():
            return False
        time.sleep(0.2)
    return False


@retried(within_s=PATIENCE_S)
def approve(run_name: str) -> None:
    """Answer the run's gate as an approver would in the UI (fenced, for an evacuation)."""
    with prefect() as client:
        run = find_run(client, run_name)
        if run is not None and run.state and run.state.is_paused():
            client.resume_flow_run(run.id, run_input={**APPROVE, "fenced": True})


@retried(within_s=PATIENCE_S)
def _busy_slots(names: list[str]) -> int:
    busy = 0
    with prefect() as client:
        for name in names:
            try:
                busy += client.read_global_concurrency_limit_by_name(name).active_slots
            except ObjectNotFound:  # not created before the kill
                continue
    return busy


def wait_slots_free(names: list[str], timeout: float = 150) -> None:
    """Bounded wait until the server has freed a dead run's concurrency slots (lease expiry)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _busy_slots(names) == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"concurrency slots {names} still held after {timeout} s")


class Trigger:
    """A watcher thread: when `when(sim)` first holds, do `then(sim)` (once), mid-run."""

    def __init__(self, sim: SimHandle, when: Callable[[SimHandle], Any], then: Callable) -> None:
        self.sim, self.when, self.then = sim, when, then
        self.fired: Any = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            hit = self.when(self.sim)
            if hit:
                try:
                    self.fired = self.then(self.sim, hit) or hit
                except Exception as exc:
                    self.error = f"{type(exc).__name__}: {exc}"
                return
            self._stop.wait(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def first_migration(sim: SimHandle) -> Any:
    with sim.state.lock:
        return next(iter(sim.state.migrations.values()), None)


def env_ok() -> bool:
    return bool(os.environ.get("PREFECT_API_URL"))
