"""The campaign's work step: a command run for a host, or a deployment run with the host."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect import get_client
from prefect.settings import PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW, temporary_settings

from novaflow.campaign_work import run_command
from novaflow.errors import BadRequest
from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import wait_for
from tasks.back_in_service import prove_back_in_service
from tasks.work import run_work

REPO = Path(__file__).resolve().parents[2]


def test_a_command_that_succeeds_keeps_its_output_and_says_how_long():
    result = run_command("sh -c 'echo kernel 6.8 installed on {host}'", "cmp-a", timeout_s=30)
    assert result.ok
    assert result.output == "kernel 6.8 installed on cmp-a\n"
    assert result.detail.startswith("exit 0 in ")
    assert result.started_at <= result.ended_at


def test_a_failing_command_is_reported_with_its_exit_code_and_error_output():
    result = run_command("sh -c 'echo flashing {host}; echo bad checksum >&2; exit 3'", "cmp-a", 30)
    assert not result.ok
    assert result.detail.startswith("exit 3 in ")
    assert result.output == "flashing cmp-a\nbad checksum\n"


def test_a_command_past_its_timeout_is_killed_with_what_it_started(tmp_path: Path):
    marker = tmp_path / "late"
    # The shell's child outlives the shell unless the whole process group is ended.
    template = f"sh -c 'echo started; (sleep 2; touch {marker}) & wait'"
    result = run_command(template, "cmp-a", timeout_s=0.5)
    assert not result.ok
    assert result.detail == "timed out after 0.5 s"
    assert result.output == "started\n"
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(["sleep", "2.5"], timeout=5)
    assert not marker.exists()


def test_the_host_is_one_word_and_never_shell_syntax():
    result = run_command("printf [%s] {host}", "cmp-a.rack-2", timeout_s=30)
    assert result.output == "[cmp-a.rack-2]"
    with pytest.raises(BadRequest, match="cannot be put into a work command"):
        run_command("echo {host}", "cmp-a; rm -rf /", timeout_s=30)


def test_a_command_that_cannot_start_says_so():
    result = run_command("/no/such/tool {host}", "cmp-a", timeout_s=30)
    assert not result.ok
    assert "could not start '/no/such/tool'" in result.detail


def test_run_work_needs_exactly_one_way_of_working(prefect_server):
    with pytest.raises(BadRequest, match="exactly one"):
        run_work("cmp-a", command=None, deployment=None, timeout_s=10)
    with pytest.raises(BadRequest, match="exactly one"):
        run_work("cmp-a", command="true", deployment="fake-work/test", timeout_s=10)


def test_run_work_runs_the_command_for_the_host(prefect_server):
    result = run_work("cmp-a", command="echo rebooting {host}", deployment=None, timeout_s=30)
    assert result.ok
    assert result.output == "rebooting cmp-a\n"


@pytest.fixture(autouse=True)
def _standalone_task_logs():
    """These tests call the work and proof tasks on their own, outside a flow run (the
    campaign flow's tests run them inside one): their log lines then have no flow run to go
    to, which Prefect warns about on every line; they stay in the test's captured log."""
    with temporary_settings({PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW: "ignore"}):
        yield


@pytest.fixture
def served_work(prefect_server: str, tmp_path: Path) -> Iterator[Path]:
    """`fake-work/test` served by a process of its own; yields the file it logs hosts to."""
    log = tmp_path / "worked.txt"
    log.touch()
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server,
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "WORK_LOG": str(log),
    }
    out = tmp_path / "serve.log"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.flows.work_deployment"],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def deployed() -> bool:
        assert proc.poll() is None, out.read_text()
        with get_client(sync_client=True) as client, contextlib.suppress(Exception):
            return client.read_deployment_by_name("fake-work/test") is not None
        return False

    try:
        wait_for(deployed, timeout=90, interval=0.5, what="fake-work/test to be served")
        yield log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_work_deployment_runs_with_the_host_and_its_final_state_decides(served_work: Path):
    done = run_work("cmp-a", command=None, deployment="fake-work/test", timeout_s=120)
    assert done.ok, done.detail
    assert "ended Completed" in done.detail
    assert served_work.read_text() == "cmp-a\n"

    failed = run_work("cmp-bad", command=None, deployment="fake-work/test", timeout_s=120)
    assert not failed.ok
    assert "ended Failed" in failed.detail
    assert "firmware flash failed on cmp-bad" in failed.output
    assert served_work.read_text() == "cmp-a\n"


def test_a_work_deployment_past_its_timeout_fails_and_is_cancelled(served_work: Path):
    result = run_work("cmp-slow", command=None, deployment="fake-work/test", timeout_s=3)
    assert not result.ok
    assert "did not finish within 3.0 s" in result.detail
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
    slow = [r for r in runs if r.parameters.get("host") == "cmp-slow"]

    def cancelled() -> bool:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(slow[0].id).state
        return state is not None and state.name in ("Cancelling", "Cancelled")

    assert wait_for(cancelled, timeout=30, interval=0.5, what="the slow run to be cancelled")


def test_a_sim_host_rebooted_by_the_work_command_is_proven_back_in_service(cloud_of):
    # 900 sim seconds down: 9 real seconds, however slowly the command's Python starts.
    sim = cloud_of(ClusterSpec().host("cmp-a").host("cmp-b"), time_scale=0.01)
    reboot = "-m novaflow.cli sim reboot {host} --os-cloud sim --down-seconds 900"
    work = run_work(
        "cmp-b",
        command=f"{sys.executable} {reboot}",
        deployment=None,
        timeout_s=60,
    )
    assert work.ok, work.output
    assert work.output == "cmp-b rebooting: down now, back in 900 sim seconds\n"
    proof = prove_back_in_service(
        "sim",
        "cmp-b",
        work_started_at=work.started_at,
        work_ended_at=work.ended_at,
        timeout_s=1800,
        canary=True,
    )
    assert proof.ok, proof.detail
    assert proof.saw_restart
    assert proof.detail.startswith("nova-compute on cmp-b reported up at ")
    assert re.search(r"; canary [0-9a-f]{8} ACTIVE on cmp-b in [\d.]+ s, deleted$", proof.detail)
    assert not sim.instances_on("cmp-b")
