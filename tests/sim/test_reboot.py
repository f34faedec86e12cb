"""A sim host can be worked on: rebooted, with a node that never returns or a nova-compute
that crashes on start, through the control API and `novaflow sim reboot`."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import httpx

from novaflow.cloud import parse_uptime
from novaflow.sim.testing import SimHandle


def reboot(sim: SimHandle, host: str, **body: object) -> dict:
    resp = httpx.post(f"{sim.url}/sim/hosts/{host}/reboot", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def compute_service(sim: SimHandle, host: str):
    conn = sim.connect(compute_api_version="2.53")
    return next(s for s in conn.compute.services() if s.host == host)


def hypervisor(sim: SimHandle, host: str) -> dict:
    conn = sim.connect()
    resp = conn.compute.get(
        f"/os-hypervisors/detail?hypervisor_hostname_pattern={host}", microversion="2.88"
    )
    return resp.json()["hypervisors"][0]


def summary(sim: SimHandle, host: str) -> dict:
    return httpx.get(f"{sim.url}/sim/summary", timeout=10).json()["hosts"][host]


def test_a_rebooted_host_goes_down_and_comes_back_with_a_new_boot_time(frozen):
    sim = frozen()
    booted_before = summary(sim, "b")["booted_at"]
    sim.advance(100)
    reboot(sim, "b", down_seconds=60)
    down = compute_service(sim, "b")
    assert down.state == "down"
    assert hypervisor(sim, "b")["uptime"] is None
    sim.advance(59)
    assert compute_service(sim, "b").state == "down"
    assert compute_service(sim, "b").updated_at == down.updated_at  # no heartbeat meanwhile

    sim.advance(2)
    back = compute_service(sim, "b")
    assert back.state == "up"
    assert back.updated_at > down.updated_at
    assert summary(sim, "b")["booted_at"] > booted_before
    sim.advance(150)
    assert parse_uptime(hypervisor(sim, "b")["uptime"]).total_seconds() == 120  # 151 s, to the min


def test_instances_on_a_rebooted_host_are_found_shut_off(frozen):
    sim = frozen()
    web = sim.server_id("web-1")
    reboot(sim, "a", down_seconds=30)
    sim.advance(31)
    assert sim.status_of(web) == "SHUTOFF"
    assert sim.host_of(web) == "a"


def test_a_host_that_never_returns_stays_down(frozen):
    sim = frozen()
    reboot(sim, "b", down_seconds=60, fault="never_returns")
    sim.advance(10_000)
    assert compute_service(sim, "b").state == "down"
    assert summary(sim, "b")["state"] == "down"


def test_a_nova_compute_that_crashes_on_start_touches_its_record_once_and_stays_down(frozen):
    sim = frozen()
    reboot(sim, "b", down_seconds=60, fault="returns_failing")
    went_down = compute_service(sim, "b").updated_at
    sim.advance(300)
    svc = compute_service(sim, "b")
    assert svc.state == "down"
    touched = datetime.fromisoformat(svc.updated_at)
    assert (touched - datetime.fromisoformat(went_down)).total_seconds() == 62
    assert summary(sim, "b")["booted_at"] > summary(sim, "c")["booted_at"]


def test_novaflow_sim_reboot_reboots_the_host_of_the_clouds_yaml_entry(frozen):
    sim = frozen()
    resp = httpx.post(
        f"{sim.url}/sim/hosts/b/reboot-fault", json={"fault": "never_returns"}, timeout=10
    )
    assert resp.status_code == 200
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(sim.clouds_yaml)}
    cli = [sys.executable, "-m", "novaflow.cli", "sim", "reboot"]
    out = subprocess.run(
        [*cli, "b", "--os-cloud", sim.cloud_name, "--down-seconds", "30"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "b rebooting: down now, back in 30 sim seconds (never_returns)"
    sim.advance(1000)
    assert compute_service(sim, "b").state == "down"

    unknown = subprocess.run(
        [*cli, "nosuch", "--os-cloud", sim.cloud_name], env=env, capture_output=True, text=True
    )
    assert unknown.returncode == 1
    assert "Compute host nosuch could not be found" in unknown.stderr


def test_the_brief_summary_counts_each_hosts_instances_and_shows_a_reboot(frozen):
    sim = frozen()
    full = httpx.get(f"{sim.url}/sim/summary", timeout=10).json()["hosts"]
    brief = httpx.get(f"{sim.url}/sim/summary?brief=true", timeout=10).json()
    assert {h: v["instances"] for h, v in brief["hosts"].items()} == {
        h: len(v["instances"]) for h, v in full.items()
    }
    assert sum(v["instances"] for v in brief["hosts"].values()) > 0
    reboot(sim, "b", down_seconds=60)
    after = httpx.get(f"{sim.url}/sim/summary?brief=true", timeout=10).json()
    assert after["hosts"]["b"]["state"] == "down" and after["now"] >= brief["now"]
