"""Property: on generated sim clouds whose hosts mix nova.conf ratios (1.0, 4.0, 16.0) and
reserved memory, novaflow's drain plan is Nova's. Every move of a plan it calls feasible is
accepted by the sim's scheduler (which decides only from Placement) and lands where planned;
every drain it refuses for want of room is one the sim's scheduler cannot carry out either.

A drain refused because an instance found no host though the total room suffices (a skip:
fragmentation) is the planner's packing, not the capacity model, and is not asserted here."""

from __future__ import annotations

from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from openstack.exceptions import HttpException

from novaflow import planner
from novaflow.cloud import Cloud, RetryPolicy
from novaflow.models import DrainRequest, Plan
from novaflow.sim.spec import ClusterSpec, NovaConf
from novaflow.sim.testing import SimHandle, running_sim

MIXED = NovaConf(
    cpu_allocation_ratios=[1.0, 4.0, 16.0],
    reserved_host_memory_mb=[512, 4096, 131072],
)


def mixed_cloud(seed: int, hosts: int, instances: int) -> ClusterSpec:
    """A generated cloud with mixed nova.conf, its zones, pins and server groups as generated:
    the planner's constraints (hard affinity, anti-affinity, pinned zones) are Nova's too."""
    spec = ClusterSpec.generated(hosts=hosts, instances=instances, seed=seed, nova_conf=MIXED)
    return spec


def disable(sim: SimHandle, hosts: list[str]) -> None:
    """Disable the hosts being drained first, as the runbook does, so nothing lands there."""
    conn = sim.connect()
    for service in conn.compute.services():
        if service.host in hosts:
            conn.compute.disable_service(
                service, service.host, "nova-compute", disabled_reason="drain"
            )


def settle(sim: SimHandle, conn: object, server_id: str) -> None:
    sim.advance(600)
    if sim.status_of(server_id) == "VERIFY_RESIZE":
        conn.compute.confirm_server_resize(server_id)  # type: ignore[attr-defined]
        sim.advance(10)


def carry_out(sim: SimHandle, plan: Plan) -> None:
    """Issue each move over the API as planned; each must land on its target as it was.

    Moves left to the scheduler (PCI instances: their devices are not in the snapshot) go
    last: issued among the others, Nova's weigher may put one on a host the plan is filling
    with named moves, a hazard of the plan's order that is the planner's to handle (seed
    6366, 6 hosts, load 18, one host drained), not of the capacity model checked here.
    """
    conn = sim.connect()
    for move in sorted(plan.moves, key=lambda m: m.target is None):
        before = sim.status_of(move.instance_id)
        if move.method == "live":
            conn.compute.live_migrate_server(
                move.instance_id, host=move.target, block_migration="auto"
            )
        else:
            conn.compute.migrate_server(move.instance_id, host=move.target)
        settle(sim, conn, move.instance_id)
        host, status = sim.host_of(move.instance_id), sim.status_of(move.instance_id)
        assert status == before, f"{move.instance_name} ended {status}"
        if move.target is None:  # left to the scheduler: anywhere but where it was
            assert host != move.source, f"{move.instance_name} did not leave {move.source}"
        else:
            assert host == move.target, f"{move.instance_name}: planned {move.target}, on {host}"


def scheduler_drains(sim: SimHandle, host: str) -> bool:
    """Whether Nova's scheduler, asked to move everything off `host`, empties it: live where
    the instance runs and its devices allow, cold otherwise (a paused one only live)."""
    conn = sim.connect()
    for server_id in sim.instances_on(host):
        status = sim.status_of(server_id)
        try:
            if status not in ("ACTIVE", "PAUSED"):
                raise HttpException("stopped: cold")
            conn.compute.live_migrate_server(server_id, host=None, block_migration="auto")
        except HttpException:
            if status == "PAUSED":
                continue
            conn.compute.migrate_server(server_id)
        settle(sim, conn, server_id)
    return not sim.instances_on(host)


@settings(max_examples=40, deadline=None)
# The cases that taught this test its limits (see the module and `carry_out` docstrings).
@example(seed=62, hosts=3, load=10, drained=1)
@example(seed=57603, hosts=3, load=10, drained=1)
@example(seed=6366, hosts=6, load=18, drained=1)
@given(
    seed=st.integers(1, 100_000),
    hosts=st.integers(3, 6),
    load=st.integers(10, 22),
    drained=st.integers(1, 2),
)
def test_drain_plans_match_the_sims_scheduler(
    seed: int, hosts: int, load: int, drained: int
) -> None:
    spec = mixed_cloud(seed, hosts, hosts * load)
    with running_sim(spec, time_scale=0) as sim:
        cloud = Cloud.connect(
            sim.cloud_name, config_file=str(sim.clouds_yaml), retry=RetryPolicy(attempts=3)
        )
        try:
            snap = cloud.snapshot()
            by_load = sorted(snap.hosts, key=lambda h: -h.used.vcpus / max(h.usable.vcpus, 1))
            busiest = [h.name for h in by_load[:drained]]
            plan = planner.plan(snap, DrainRequest(hosts=busiest))
            cap = plan.capacity
            short = cap is not None and not cap.needed.fits_in(cap.free)
            event("feasible" if plan.feasible else "short of room" if short else "refused")
            disable(sim, busiest)
            if plan.feasible:
                carry_out(sim, plan)
            elif short:
                emptied = [scheduler_drains(sim, host) for host in busiest]
                assert not all(emptied), "novaflow refused a drain Nova's scheduler carries out"
        finally:
            cloud.close()
