"""`novaflow run` at a terminal, driven as an operator drives it: a subprocess whose gates
are answered at its prompt, in the Prefect API (as the UI or Slack do) or not at all, which
is stopped with Ctrl-C, and whose output a script reads."""

from __future__ import annotations

import getpass
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterName,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.flow_runs import resume_flow_run

from deployments.run_cli import CLI_TAG
from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import wait_for
from tasks.locks import claim_name
from tasks.moves import cloud_limit_name, slot_limit_name
from tests.flows.conftest import service, two_hosts, where
from tests.flows.test_cli import NOVAFLOW, novaflow

pytestmark = pytest.mark.timeout(240)


def env_for(sim, **extra: str) -> dict[str, str]:
    return {**os.environ, "OS_CLIENT_CONFIG_FILE": str(sim.clouds_yaml), **extra}


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_cli_left_behind():
    """A failed test must not leave its `novaflow run` holding a host for the next test."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


class Cli:
    """`novaflow ARGS` with a stdin the test types into (and never closes), and its stderr
    read as it comes, so the test can wait for what the operator would see."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [NOVAFLOW, *args],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.err_lines: list[str] = []
        self.out = ""
        STARTED.append(self.proc)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        # In chunks, not lines: a prompt waits for its answer on an unfinished line.
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        while chunk := os.read(fd, 4096):
            self.err_lines.append(chunk.decode(errors="replace"))

    @property
    def err(self) -> str:
        return "".join(self.err_lines)

    def wait_to_see(self, text: str, timeout: float = 120) -> None:
        wait_for(lambda: text in self.err, timeout=timeout, interval=0.2, what=repr(text))

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line)
        self.proc.stdin.flush()

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float = 180) -> int:
        assert self.proc.stdout is not None
        self.out = self.proc.stdout.read()
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code


def paused_cli_run(since: float, key: str):
    """The `novaflow run` flow run paused at gate `key` that started after `since`."""

    def find():
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])),
                    tags=FlowRunFilterTags(all_=[CLI_TAG]),
                )
            )
        return next(
            (
                r
                for r in runs
                if r.state.state_details.pause_key == key and r.created.timestamp() >= since - 1
            ),
            None,
        )

    return wait_for(find, timeout=120, interval=0.3, what=f"a run paused at {key}")


