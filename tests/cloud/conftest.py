"""Fixtures for the cloud adapter tests: a running simulated cloud and a Cloud connected to it.

The simulated cloud is real HTTP (FastAPI + uvicorn) spoken to by real openstacksdk; nothing is
mocked. `novaflow.sim.testing` provides the harness; the tests skip until it exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from novaflow.cloud import Cloud, RetryPolicy
from novaflow.models import Instance, Method, Move

FAST_RETRY = RetryPolicy(attempts=8, initial_s=0.01, max_wait_s=0.05, budget_s=10)
TIME_SCALE = 0.002  # one simulated second in 2 ms: a live migration is ~0.05-0.4 s


@pytest.fixture
def connect() -> Iterator[Callable[..., tuple[Any, Cloud]]]:
    """Start a sim from a ClusterSpec and connect a Cloud to it; both closed after the test."""
    testing = pytest.importorskip("novaflow.sim.testing")
    stack: list[AbstractContextManager[Any]] = []
    clouds: list[Cloud] = []

    def make(spec: Any, **sim_kwargs: Any) -> tuple[Any, Cloud]:
        sim_kwargs.setdefault("time_scale", TIME_SCALE)
        ctx = testing.running_sim(spec, **sim_kwargs)
        sim = ctx.__enter__()
        stack.append(ctx)
        cloud = Cloud.connect(sim.cloud_name, config_file=str(sim.clouds_yaml), retry=FAST_RETRY)
        cloud.observer(min_interval=0.01, max_interval=0.1)
        clouds.append(cloud)
        return sim, cloud

    yield make
    for cloud in clouds:
        cloud.close()
    for ctx in reversed(stack):
        ctx.__exit__(None, None, None)


def find(cloud: Cloud, name: str) -> Instance:
    snap = cloud.snapshot()
    return next(i for i in snap.instances if i.name == name)


def move_of(
    inst: Instance, method: Method, target: str | None = None, fallback: Method | None = None
) -> Move:
    assert inst.host is not None
    return Move(
        instance_id=inst.id,
        instance_name=inst.name,
        source=inst.host,
        target=target,
        method=method,
        fallback=fallback,
        reason="test",
    )


def truth(sim: Any) -> Any:
    """The sim's own state (novaflow.sim.state.SimCloud), to check what really happened."""
    return getattr(sim, "state", None) or sim.cloud
