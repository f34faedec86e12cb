"""Shared pytest fixtures: a simulated OpenStack cloud per test (`sim`, `make_sim`)."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import SimHandle, running_sim


@pytest.fixture
def make_sim(tmp_path: Path) -> Iterator[Callable[..., SimHandle]]:
    """Factory: `make_sim(spec=None, hosts=4, instances=24, seed=1, time_scale=..., faults=...)`.

    Every sim it starts runs on its own free 127.0.0.1 port with its own clouds.yaml and
    stops when the test ends.
    """
    counter = itertools.count()
    with contextlib.ExitStack() as stack:

        def make(spec: ClusterSpec | None = None, **kwargs: Any) -> SimHandle:
            directory = tmp_path / f"sim-{next(counter)}"
            directory.mkdir()
            kwargs.setdefault("directory", directory)
            return stack.enter_context(running_sim(spec, **kwargs))

        yield make


@pytest.fixture
def sim(make_sim: Callable[..., SimHandle]) -> SimHandle:
    """A fresh seeded cluster: 4 hosts, 24 instances, seed 1."""
    return make_sim(hosts=4, instances=24, seed=1)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `prefect server start` process (SQLite, no UI) for the whole session.

    Unlike Prefect's in-process test harness, a real server runs its background services,
    among them the one that frees the concurrency slots of a run whose process died, which
    the crash-and-resume tests rely on.
    """
    from tests.prefect_server import running_prefect_server

    with running_prefect_server(tmp_path_factory.mktemp("prefect")) as api_url:
        yield api_url
