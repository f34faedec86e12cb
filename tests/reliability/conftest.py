"""The matrix runs once per session (concurrently), then each cell is checked as its own test."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.matrix import Matrix
from tests.reliability.outcome import CellResult

REPORT_ENV = "NOVAFLOW_RELIABILITY_REPORT"
WORKERS_ENV = "NOVAFLOW_RELIABILITY_WORKERS"
WORKERS = 24
"""Cells at once. Most of a SIGKILL cell (100 of the matrix's ~180) is a sleep while the dead
run's slot leases expire (60 s), so more cells than cores fit: at 10 the matrix took 520-580 s
on 2 cores, at 24 it took 360 s with every cell passing (each cell is a forked flow process of
~150 MB)."""


@pytest.fixture(scope="session")
def matrix(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Every cell's result, keyed (flow, fault). Writes the Markdown table to the path in
    NOVAFLOW_RELIABILITY_REPORT (default: reliability.md in the session's temp dir)."""
    from tests.reliability.faults import KILL_SEEDS
    from tests.reliability.report import commit, render

    work = tmp_path_factory.mktemp("reliability")
    prior = os.environ.get("OS_CLIENT_CONFIG_FILE")
    started, tested = time.monotonic(), commit()
    m = Matrix(work, workers=int(os.environ.get(WORKERS_ENV, WORKERS)), kill_seeds=KILL_SEEDS)
    try:
        m.run()
    finally:
        if prior is None:
            os.environ.pop("OS_CLIENT_CONFIG_FILE", None)
        else:
            os.environ["OS_CLIENT_CONFIG_FILE"] = prior
    results: dict[tuple[str, str], CellResult] = m.results
    out = Path(os.environ.get(REPORT_ENV) or work / "reliability.md")
    out.write_text(render(results, time.monotonic() - started, KILL_SEEDS, tested))
    (work / "results.json").write_text(
        "[" + ",".join(r.model_dump_json() for r in results.values()) + "]"
    )
    print(f"\nreliability matrix written to {out}")
    yield results
