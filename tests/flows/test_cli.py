"""The `novaflow` command as an operator types it: run, snapshot and what-if plans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.flows.conftest import service, two_hosts, where

NOVAFLOW = str(Path(sys.executable).with_name("novaflow"))


def novaflow(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NOVAFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_run_maintenance_with_yes_moves_everything_and_exits_0(cloud_of, prefect_server):
    sim = cloud_of(two_hosts(2))
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(sim.clouds_yaml), "COLUMNS": "200"}
    done = novaflow("run", "maintenance", "--host", "cmp-a", "--cloud", "sim", "--yes", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert where(sim, "web-0") == ("cmp-b", "ACTIVE")
    assert service(sim, "cmp-a").status == "enabled"  # --yes also answered "maintenance done"
    # The report is on stdout (scripts read it, -f json); gates and notes on stderr.
    assert "approved by" in done.stderr and "moved" in done.stdout


def test_bad_input_exits_2_with_a_clear_message_and_moves_nothing(cloud_of, prefect_server):
    sim = cloud_of(two_hosts(1))
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(sim.clouds_yaml)}
    done = novaflow("run", "evacuate", "--host", "cmp-a", "--host", "cmp-b", "--yes", env=env)
    assert done.returncode == 2 and "exactly one --host" in done.stderr
    typo = novaflow("run", "maintenance", "--host", "cmp-x", "--yes", env=env)
    assert typo.returncode == 2 and "did you mean" in typo.stderr, typo.stderr
    share = novaflow("run", "rolling", "--host", "cmp-a", "--max-moved-twice", "1.5", env=env)
    assert share.returncode == 2 and "max_moved_twice is 1.5" in share.stderr, share.stderr
    assert "Traceback" not in share.stderr
    assert where(sim, "web-0") == ("cmp-a", "ACTIVE")


def test_snapshot_then_offline_plan(cloud_of, tmp_path):
    sim = cloud_of(two_hosts(3))
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(sim.clouds_yaml), "COLUMNS": "200"}
    snap = novaflow("snapshot", "--os-cloud", "sim", env=env)
    assert snap.returncode == 0, snap.stderr
    path = tmp_path / "snap.json"
    path.write_text(snap.stdout)
    assert len(json.loads(snap.stdout)["instances"]) == 3
    plan = novaflow(
        "plan", "drain", "--host", "cmp-a", "--snapshot", str(path), "--format", "json", env=env
    )
    moves = json.loads(plan.stdout)["moves"]
    assert plan.returncode == 0 and {m["target"] for m in moves} == {"cmp-b"}
    wrong = novaflow("plan", "drain", "--host", "cmp-x", "--snapshot", str(path), env=env)
    assert wrong.returncode == 2 and "cmp-a" in wrong.stderr
