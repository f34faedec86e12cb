"""Fixtures for the cloud adapter tests: a running simulated cloud and a Cloud connected to it.

The simulated cloud is real HTTP (FastAPI + uvicorn) spoken to by real openstacksdk; nothing is
mocked. `make_sim` (tests/conftest.py, over `novaflow.sim.testing.running_sim`) starts it; the
`SimHandle` it returns is how a test checks what really happened in the cloud.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from novaflow.cloud import Cloud, RetryPolicy
from novaflow.models import Instance, Method, Move
from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import SimHandle

FAST_RETRY = RetryPolicy(attempts=8, initial_s=0.01, max_wait_s=0.05, budget_s=10)
TIME_SCALE = 0.002  # one simulated second in 2 ms: a live migration is ~0.05-0.4 s

Connect = Callable[..., tuple[SimHandle, Cloud]]


@pytest.fixture
def connect(make_sim: Callable[..., SimHandle]) -> Iterator[Connect]:
    """Start a sim from a ClusterSpec and connect a Cloud to it; both closed after the test."""
    clouds: list[Cloud] = []

    def make(spec: ClusterSpec, **sim_kwargs: object) -> tuple[SimHandle, Cloud]:
        sim_kwargs.setdefault("time_scale", TIME_SCALE)
        sim = make_sim(spec, **sim_kwargs)
        cloud = Cloud.connect(sim.cloud_name, config_file=str(sim.clouds_yaml), retry=FAST_RETRY)
        cloud.observer(min_interval=0.01, max_interval=0.1)
        clouds.append(cloud)
        return sim, cloud

    yield make
    for cloud in clouds:
        cloud.close()


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
