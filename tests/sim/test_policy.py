"""Nova's default policy in the sim: the `sim-member` user is refused the admin APIs (403)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openstack.config
import pytest
from openstack.connection import Connection

from novaflow.sim.moves.common import live_blocker
from novaflow.sim.testing import SimHandle
from tests.sim.conftest import action, call, error


def member(sim: SimHandle) -> Connection:
    config = openstack.config.OpenStackConfig(config_files=[str(sim.clouds_yaml)])
    return Connection(config=config.get_one(cloud=f"{sim.cloud_name}-member"))


def _refused(rule: str) -> tuple[int, str, str]:
    return 403, "forbidden", f"Policy doesn't allow {rule} to be performed."


@pytest.mark.parametrize(
    ("method", "path", "body", "rule"),
    [
        ("GET", "/os-services", None, "os_compute_api:os-services:list"),
        ("PUT", "/os-services/force-down", {}, "os_compute_api:os-services:update"),
        ("GET", "/os-hypervisors/detail", None, "os_compute_api:os-hypervisors:list-detail"),
        ("GET", "/os-hypervisors", None, "os_compute_api:os-hypervisors:list"),
        ("GET", "/os-migrations", None, "os_compute_api:os-migrations:index"),
        (
            "GET",
            "/servers/detail?all_tenants=1",
            None,
            "os_compute_api:servers:detail:get_all_tenants",
        ),
    ],
)
def test_member_is_refused_admin_apis(
    sim: SimHandle, method: str, path: str, body: Any, rule: str
) -> None:
    resp = call(member(sim), method, path, mv="2.11", json=body)
    assert error(resp) == _refused(rule)


def test_member_cannot_move_servers_but_admin_can(sim: SimHandle) -> None:
    with sim.state.lock:
        demo = sim.state.projects["demo"]
        active = [i for i in sim.state.instances.values() if i.status == "ACTIVE"]
        sid = next(i.id for i in active if i.project_id == demo and not live_blocker(i))
        theirs = next(i.id for i in active if i.project_id != demo)
    conn = member(sim)
    assert error(call(conn, "GET", f"/servers/{theirs}"))[0] == 404  # not its project's
    assert error(action(conn, theirs, {"migrate": None}))[0] == 404
    live = {"os-migrateLive": {"host": None, "block_migration": "auto"}}
    assert error(action(conn, sid, live)) == _refused(
        "os_compute_api:os-migrate-server:migrate_live"
    )
    assert error(action(conn, sid, {"migrate": None})) == _refused(
        "os_compute_api:os-migrate-server:migrate"
    )
    assert error(action(conn, sid, {"evacuate": {}})) == _refused("os_compute_api:os-evacuate")
    assert sim.migrations(sid) == []
    assert action(sim.connect(), sid, live).status_code == 202


def test_member_lists_its_own_project_only(sim: SimHandle) -> None:
    mine = call(member(sim), "GET", "/servers").json()["servers"]
    with sim.state.lock:
        demo = sim.state.projects["demo"]
        expected = {i.id for i in sim.state.instances.values() if i.project_id == demo}
    assert expected and {s["id"] for s in mine} == expected


def test_novaflow_as_member_is_a_refusal_naming_the_rule(sim: SimHandle) -> None:
    """`snapshot` and `plan drain` with policy-refused credentials: exit 2, one line that
    names the rule and the doc listing the rules, no traceback."""
    novaflow = str(Path(sys.executable).with_name("novaflow"))
    env = {k: v for k, v in os.environ.items() if k != "OS_CLOUD"}
    env["OS_CLIENT_CONFIG_FILE"] = str(sim.clouds_yaml)
    cloud = f"{sim.cloud_name}-member"
    commands = [
        ["snapshot", "--os-cloud", cloud],
        ["plan", "drain", "--host", "sim-compute-0", "--os-cloud", cloud],
    ]

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [novaflow, *args], env=env, capture_output=True, text=True, timeout=120
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, commands))
    for result in results:
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        (line,) = result.stderr.strip().splitlines()
        assert "rule os_compute_api:os-services:list" in line
        assert "docs/policy.md" in line and "Traceback" not in result.stderr


def test_run_as_member_is_a_refusal_before_anything_moves(
    make_sim: Callable[..., SimHandle], prefect_api: str
) -> None:
    """`novaflow run` with policy-refused credentials: exit 2 (not 1), the rule named,
    nothing moved or disabled."""
    sim = make_sim(hosts=2, instances=4, seed=1)
    before = {sid: sim.host_of(sid) for sid in sim.instances_on("sim-compute-0")}
    env = {k: v for k, v in os.environ.items() if k != "OS_CLOUD"}
    env.update(OS_CLIENT_CONFIG_FILE=str(sim.clouds_yaml), COLUMNS="300")
    novaflow = str(Path(sys.executable).with_name("novaflow"))
    args = ["run", "maintenance", "--host", "sim-compute-0", "--cloud", "sim-member", "--yes"]
    result = subprocess.run([novaflow, *args], env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "rule os_compute_api:os-services:list" in output and "docs/policy.md" in output
    assert {sid: sim.host_of(sid) for sid in before} == before
    assert sim.cloud.hosts["sim-compute-0"].status == "enabled"


def test_member_is_not_shown_where_its_server_runs(sim: SimHandle) -> None:
    conn = member(sim)
    (first, *_) = call(conn, "GET", "/servers/detail", mv="2.96").json()["servers"]
    assert "OS-EXT-SRV-ATTR:host" not in first and "host_status" not in first
    shown = call(conn, "GET", f"/servers/{first['id']}", mv="2.96").json()["server"]
    assert "OS-EXT-SRV-ATTR:hypervisor_hostname" not in shown
    assert (
        "OS-EXT-SRV-ATTR:host"
        in call(sim.connect(), "GET", f"/servers/{first['id']}").json()["server"]
    )


def test_member_boots_into_its_own_project(sim: SimHandle) -> None:
    conn = member(sim)
    with sim.state.lock:
        image = next(iter(sim.state.images))
    body = {"server": {"name": "mine", "imageRef": image, "flavorRef": "1"}}
    created = call(conn, "POST", "/servers", json=body).json()["server"]
    with sim.state.lock:
        assert sim.state.instances[created["id"]].project_id == sim.state.projects["demo"]
    assert created["id"] in {s["id"] for s in call(conn, "GET", "/servers").json()["servers"]}
    groups = call(conn, "GET", "/os-server-groups?all_projects=True").json()["server_groups"]
    with sim.state.lock:  # Nova ignores all_projects from a non-admin
        demo = sim.state.projects["demo"]
        assert {g["id"] for g in groups} == {
            g.id for g in sim.state.groups.values() if g.project_id == demo
        }
