"""The real `openstack` CLI (subprocess) against the sim, as an operator would type it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from novaflow.sim.testing import SimHandle, running_sim

OPENSTACK = str(Path(sys.executable).with_name("openstack"))
READS = {
    "servers_on_0": ["server", "list", "--all-projects", "--host", "sim-compute-0"],
    "services": ["compute", "service", "list"],
    "hypervisors": ["hypervisor", "list"],
    "flavor": ["flavor", "show", "c1.pinned"],
    "zones": ["availability", "zone", "list", "--long"],
    "aggregates": ["aggregate", "list", "--long"],
    "groups": ["server", "group", "list", "--all-projects"],
}
# One-shot commands that change state nobody else in this module looks at.
WRITES = {
    "disable": [
        "compute",
        "service",
        "set",
        "--disable",
        "--disable-reason",
        "kernel upgrade",
        "sim-compute-3",
        "nova-compute",
    ],
}


def openstack(sim: SimHandle, *args: str, fmt: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **sim.env}
    cmd = [OPENSTACK, "--os-cloud", sim.cloud_name, *args, *(["-f", "json"] if fmt else [])]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


def parsed(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run_all(
    sim: SimHandle, commands: dict[str, list[str]], fmt: bool = True
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run CLI commands concurrently: each one spends most of its second importing."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {k: pool.submit(openstack, sim, *args, fmt=fmt) for k, args in commands.items()}
        return {k: f.result() for k, f in futures.items()}


@pytest.fixture(scope="module")
def cli_sim() -> Iterator[tuple[SimHandle, dict[str, Any]]]:
    """One seeded sim; the read-only and one-shot commands run concurrently, once."""
    with running_sim(hosts=4, instances=24, seed=1) as sim:
        with sim.state.lock:
            off = next(i for i in sim.state.instances.values() if i.status == "SHUTOFF")
        commands = {
            **{k: [*args, "-f", "json"] for k, args in READS.items()},
            **WRITES,
            "live_off": ["server", "migrate", "--live-migration", off.id],
        }
        results = run_all(sim, commands, fmt=False)
        outputs: dict[str, Any] = {k: parsed(results[k]) for k in READS}
        outputs.update({k: results[k] for k in (*WRITES, "live_off")}, off=off.id)
        yield sim, outputs


def test_server_list_on_a_host(cli_sim: tuple[SimHandle, dict[str, Any]]) -> None:
    sim, out = cli_sim
    rows = out["servers_on_0"]
    assert sorted(r["ID"] for r in rows) == sim.instances_on("sim-compute-0")
    assert all(r["Status"] in ("ACTIVE", "SHUTOFF", "PAUSED") for r in rows)
    assert all(r["Flavor"] and r["Image"] for r in rows)  # names looked up via compute/image


def test_service_and_hypervisor_lists(cli_sim: tuple[SimHandle, dict[str, Any]]) -> None:
    _, out = cli_sim
    computes = [s for s in out["services"] if s["Binary"] == "nova-compute"]
    assert sorted(s["Host"] for s in computes) == [f"sim-compute-{i}" for i in range(4)]
    assert {s["Zone"] for s in computes} == {"az1", "az2"}
    assert sorted(h["Hypervisor Hostname"] for h in out["hypervisors"]) == [
        f"sim-compute-{i}" for i in range(4)
    ]


def test_flavor_zone_aggregate_group_views(cli_sim: tuple[SimHandle, dict[str, Any]]) -> None:
    _, out = cli_sim
    assert out["flavor"]["properties"] == {"hw:cpu_policy": "dedicated"}
    assert {z["Zone Name"] for z in out["zones"]} >= {"az1", "az2"}
    assert {a["Name"] for a in out["aggregates"]} >= {"az1-hosts", "az2-hosts"}
    assert {g["Policy"] for g in out["groups"]} >= {"anti-affinity", "affinity"}


def test_live_migrate_and_list_migrations_with_the_cli(
    cli_sim: tuple[SimHandle, dict[str, Any]],
) -> None:
    sim, _ = cli_sim
    with sim.state.lock:
        inst = next(
            i
            for i in sim.state.instances.values()
            if i.status == "ACTIVE"
            and not i.flavor.extra_specs
            and "novaflow-sim:sriov" not in i.metadata
            and i.host == "sim-compute-0"
        )
    target = "sim-compute-1"
    result = openstack(
        sim, "server", "migrate", "--live-migration", "--host", target, inst.id, fmt=False
    )
    assert result.returncode == 0, result.stderr
    sim.wait_for(
        lambda: sim.host_of(inst.id) == target and sim.status_of(inst.id) == "ACTIVE",
        timeout=20,
        what="live migration to finish",
    )
    after = run_all(
        sim,
        {
            "show": ["server", "show", inst.id],
            "migrations": ["server", "migration", "list", "--server", inst.id],
        },
    )
    shown = parsed(after["show"])
    assert shown["OS-EXT-SRV-ATTR:host"] == target and shown["status"] == "ACTIVE"
    rows = parsed(after["migrations"])
    assert [(r["Status"], r["Dest Compute"]) for r in rows] == [("completed", target)]


def test_cli_shows_novas_error_for_a_wrong_state(cli_sim: tuple[SimHandle, dict[str, Any]]) -> None:
    sim, out = cli_sim
    result = out["live_off"]
    assert result.returncode != 0
    assert f"Cannot 'os-migrateLive' instance {out['off']}" in result.stderr
    assert "while it is in vm_state stopped" in result.stderr
    assert sim.status_of(out["off"]) == "SHUTOFF"


def test_disable_a_compute_service_with_the_cli(cli_sim: tuple[SimHandle, dict[str, Any]]) -> None:
    sim, out = cli_sim
    assert out["disable"].returncode == 0, out["disable"].stderr
    host = sim.state.hosts["sim-compute-3"]
    assert (host.status, host.disabled_reason) == ("disabled", "kernel upgrade")
    conn = sim.connect()
    service = next(s for s in conn.compute.services() if s.host == "sim-compute-3")
    assert (service.status, service.disabled_reason) == ("disabled", "kernel upgrade")
