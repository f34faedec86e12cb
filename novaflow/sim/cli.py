"""`novaflow sim ...`: run the simulated cloud."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from novaflow.sim.spec import NovaConf

sim_app = typer.Typer(no_args_is_help=True, help="The simulated OpenStack cloud.")

FAULT_HELP = (
    "Inject a fault, repeatable: fail_nth=N, fail_host=H, hang_nth=N, hang_host=H, "
    "down=HOST@SIM_SECONDS, error_rate=F, error_for_s=S, reset_rate=F, lost_reply_rate=F, "
    "latency_ms=MS, no_valid_host_flavor=NAME, seed=N."
)


CPU_RATIOS_HELP = "Per-host cpu_allocation_ratio drawn from these (e.g. 1,4,16); default 4.0."
RESERVED_HELP = "Per-host reserved_host_memory_mb drawn from these (e.g. 512,4096); default 512."


def _nova_conf(cpu_ratios: str | None, reserved_memory_mb: str | None) -> NovaConf | None:
    """The generated cloud's per-host nova.conf mix, from comma-separated choices."""
    if not cpu_ratios and not reserved_memory_mb:
        return None
    return NovaConf(
        cpu_allocation_ratios=[float(x) for x in (cpu_ratios or "").split(",") if x],
        reserved_host_memory_mb=[int(x) for x in (reserved_memory_mb or "").split(",") if x],
    )


@sim_app.command()
def serve(
    hosts: Annotated[int, typer.Option(help="Compute nodes (sim-compute-0..N-1).")] = 8,
    instances: Annotated[int, typer.Option(help="Instances to place on them.")] = 120,
    seed: Annotated[int, typer.Option(help="Same seed, same cloud.")] = 1,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 18774,
    clouds_yaml: Annotated[
        Path, typer.Option("--clouds-yaml", help="Where to write the clouds.yaml (cloud 'sim').")
    ] = Path("clouds.yaml"),
    time_scale: Annotated[
        float, typer.Option(help="Real seconds per simulated second (0.01: 100x faster).")
    ] = 0.05,
    fault: Annotated[list[str] | None, typer.Option(help=FAULT_HELP)] = None,
    faults_json: Annotated[
        Path | None, typer.Option(help="A FaultPlan as a JSON file (see POST /sim/faults).")
    ] = None,
    spec: Annotated[
        Path | None, typer.Option(help="A ClusterSpec JSON file instead of a seeded cluster.")
    ] = None,
    password: Annotated[str, typer.Option(help="Password of user 'admin'.")] = "secret",
    max_microversion: Annotated[
        str | None,
        typer.Option(help="Play an older Nova: advertise and accept compute up to 2.N only."),
    ] = None,
    cpu_ratios: Annotated[str | None, typer.Option(help=CPU_RATIOS_HELP)] = None,
    reserved_memory_mb: Annotated[str | None, typer.Option(help=RESERVED_HELP)] = None,
) -> None:
    """Serve a simulated cloud on 127.0.0.1 and write a clouds.yaml for it."""
    from novaflow.sim.clouds_yaml import write_clouds_yaml
    from novaflow.sim.faults import FaultPlan, parse_fault_flags
    from novaflow.sim.runner import serve_forever
    from novaflow.sim.spec import ClusterSpec
    from novaflow.sim.state import SimCloud

    plan = parse_fault_flags(fault or [])
    if faults_json is not None:
        file_plan = FaultPlan.model_validate_json(faults_json.read_text())
        plan = FaultPlan.model_validate(
            {**file_plan.model_dump(), **plan.model_dump(exclude_defaults=True)}
        )
    if spec is not None:
        cluster = ClusterSpec.model_validate_json(spec.read_text())
    else:
        cluster = ClusterSpec.generated(
            hosts=hosts,
            instances=instances,
            seed=seed,
            nova_conf=_nova_conf(cpu_ratios, reserved_memory_mb),
        )
    cloud = SimCloud(
        cluster,
        time_scale=time_scale,
        faults=plan,
        password=password,
        max_microversion=max_microversion,
    )
    url = f"http://127.0.0.1:{port}"
    path = write_clouds_yaml(clouds_yaml, url, password)
    typer.echo(
        f"simulated cloud: {len(cloud.hosts)} hosts, {len(cloud.instances)} instances, "
        f"seed {cluster.seed}, time_scale {time_scale}, "
        f"compute API up to {cloud.compute_max[0]}.{cloud.compute_max[1]}\n"
        f"  identity:  {url}/identity/v3\n"
        f"  control:   {url}/sim/stats  {url}/sim/summary  POST {url}/sim/faults\n"
        f"  clouds.yaml: {path.resolve()} (clouds 'sim', admin, and 'sim-member', not admin)\n"
        f"  try: OS_CLIENT_CONFIG_FILE={path} openstack --os-cloud sim server list "
        "--all-projects --host sim-compute-0"
    )
    serve_forever(cloud, port)


