"""Helpers for the simulated-cloud tests: small precise clusters and raw API calls via the SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import SimHandle


def pair_spec(**host_a: Any) -> ClusterSpec:
    """Host a (az1) with a few instances of each kind; hosts b (az1) and c (az2) empty."""
    return (
        ClusterSpec(projects=["admin", "demo"])
        .host("a", **host_a)
        .host("b")
        .host("c", zone="az2")
        .instance("web-1", host="a", flavor="m1.small")
        .instance("web-2", host="a", flavor="m1.medium")
        .instance("db-1", host="a", flavor="m1.large", status="SHUTOFF")
        .instance("tpm-1", host="a", flavor="s1.vtpm")
        .instance("gpu-1", host="a", flavor="g1.pci")
        .instance("sriov-1", host="a", flavor="m1.small", sriov=True)
        .instance("pinned-1", host="a", flavor="c1.pinned")
        .instance("paused-1", host="a", flavor="m1.tiny", status="PAUSED")
        .instance("bfv-1", host="a", flavor="m1.small", image=None, volumes=1)
    )


@pytest.fixture
def frozen(make_sim: Callable[..., SimHandle]) -> Callable[..., SimHandle]:
    """A sim whose clock stands still until the test calls `sim.advance(seconds)`."""

    def make(spec: ClusterSpec | None = None, **kwargs: Any) -> SimHandle:
        return make_sim(spec or pair_spec(), time_scale=0, **kwargs)

    return make


def call(conn: Any, method: str, path: str, mv: str = "2.96", **kwargs: Any) -> Any:
    """A raw compute API request through openstacksdk's adapter (auth, endpoint, headers)."""
    return conn.compute.request(path, method, microversion=mv, **kwargs)


def action(conn: Any, server_id: str, body: dict[str, Any], mv: str = "2.96") -> Any:
    return call(conn, "POST", f"/servers/{server_id}/action", mv, json=body)


def error(resp: Any) -> tuple[int, str, str]:
    """(status, Nova fault name, message) of an error response."""
    body = resp.json()
    ((name, fault),) = body.items()
    return resp.status_code, name, fault["message"]
