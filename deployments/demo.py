"""`novaflow demo`: the main job on the embedded default, end to end, on this machine.

Starts a local Prefect server (UI on 127.0.0.1), the simulated cloud, and every
deployment served from one process; then starts a node maintenance from its deployment,
answers both gates through Prefect's API as an approver would, shows the plan, live
progress and the final report, and ends every process it started (unless --keep).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from rich.markdown import Markdown

from deployments.server_settings import SERVER_SETTINGS
from novaflow.demo_state import DemoStack, forget_demo_state, write_demo_state
from novaflow.output import console as output_console

# Wraps at a terminal; piped to a file or a log, never cuts a cell of the report.
console = output_console()
STATE_DIR = Path(".novaflow")


def free_port(preferred: int) -> int:
    """`preferred` if nothing listens there, else any free loopback port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def wait_http(url: str, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not answer at {url} within {timeout:.0f}s")


class Processes:
    """Child processes that all end together, whatever happens."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        out = log.open("w")
        proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.children.append((name, proc))
        console.print(f"  started {name} (pid {proc.pid}, log {log})")

    def stop(self) -> None:
        for name, proc in reversed(self.children):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            console.print(f"  stopped {name}")


def bin_path(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _as_ctrl_c(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def local_stack(
    hosts: int, instances: int, seed: int, time_scale: float, keep: bool = False
) -> Iterator[dict]:
    """Prefect server + sim + served deployments; yields the environment to talk to them."""
    STATE_DIR.mkdir(exist_ok=True)
    ui_port, sim_port = free_port(4200), free_port(18774)
    api = f"http://127.0.0.1:{ui_port}/api"
    clouds = (STATE_DIR / "clouds.yaml").resolve()
    env = {
        **os.environ,
        "PREFECT_HOME": str((STATE_DIR / "prefect").resolve()),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": api,
        "OS_CLIENT_CONFIG_FILE": str(clouds),
        **SERVER_SETTINGS,
    }
    procs = Processes()
    stack: DemoStack | None = None
    state: list[Path] = []
    # `kill` (SIGTERM) or a closed terminal (SIGHUP) end the demo as Ctrl-C does: every
    # process it started is stopped and its state file removed, nothing is left behind.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _as_ctrl_c)
    try:
        console.print("[bold]Starting the local stack[/bold]")
        procs.start(
            "prefect server",
            [bin_path("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(ui_port)],
            env,
            STATE_DIR / "prefect-server.log",
        )
        procs.start(
            "simulated cloud",
            [
                bin_path("novaflow"),
                "sim",
                "serve",
                "--hosts",
                str(hosts),
                "--instances",
                str(instances),
                "--seed",
                str(seed),
                "--port",
                str(sim_port),
                "--clouds-yaml",
                str(clouds),
                "--time-scale",
                str(time_scale),
            ],
            env,
            STATE_DIR / "sim.log",
        )
        wait_http(f"http://127.0.0.1:{sim_port}/", "the simulated cloud")
        start_prometheus(procs, env, sim_port)
        wait_http(f"{api}/health", "the Prefect server")
        procs.start(
            "deployments (novaflow serve)",
            [bin_path("novaflow"), "serve", "--cloud", "sim"],
            env,
            STATE_DIR / "serve.log",
        )
        stack = DemoStack(
            pid=os.getpid(),
            prefect_api_url=api,
            clouds_yaml=str(clouds),
            prometheus_url=env.get("NOVAFLOW_PROMETHEUS_URL"),
        )
        state = write_demo_state(stack)
        yield env
    finally:
        if keep:
            _wait_for_ctrl_c(procs, stack, env.get("NOVAFLOW_PROMETHEUS_URL"))
        else:
            procs.stop()
        forget_demo_state(state)


def start_prometheus(procs: Processes, env: dict[str, str], sim_port: int) -> None:
    """Prometheus scraping the sim's exporters, so rebalance plans on measured CPU load
    (the served flows read NOVAFLOW_PROMETHEUS_URL); without it, they plan on allocation."""
    from novaflow.sim import prometheus

    if prometheus.binary() is None:
        console.print(f"  [yellow]no Prometheus: {prometheus.NOT_INSTALLED}[/yellow]")
        return
    directory = (STATE_DIR / "prometheus").resolve()
    shutil.rmtree(directory / "data", ignore_errors=True)  # series of an earlier sim
    port = free_port(9090)
    argv = prometheus.command(directory, port, [f"127.0.0.1:{sim_port}"])
    procs.start("prometheus", argv, env, STATE_DIR / "prometheus.log")
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/-/ready", "Prometheus")
    env["NOVAFLOW_PROMETHEUS_URL"] = url
    console.print(f"  Prometheus scrapes the sim's /metrics: {url}")


def _wait_for_ctrl_c(procs: Processes, stack: DemoStack | None, prometheus_url: str | None) -> None:
    console.print("[bold]Everything keeps running; Ctrl-C to stop.[/bold]")
    if stack is not None:
        # `novaflow run` and `novaflow snapshot` in this directory find the demo by
        # themselves; other tools (prefect, openstack) need these two lines.
        console.print("Drive it from a second terminal (in this directory, or after):")
        for line in stack.exports():
            console.print(f"  {line}", markup=False, soft_wrap=True)
    if prometheus_url:
        # The served flows have it already, and `novaflow run` here finds it in the demo's
        # state; a rebalance without it plans on allocation (and says so).
        console.print("Rebalance on the CPU load Prometheus measures (else on allocation):")
        console.print(
            "  novaflow run rebalance --strategy spread --max-moves 5 --dry-run",
            markup=False,
            soft_wrap=True,
        )
    try:
        while all(p.poll() is None for _, p in procs.children):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    procs.stop()


def busiest_host(env: dict[str, str]) -> str:
    """The host with the most instances: the most interesting one to drain."""
    from novaflow.cloud import Cloud

    snap = Cloud.connect("sim", config_file=env["OS_CLIENT_CONFIG_FILE"]).snapshot()
    movable = [h for h in snap.hosts if h.accepts_instances]
    return max(movable, key=lambda h: len(snap.instances_on(h.name))).name


def run_maintenance(env: dict[str, str]) -> int:
    """Start node-maintenance from its deployment, approve its gates, print the report."""
    os.environ.update({k: env[k] for k in ("PREFECT_API_URL", "OS_CLIENT_CONFIG_FILE")})
    from prefect.context import refresh_global_settings_context

    # Prefect read its settings at import: point every thread at the local server.
    refresh_global_settings_context()
    return _maintenance(env)


def _maintenance(env: dict[str, str]) -> int:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    from deployments.run_cli import watch_run

    host = busiest_host(env)
    ui = env["PREFECT_API_URL"].removesuffix("/api")
    console.print(f"[bold]Node maintenance of {host}[/bold] (Prefect UI: {ui})")
    with get_client(sync_client=True) as client:
        _wait_for_deployment(client, "node-maintenance/node-maintenance")
    run = run_deployment(
        "node-maintenance/node-maintenance",
        parameters={
            "host": host,
            "reason": "demo: kernel upgrade",
            "settings": {"cloud": "sim", "max_parallel": 8},
        },
        timeout=0,
    )
    console.print(f"  flow run {run.name}: {ui}/runs/flow-run/{run.id}")

    def answer(gate: str) -> dict:
        console.print(f"  gate [bold]{gate}[/bold]: approved by the demo approver")
        return {"approved": True, "approver": "novaflow demo", "comment": "demo", "via": "ui"}

    with get_client(sync_client=True) as client:

        def current():
            return client.read_flow_run(run.id)

        watch_run(client, current, lambda: not current().state.is_final(), answer, show=True)
        final = current()
        _print_report(client, run.id)
    console.print(f"Flow run {final.name} ended {final.state.name}. Explore it at {ui}/runs")
    return 0 if final.state.is_completed() else 1


def _wait_for_deployment(client, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            client.read_deployment_by_name(name)
            return
        time.sleep(0.5)
    raise RuntimeError(f"deployment {name} was not served within {timeout:.0f}s (see serve.log)")


def _print_report(client, flow_run_id) -> None:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    arts = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    )
    reports = [a for a in arts if a.type == "markdown"]
    if reports:
        console.print(Markdown(max(reports, key=lambda a: a.created).data))
