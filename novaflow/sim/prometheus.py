"""A real Prometheus server scraping the sim's `/metrics`, for the tests and the demo.

It is Debian's `prometheus` binary (installed by `deploy/prometheus.sh`), run as a child
process on a free loopback port with its own data directory, never the package's service.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from novaflow.sim.process import stop

NOT_INSTALLED = (
    "the prometheus binary is not installed: run `sudo deploy/prometheus.sh` (Debian's "
    "prometheus package), or set NOVAFLOW_NO_PROMETHEUS=1 to leave out what needs it"
)


def binary() -> str | None:
    """The prometheus executable, from $PATH or where Debian's package puts it."""
    found = shutil.which("prometheus")
    if found:
        return found
    return "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None


def config(targets: list[str], scrape_interval: str = "1s") -> str:
    """A scrape config for the sims at `targets` (host:port); keeps the sim's `instance`
    label, which names the compute host as each host's own exporters would."""
    listed = ", ".join(f'"{t}"' for t in targets)
    return (
        "global:\n"
        f"  scrape_interval: {scrape_interval}\n"
        f"  evaluation_interval: {scrape_interval}\n"
        "scrape_configs:\n"
        "  - job_name: novaflow-sim\n"
        "    honor_labels: true\n"
        "    metrics_path: /metrics\n"
        f"    static_configs: [{{targets: [{listed}]}}]\n"
    )


def command(
    directory: Path, port: int, targets: list[str], scrape_interval: str = "1s"
) -> list[str]:
    """The command line of a Prometheus on 127.0.0.1:`port` scraping `targets`, keeping its
    config and data under `directory` (written here)."""
    exe = binary()
    if exe is None:
        raise RuntimeError(NOT_INSTALLED)
    directory.mkdir(parents=True, exist_ok=True)
    cfg = directory / "prometheus.yml"
    cfg.write_text(config(targets, scrape_interval))
    return [
        exe,
        f"--config.file={cfg}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_prometheus(
    targets: list[str], directory: Path, scrape_interval: str = "1s", timeout: float = 60
) -> Iterator[str]:
    """Start Prometheus scraping `targets`; yields its base URL; stops it on exit."""
    port = _free_port()
    argv = command(directory, port, targets, scrape_interval)
    url = f"http://127.0.0.1:{port}"
    log = (directory / "prometheus.log").open("w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited with {proc.returncode}; see {directory / 'prometheus.log'}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus did not get ready at {url} in {timeout:.0f}s")
            time.sleep(0.2)
        yield url
    finally:
        stop(proc, 15)
        log.close()


def wait_for_series(url: str, promql: str, timeout: float = 60) -> None:
    """Wait until `promql` returns a sample (Prometheus needs a few scrapes for a rate)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            body = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
            if body["data"]["result"]:
                return
        time.sleep(0.5)
    raise RuntimeError(f"no samples for {promql} at {url} within {timeout:.0f}s")
