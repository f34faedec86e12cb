"""A sim in a process of its own (`novaflow sim serve`), for benchmarks.

A real cloud never shares novaflow's process. A sim served in novaflow's own process
(`running_sim`) answers each request under the same interpreter lock the client needs, so a
benchmark of the client there measures the two taking turns on one core. Here the sim has its
own interpreter, as Nova and Placement have their own machines; it still shares the CPUs.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from novaflow.sim.spec import ClusterSpec

HOST = "127.0.0.1"


@dataclass(frozen=True)
class SimProcess:
    """Where the served sim answers, and its control calls."""

    url: str
    clouds_yaml: Path
    pid: int
    log: Path

    def stats(self) -> dict[str, Any]:
        """The sim's request counts (GET /sim/stats)."""
        return dict(httpx.get(f"{self.url}/sim/stats", timeout=30).raise_for_status().json())

    def reset_stats(self) -> None:
        httpx.post(f"{self.url}/sim/stats/reset", timeout=30).raise_for_status()


def stop(proc: subprocess.Popen[Any], timeout: float) -> None:
    """Ask a server started here to end (SIGTERM); kill it if it has not within `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_answering(
    url: str, timeout: float = 60, proc: subprocess.Popen[Any] | None = None
) -> None:
    """Until `url` answers below 500 (a server starting up), or RuntimeError, also as soon
    as the server's process `proc` has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server for {url} ended with exit code {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing answered at {url} within {timeout:.0f} s")


@contextlib.contextmanager
def sim_process(
    spec: ClusterSpec, *, time_scale: float, directory: Path | None = None, start_s: float = 120
) -> Iterator[SimProcess]:
    """Serve `spec` from `novaflow sim serve` on a free port, stopped on exit.

    `directory` keeps the spec, clouds.yaml and the sim's log (a temporary one otherwise).
    `start_s` bounds the start: seeding 20,000 instances takes a while on a busy machine.
    """
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sim-")))
        (directory / "spec.json").write_text(spec.model_dump_json())
        port = free_port()
        novaflow = str(Path(sys.executable).with_name("novaflow"))
        log = directory / "sim.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [
                    novaflow, "sim", "serve", "--spec", str(directory / "spec.json"),
                    "--port", str(port), "--time-scale", str(time_scale),
                    "--clouds-yaml", str(directory / "clouds.yaml"),
                ],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            url = f"http://{HOST}:{port}"
            wait_answering(f"{url}/identity/v3", start_s, proc)
            yield SimProcess(url, directory / "clouds.yaml", proc.pid, log)
        finally:
            stop(proc, 20)