def state_of(run_name: str) -> str:
    """The state of the newest run of that name (names say scenario and host, so earlier
    tests' runs of the same scenario share it)."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[run_name])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
    return runs[0].state.name


def test_prompt_ends_when_the_gate_is_answered_in_the_api_and_the_terminal_answers_the_next(
    cloud_of, prefect_server
):
    sim = cloud_of(two_hosts(2))
    since = time.time()
    cli = Cli("run", "maintenance", "-H", "cmp-a", env=env_for(sim, COLUMNS="200"))
    cli.wait_to_see("Approve? [y/N]")  # maintenance rejects on timeout: the default is No
    assert "Drain cmp-a" in cli.err and "web-1" in cli.err  # the question and the plan
    run = paused_cli_run(since, "approve-plan")
    # Someone approves in the Prefect UI (the same API call the Resume button makes).
    resume_flow_run(run.id, run_input={"approved": True, "approver": "alice", "via": "ui"})
    cli.wait_to_see("gate 'approve-plan' approved by alice via ui")
    cli.wait_to_see("Gate 'maintenance-done'")
    cli.wait_to_see("Approve? [y/N]", timeout=5)
    cli.type("y\n")  # the operator answers the second gate here
    code = cli.finish()
    assert code == 0, cli.out + cli.err
    assert "NotPausedError" not in cli.err and "Traceback" not in cli.err
    assert where(sim, "web-0") == ("cmp-b", "ACTIVE")
    assert service(sim, "cmp-a").status == "enabled"
    assert f"approved by {getpass.getuser()} via cli" in cli.err  # the login, never typed in


def test_a_gate_that_expires_ends_the_prompt_with_its_default_and_the_run_goes_on(
    cloud_of, prefect_server
):
    """The failing-node gate approves when nobody answers: its prompt defaults to Yes, and
    the prompt ends (saying so) when the gate expires; no NotPausedError on the way."""
    sim = cloud_of(two_hosts(2))
    cli = Cli("run", "failing", "-H", "cmp-a", "--approval-timeout", "10", env=env_for(sim))
    cli.wait_to_see("Approve? [Y/n]")
    assert where(sim, "web-0") == ("cmp-a", "ACTIVE")  # nothing moves behind the prompt
    code = cli.finish()  # nobody answers
    assert "expired unanswered: its default action 'approve' applies" in cli.err, cli.err
    assert code == 0, cli.out + cli.err
    assert where(sim, "web-1") == ("cmp-b", "ACTIVE")
    assert service(sim, "cmp-a").status == "disabled"


def test_approval_in_the_ui_does_not_prompt_and_follows_the_run(cloud_of, prefect_server):
    sim = cloud_of(two_hosts(1))
    since = time.time()
    cli = Cli(
        "run", "maintenance", "-H", "cmp-a", "--approval", "ui", "--no-wait-for-done",
        env=env_for(sim),
    )  # fmt: skip
    cli.wait_to_see("answer it in the Prefect UI")
    run = paused_cli_run(since, "approve-plan")
    resume_flow_run(run.id, run_input={"approved": False, "approver": "bob", "via": "ui"})
    code = cli.finish()
    assert "Approve?" not in cli.err
    assert "gate 'approve-plan' rejected by bob via ui" in cli.err, cli.err
    assert code == 3, cli.out + cli.err  # rejected: nothing changed
    assert where(sim, "web-0") == ("cmp-a", "ACTIVE")


def test_dry_run_prints_the_plan_table_and_changes_nothing(cloud_of, prefect_server):
    sim = cloud_of(two_hosts(3))
    done = novaflow(
        "run", "maintenance", "-H", "cmp-a", "--dry-run", env=env_for(sim, COLUMNS="200")
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Plan: drain cmp-a" in done.stdout
    for name in ("web-0", "web-1", "web-2"):
        assert name in done.stdout
    assert "Traceback" not in done.stderr
    assert where(sim, "web-0") == ("cmp-a", "ACTIVE")


def test_json_and_value_output_for_scripts(cloud_of, prefect_server):
    sim = cloud_of(two_hosts(2))
    done = novaflow(
        "run", "maintenance", "-H", "cmp-a", "--yes", "-f", "json",
        env=env_for(sim),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {o["instance_name"]: o["final_host"] for o in report["outcomes"]} == {
        "web-0": "cmp-b",
        "web-1": "cmp-b",
    }
    back = novaflow(
        "run", "maintenance", "-H", "cmp-b", "--yes", "--no-wait-for-done", "-f", "value",
        "-c", "instance", "-c", "now on", env=env_for(sim),
    )  # fmt: skip
    assert back.returncode == 0, back.stderr
    assert sorted(back.stdout.splitlines()) == ["web-0 cmp-a", "web-1 cmp-a"]


def test_ctrl_c_stops_new_moves_waits_for_those_in_flight_and_cancels_the_run(
    cloud_of, prefect_server
):
    spec = ClusterSpec().host("cmp-a").host("cmp-b")
    for i in range(8):
        spec.instance(f"web-{i}", host="cmp-a", flavor="m1.small")
    sim = cloud_of(spec, time_scale=0.05)
    cli = Cli(
        "run", "maintenance", "-H", "cmp-a", "--yes", "--max-parallel", "1",
        env=env_for(sim, COLUMNS="200"),
    )  # fmt: skip
    sim.wait_for(lambda: sim.instances_on("cmp-b"), timeout=120, interval=0.2, what="a move")
    cli.send_signal(signal.SIGINT)
    code = cli.finish()
    out, err = cli.out, cli.err
    assert code == 130, out + err
    assert "Stopping: no new move starts" in err
    assert "cmp-a left disabled" in err  # the summary names the host left disabled
    assert "atexit" not in err and "Traceback" not in err
    names = [f"web-{i}" for i in range(8)]
    placed = {n: where(sim, n) for n in names}
    assert all(status == "ACTIVE" for _, status in placed.values()), placed
    moved = [n for n, (host, _) in placed.items() if host == "cmp-b"]
    assert 0 < len(moved) < 8, placed
    assert service(sim, "cmp-a").status == "disabled"
    run_name = err.split("Run ")[-1].split(" was stopped")[0]
    assert state_of(run_name) == "Cancelled"
    with get_client(sync_client=True) as client:
        assert client.read_variable_by_name(claim_name("cmp-a")) is None  # claim given back
        for limit in (slot_limit_name("cmp-a", "live"), cloud_limit_name("sim")):
            assert client.read_global_concurrency_limit_by_name(limit).active_slots == 0
    # A re-run resumes: the rest moves, nothing moves twice.
    rerun = novaflow("run", "maintenance", "-H", "cmp-a", "--yes", env=env_for(sim))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert all(where(sim, n) == ("cmp-b", "ACTIVE") for n in names)


def test_prefect_cancel_from_outside_stops_the_run(cloud_of, prefect_server):
    spec = ClusterSpec().host("cmp-a").host("cmp-b")
    for i in range(8):
        spec.instance(f"web-{i}", host="cmp-a", flavor="m1.small")
    sim = cloud_of(spec, time_scale=0.05)
    since = time.time()
    cli = Cli("run", "maintenance", "-H", "cmp-a", "--max-parallel", "1", env=env_for(sim))
    run = paused_cli_run(since, "approve-plan")
    resume_flow_run(run.id, run_input={"approved": True, "approver": "alice", "via": "ui"})
    sim.wait_for(lambda: sim.instances_on("cmp-b"), timeout=120, interval=0.2, what="a move")
    prefect = str(Path(NOVAFLOW).with_name("prefect"))
    cancel = subprocess.run(
        [prefect, "flow-run", "cancel", str(run.id)], capture_output=True, text=True, timeout=60
    )
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    code = cli.finish()
    assert "cancelled in Prefect" in cli.err, cli.err
    assert code == 130, cli.out + cli.err
    assert state_of(run.name) == "Cancelled"
    assert all(where(sim, f"web-{i}")[1] == "ACTIVE" for i in range(8))
    with get_client(sync_client=True) as client:
        assert client.read_variable_by_name(claim_name("cmp-a")) is None


def test_projects_by_name_and_no_prefect_is_one_line(cloud_of, prefect_server):
    sim = cloud_of(two_hosts(2))  # the spec's instances belong to project 'demo'
    by_name = novaflow(
        "run", "rebalance", "--strategy", "proximity", "--select-project", "demo",
        "--target-host", "cmp-b", "--dry-run", "-f", "json", env=env_for(sim),
    )  # fmt: skip
    assert by_name.returncode == 0, by_name.stderr
    moves = json.loads(by_name.stdout)["plan"]["moves"]
    assert {m["instance_name"] for m in moves} == {"web-0", "web-1"}
    dead = novaflow(
        "run", "maintenance", "-H", "cmp-a", "--dry-run",
        env=env_for(sim, PREFECT_API_URL="http://127.0.0.1:9/api"),
    )  # fmt: skip
    assert dead.returncode == 2
    assert dead.stderr.strip().splitlines() == [
        "novaflow: the Prefect server at PREFECT_API_URL=http://127.0.0.1:9/api does not "
        "answer; start it, or unset PREFECT_API_URL to use a temporary one"
    ]


def _without(env: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in names}


def test_a_second_terminal_finds_the_demo_or_starts_one_server_and_leaves_nothing(
    cloud_of, prefect_server, tmp_path
):
    """With no PREFECT_API_URL and no OS_CLIENT_CONFIG_FILE, `novaflow` in the demo's
    directory uses the demo's Prefect server and clouds.yaml (while the demo's process
    lives); elsewhere it starts one temporary server and leaves nothing behind."""
    sim = cloud_of(two_hosts(1))
    demo_dir = tmp_path / "repo"
    (demo_dir / ".novaflow").mkdir(parents=True)
    (demo_dir / ".novaflow" / "demo.json").write_text(
        json.dumps(
            {
                "pid": os.getpid(),  # alive while this test runs, as the demo would be
                "prefect_api_url": prefect_server,
                "clouds_yaml": str(sim.clouds_yaml),
            }
        )
    )
    bare = _without(os.environ, "PREFECT_API_URL", "OS_CLIENT_CONFIG_FILE", "XDG_RUNTIME_DIR")
    snap = subprocess.run(
        [NOVAFLOW, "snapshot", "--os-cloud", "sim"], env=bare, cwd=demo_dir,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert snap.returncode == 0, snap.stderr
    assert [i["name"] for i in json.loads(snap.stdout)["instances"]] == ["web-0"]
    run = subprocess.run(
        [NOVAFLOW, "run", "maintenance", "-H", "cmp-a", "--dry-run"], env=bare, cwd=demo_dir,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"Using the demo's Prefect server: {prefect_server.removesuffix('/api')}" in run.stderr

    elsewhere = tmp_path / "elsewhere"
    scratch = tmp_path / "tmp"
    elsewhere.mkdir()
    scratch.mkdir()
    alone = subprocess.run(
        [NOVAFLOW, "run", "maintenance", "-H", "cmp-a", "--dry-run"],
        env={**bare, "OS_CLIENT_CONFIG_FILE": str(sim.clouds_yaml), "TMPDIR": str(scratch)},
        cwd=elsewhere, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert alone.returncode == 0, alone.stderr
    assert alone.stderr.count("starting a temporary Prefect server") == 1
    for noise in ("Errno 98", "Reactive triggers", "Traceback", "Error logging to API"):
        assert noise not in alone.stderr
    # Its home (database, log) is gone; it is deleted only after its server has exited.
    assert list(scratch.iterdir()) == []


def test_a_second_ctrl_c_lists_the_moves_in_flight_and_leaves_and_a_rerun_finishes(
    cloud_of, prefect_server
):
    spec = ClusterSpec().host("cmp-a").host("cmp-b")
    for i in range(6):
        spec.instance(f"web-{i}", host="cmp-a", flavor="m1.small")
    sim = cloud_of(spec, time_scale=0.2)  # moves slow enough to be in flight at the 2nd Ctrl-C
    cli = Cli(
        "run", "maintenance", "-H", "cmp-a", "--yes", "--max-parallel", "2",
        env=env_for(sim, COLUMNS="200"),
    )  # fmt: skip
    sim.wait_for(lambda: sim.migrations(), timeout=120, interval=0.2, what="a move")
    cli.send_signal(signal.SIGINT)
    cli.wait_to_see("Stopping: no new move starts")
    cli.send_signal(signal.SIGINT)
    code = cli.finish()
    assert code == 130, cli.out + cli.err
    assert "Leaving " in cli.err and "web-" in cli.err.split("Leaving ")[1]
    run_name = cli.err.split("Run ")[-1].split(" marked Cancelled")[0]
    assert state_of(run_name) == "Cancelled"
    rerun = novaflow("run", "maintenance", "-H", "cmp-a", "--yes", env=env_for(sim))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert all(where(sim, f"web-{i}") == ("cmp-b", "ACTIVE") for i in range(6))


def test_an_evacuation_answered_at_the_terminal_asks_whether_the_node_is_fenced(
    cloud_of, prefect_server
):
    """The evacuation gate's form requires `fenced`: the terminal asks it after the
    approval, and the answer decides; a 'no' rebuilds nothing."""
    sim = cloud_of(two_hosts(2))
    sim.kill_host("cmp-a")
    refused = Cli("run", "evacuate", "-H", "cmp-a", env=env_for(sim, COLUMNS="200"))
    refused.wait_to_see("Approve? [y/N]")
    refused.type("y\n")
    refused.wait_to_see("Is the node fenced (powered off)?")
    refused.type("n\n")
    assert refused.finish() == 3, refused.out + refused.err  # a rejected gate
    assert where(sim, "web-0")[0] == "cmp-a"  # nothing was rebuilt
    cli = Cli("run", "evacuate", "-H", "cmp-a", env=env_for(sim, COLUMNS="200"))
    cli.wait_to_see("Approve? [y/N]")
    cli.type("y\n")
    cli.wait_to_see("Is the node fenced (powered off)?")
    cli.type("y\n")
    code = cli.finish()
    assert code == 0, cli.out + cli.err
    assert where(sim, "web-0") == ("cmp-b", "ACTIVE")
    assert where(sim, "web-1") == ("cmp-b", "ACTIVE")
