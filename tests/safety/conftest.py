"""Safety fixtures: a small cloud with one host of each kind, and proof that nothing changed."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from novaflow.cloud import Cloud
from novaflow.sim.clouds_yaml import clouds_config
from novaflow.sim.spec import ClusterSpec
from tasks.connect import forget_clouds
from tests.flows.conftest import cloud_of, prefect_server  # noqa: F401  (fixtures)

# Distinctive secrets: any of them found in a log, artifact, event or message is a leak.
SIM_PASSWORD = "pw-Zq81-sim-sekret-DO-NOT-LOG"
WRONG_PASSWORD = "pw-Wx77-wrong-sekret-DO-NOT-LOG"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def safety_spec() -> ClusterSpec:
    """cmp-a holds two instances, cmp-b is free; one disabled, one dead and one empty host."""
    spec = (
        ClusterSpec()
        .host("cmp-a")
        .host("cmp-b")
        .host("cmp-off", disabled=True, disabled_reason="RMA ticket 4711")
        .host("cmp-dead", up=False)
        .host("cmp-empty")
    )
    spec.instance("web-0", host="cmp-a", flavor="m1.small")
    spec.instance("web-1", host="cmp-a", flavor="m1.small", status="SHUTOFF")
    spec.instance("db-0", host="cmp-dead", flavor="m1.small")
    spec.instance("off-0", host="cmp-off", flavor="m1.small")
    return spec


def cloud_json(clouds_yaml: Path, cloud: str = "sim") -> dict[str, Any]:
    """`Cloud.snapshot()` as JSON, minus `taken_at`, the one field that changes by itself
    (the time of reading). Everything else (hosts' state, status, disabled reason, usage,
    instances' host, status, task state, lock, metadata, addresses) must stay identical."""
    conn = Cloud.connect(cloud, config_file=str(clouds_yaml))
    try:
        data = json.loads(conn.snapshot().model_dump_json())
    finally:
        conn.close()
    data.pop("taken_at")
    return data


def cloud_writes(sim) -> dict[str, int]:
    """Requests that could change the cloud (not Keystone logins, not the sim's control API)."""
    return {
        route: n
        for route, n in sim.stats()["requests"].items()
        if route.split(" ", 1)[0] in WRITES and not route.split(" ", 1)[1].startswith("/identity")
    }


@contextlib.contextmanager
def unchanged(sim, clouds_yaml: Path | None = None) -> Iterator[None]:
    """Assert the block made no write request to Nova and left the snapshot byte-identical."""
    path = clouds_yaml or sim.clouds_yaml
    before = cloud_json(path)
    sim.reset_stats()
    yield
    writes = cloud_writes(sim)
    after = cloud_json(path)
    assert writes == {}, f"write requests reached the cloud: {writes}"
    assert json.dumps(after, sort_keys=True) == json.dumps(before, sort_keys=True)


@pytest.fixture
def safe_cloud(cloud_of, tmp_path: Path) -> Iterator[Callable[..., Any]]:  # noqa: F811
    """Start the safety cluster with a distinctive password; its clouds.yaml also holds
    'sim-wrong' (same cloud, wrong password) for the wrong-credentials cases."""
    written: list[Path] = []
    prior = os.environ.get("OS_CLIENT_CONFIG_FILE")

    def start(**kwargs: Any):
        kwargs.setdefault("password", SIM_PASSWORD)
        sim = cloud_of(safety_spec(), **kwargs)
        both = clouds_config(sim.url, SIM_PASSWORD)
        both["clouds"].update(clouds_config(sim.url, WRONG_PASSWORD, "sim-wrong")["clouds"])
        path = tmp_path / f"clouds-{sim.port}.yaml"
        path.write_text(json.dumps(both, indent=1))
        written.append(path)
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(path)
        forget_clouds()
        sim.clouds_yaml = path
        return sim

    yield start
    # openstacksdk reads OS_CLIENT_CONFIG_FILE before any file a later test names, so a file
    # left behind pointing at a stopped sim would shadow that test's own cloud 'sim'.
    for path in written:
        path.unlink(missing_ok=True)
    if prior is None:
        os.environ.pop("OS_CLIENT_CONFIG_FILE", None)
    else:
        os.environ["OS_CLIENT_CONFIG_FILE"] = prior
