"""Flow fixtures: a real Prefect server (test harness), the simulated cloud, and a driver
that runs a flow and answers its gates through Prefect's API, as an approver would."""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from deployments.run_cli import run_foreground
from novaflow.models import RunReport
from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import running_sim
from tasks.connect import forget_clouds

APPROVE = {"approved": True, "comment": "go", "approver": "alice", "via": "cli"}
"""As the terminal answers: novaflow records the channel and the login with the answer."""
APPROVE_FENCED = {**APPROVE, "fenced": True}
REJECT = {"approved": False, "comment": "not now", "fenced": False, "approver": "bob", "via": "ui"}


@pytest.fixture
def cloud_of(prefect_server) -> Iterator[Callable[..., Any]]:
    """Start a sim from a ClusterSpec and point the clouds.yaml cloud 'sim' at it."""
    stack = []

    def start(spec: ClusterSpec, **kwargs: Any):
        kwargs.setdefault("time_scale", 0.002)
        cm = running_sim(spec, **kwargs)
        sim = cm.__enter__()
        stack.append(cm)
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(sim.clouds_yaml)
        forget_clouds()
        return sim

    yield start
    forget_clouds()
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


def drive(flow, answers: dict[str, dict | None] | None = None, **params: Any) -> RunReport:
    """Run `flow` and answer gate `key` with `answers[key]` (None or absent: no answer).

    Returns the report whether the run completed or failed on unfinished moves.
    """
    answers = answers or {}
    report = run_foreground(flow, params, lambda gate: answers.get(gate), show=False)
    assert report is not None, "the flow ended without a report (see its logs)"
    return report


def two_hosts(n: int = 3, **host_fields: Any) -> ClusterSpec:
    spec = ClusterSpec().host("cmp-a", **host_fields).host("cmp-b", **host_fields)
    for i in range(n):
        spec.instance(f"web-{i}", host="cmp-a", flavor="m1.small")
    return spec


@pytest.fixture(scope="session")
def prefect_server(prefect_api: str) -> str:
    """The session's real Prefect server (tests/conftest.py)."""
    return prefect_api


def where(sim, name: str) -> tuple[str, str]:
    """(host, status) of the instance called `name`, read with openstacksdk."""
    conn = sim.connect()
    server = next(conn.compute.servers(details=True, all_projects=True, name=f"^{name}$"))
    return server.compute_host, server.status


def service(sim, host: str):
    conn = sim.connect()
    return next(s for s in conn.compute.services() if s.host == host and s.binary == "nova-compute")


def in_background(fn: Callable[[], Any]) -> threading.Thread:
    """Start `fn` in a thread that sees this test's Prefect settings (the API URL)."""
    thread = threading.Thread(target=contextvars.copy_context().run, args=(fn,), daemon=True)
    thread.start()
    return thread
