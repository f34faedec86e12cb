"""Run the whole matrix: baselines first (they size the crash points), then every cell at once.

Cells are independent (own sim, own host and cloud names, own Prefect limits), so they run
concurrently from a thread pool; their flows run in forked child processes. The Prefect
server restart comes last, alone, because it interrupts every run on that server.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from pathlib import Path

from prefect.settings import PREFECT_API_URL

from tests.reliability.faults import FAULTS, FAULTS_BY_KEY, ROWS, Fault, first_migration
from tests.reliability.harness import Cell, CloudsFile, mark_crashed
from tests.reliability.outcome import CellResult
from tests.reliability.scenarios import SCENARIOS

RESTART = "prefect-restart"
RESTART_TITLE = "the Prefect server restarted mid-run (runs that died are re-run)"


class Matrix:
    def __init__(self, work: Path, workers: int = 12, kill_seeds: int | None = None) -> None:
        self.work = work
        self.workers = workers
        self.kill_seeds = kill_seeds
        self.clouds = CloudsFile(work / "clouds.yaml")
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(self.clouds.path)
        self._n = 0
        self.results: dict[tuple[str, str], CellResult] = {}
        self.requests: dict[str, int] = {}

    def cell(self, row: str, fault: str, **kw) -> Cell:
        self._n += 1
        prefix = f"r{self._n}"
        work = self.work / prefix
        work.mkdir()
        scenario = SCENARIOS["evacuation"] if fault == "on-evacuating" else SCENARIOS[row]
        return Cell(scenario, fault, prefix, self.clouds, work, row=row, **kw)

    def _guarded(self, fault: Fault, cell: Cell) -> CellResult:
        started = time.monotonic()
        try:
            result = fault.run(cell)
        except Exception:
            result = CellResult(flow=cell.row, fault=fault.key)
            result.bad.append("harness error: " + traceback.format_exc(limit=3)[-800:])
        result.seconds = time.monotonic() - started
        return result

    def _pool(self, jobs: list[tuple[Fault, Cell]]) -> list[CellResult]:
        with ThreadPoolExecutor(self.workers) as pool:
            futures = [pool.submit(copy_context().run, self._guarded, f, c) for f, c in jobs]
            return [f.result() for f in futures]

    def run(self, rows: list[str] | None = None, faults: list[str] | None = None) -> None:
        rows = rows or ROWS
        wanted = [f for f in FAULTS if faults is None or f.key in faults]
        base = FAULTS_BY_KEY["none"]
        for row, result in zip(
            rows, self._pool([(base, self.cell(r, "none")) for r in rows]), strict=False
        ):
            self.results[(row, "none")] = result
            self.requests[row] = max(result.requests, 10)
        jobs: list[tuple[Fault, Cell]] = []
        for fault in wanted:
            if fault.key == "none":
                continue
            for row in rows:
                reason = fault.na(SCENARIOS[row])
                if reason:
                    self.results[(row, fault.key)] = CellResult(
                        flow=row, fault=fault.key, na=reason
                    )
                    continue
                seeds = self.kill_seeds if fault.seeds > 1 and self.kill_seeds else fault.seeds
                for seed in range(seeds):
                    jobs.append(
                        (
                            fault,
                            self.cell(
                                row, fault.key, seed=seed, requests_per_run=self.requests[row]
                            ),
                        )
                    )
        # The crash cells wait out Prefect's 60 s slot leases: start them first.
        jobs.sort(key=lambda j: j[0].seeds == 1)
        for (fault, cell), result in zip(jobs, self._pool(jobs), strict=False):
            key = (cell.row, fault.key)
            if key in self.results:
                self.results[key].add(result)
                self.results[key].seeds += result.seeds
                self.results[key].seconds = max(self.results[key].seconds, result.seconds)
            else:
                self.results[key] = result
        if faults is None or RESTART in faults:
            self.restart_phase(rows)

    def restart_phase(self, rows: list[str]) -> None:
        """Every flow mid-run when the server restarts; a run that died is marked and re-run."""
        from tests.prefect_server import restart_prefect_server

        cells = [self.cell(r, RESTART, time_scale=0.02) for r in rows]
        started = time.monotonic()
        with _all_up(cells):
            runs = [c.start(c.params()) for c in cells]
            _wait_all(cells, lambda c: first_migration(c.sim), 120)
            restart_prefect_server(PREFECT_API_URL.value())
            for c, (proc, out, name) in zip(cells, runs, strict=False):
                result = c.finish(proc, out)
                if result.report is None or result.state != "Completed":
                    c.notes.append(f"the run ended {result.state} across the restart; re-run")
                    mark_crashed(name)
                    c.run()
                else:
                    c.notes.append("the run survived the restart")
            for c in cells:
                r = c.audit()
                r.seconds = time.monotonic() - started
                self.results[(c.row, RESTART)] = r


class _all_up:
    def __init__(self, cells: list[Cell]) -> None:
        self.cms = [c.cloud_up() for c in cells]

    def __enter__(self) -> None:
        for cm in self.cms:
            cm.__enter__()

    def __exit__(self, *exc: object) -> None:
        for cm in reversed(self.cms):
            cm.__exit__(None, None, None)


def _wait_all(cells: list[Cell], pred: Callable[[Cell], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(pred(c) for c in cells):
        time.sleep(0.02)