@sim_app.command()
def spec(
    hosts: Annotated[int, typer.Option()] = 8,
    instances: Annotated[int, typer.Option()] = 120,
    seed: Annotated[int, typer.Option()] = 1,
    cpu_ratios: Annotated[str | None, typer.Option(help=CPU_RATIOS_HELP)] = None,
    reserved_memory_mb: Annotated[str | None, typer.Option(help=RESERVED_HELP)] = None,
) -> None:
    """Print the seeded ClusterSpec as JSON (edit it and pass it to `serve --spec`)."""
    from novaflow.sim.spec import ClusterSpec

    cluster = ClusterSpec.generated(
        hosts=hosts,
        instances=instances,
        seed=seed,
        nova_conf=_nova_conf(cpu_ratios, reserved_memory_mb),
    )
    typer.echo(cluster.model_dump_json(indent=2))


@sim_app.command()
def show(
    url: Annotated[str, typer.Option(help="Base URL of a running sim.")] = (
        "http://127.0.0.1:18774"
    ),
) -> None:
    """Print a running sim's hosts, instance counts and request stats."""
    import urllib.request

    with urllib.request.urlopen(f"{url}/sim/summary", timeout=5) as resp:
        summary = json.load(resp)
    with urllib.request.urlopen(f"{url}/sim/stats", timeout=5) as resp:
        stats = json.load(resp)
    typer.echo(f"simulated time: {summary['now']:.0f}s")
    for name, host in summary["hosts"].items():
        typer.echo(
            f"  {name:<16} {host['zone']:<5} {host['state']:<5} {host['status']:<9} "
            f"{len(host['instances'])} instances"
        )
    typer.echo(f"requests: {stats['total_requests']}  migrations: {stats['migrations']}")


@sim_app.command()
def reboot(
    host: Annotated[str, typer.Argument(help="The compute host to reboot.")],
    os_cloud: Annotated[
        str,
        typer.Option("--os-cloud", envvar="OS_CLOUD", help="The sim's clouds.yaml entry."),
    ] = "sim",
    down_seconds: Annotated[
        float, typer.Option(help="Simulated seconds until the node is back.")
    ] = 60.0,
    fault: Annotated[
        str | None,
        typer.Option(help="never_returns, or returns_failing (nova-compute crashes on start)."),
    ] = None,
) -> None:
    """Reboot a sim host, as a work command would (`novaflow sim reboot {host}`).

    Returns once the node is down: like `ssh HOST sudo reboot`, it does not wait for the
    node to come back; proving that is the campaign's return-to-service check.
    """
    import urllib.error
    import urllib.request

    url = _sim_url(os_cloud)
    body: dict[str, object] = {"down_seconds": down_seconds}
    if fault:
        body["fault"] = fault
    request = urllib.request.Request(
        f"{url}/sim/hosts/{host}/reboot",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            answer = json.load(resp)
    except urllib.error.HTTPError as exc:
        typer.echo(f"reboot of {host} refused: {exc.read().decode(errors='replace')}", err=True)
        raise typer.Exit(1) from exc
    except urllib.error.URLError as exc:
        typer.echo(f"cannot reach the sim of cloud {os_cloud!r} at {url}: {exc.reason}", err=True)
        raise typer.Exit(1) from exc
    how = f" ({answer['fault']})" if answer.get("fault") else ""
    typer.echo(f"{host} rebooting: down now, back in {down_seconds:g} sim seconds{how}")


def _sim_url(cloud: str) -> str:
    """The sim's base URL, from the auth_url of its clouds.yaml entry (…/identity/v3)."""
    import openstack.config

    config = openstack.config.OpenStackConfig()
    try:
        auth_url = config.get_one(cloud=cloud).config["auth"]["auth_url"]
    except Exception as exc:  # openstacksdk raises several kinds for a bad entry
        typer.echo(f"cloud {cloud!r} is not in clouds.yaml: {exc}", err=True)
        raise typer.Exit(1) from exc
    return str(auth_url).rstrip("/").removesuffix("/v3").removesuffix("/identity")
