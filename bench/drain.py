"""Drain benchmark: makespan of emptying one host, novaflow against the operators' baselines.

    .venv/bin/python -m bench.drain              # 50 and 200 instances, 1 and 2 slots
    .venv/bin/python -m bench.drain --quick      # 50 instances only
    .venv/bin/python -m bench.drain --markdown   # the table for bench/RESULTS.md

Every row runs on a fresh simulated cloud built from the same `ClusterSpec` (same seed, same
instances, same ids, so the same migration durations: the sim draws a move's duration from
the instance and its attempt number, not from the order moves are requested in). One source
host holds N instances (mixed flavors, ~10% SHUTOFF, ~6% vTPM or PCI that cannot live-migrate,
a quarter booted from volume); eight empty hosts take them. Every node's
`max_concurrent_live_migrations` is the row's `slots`. Rows:

* `novaflow`: the real `node_maintenance` flow on a real `prefect server start`, approval mode
  `none`, `wait_for_done` False, `live_migration_slots` = slots (novaflow cannot read Nova's
  setting through the API), other settings at their defaults (`max_parallel` 8, live then cold,
  planner-chosen targets).
* `fire-all`: every live migration requested at once (novaclient's `host-evacuate-live`), then
  each waited on; what Nova refuses stays behind.
* `one-at-a-time`: per server, migrate and `wait_for_server` before the next; cold migration
  (and confirm) for SHUTOFF servers and those Nova refuses to live-migrate. It never has two
  migrations in flight, so a second slot cannot change it: its 1-slot run is shown again
  against the 2-slot bounds instead of being repeated.

The sim runs at `TIME_SCALE` real seconds per simulated second; every duration here is in
simulated seconds, read from the sim's own records. Makespan runs from the first migration
request to the last instance settled on its target (live migration `completed`, cold one
`confirmed`); novaflow's snapshot and planning before its first request is shown apart as
`setup s` (real seconds). Baselines poll every 2 simulated seconds (openstacksdk's default
2 s, scaled with the clock); novaflow's observer polls on its own real-time backoff.

Lower bound (LB, the issue's definition): the sim's own duration of every move the drain
needs (`novaflow.sim.moves.move_seconds`: a live migration's preparing + running time for
ACTIVE instances that can go live, otherwise the cold migration plus its 3 s confirm), all
counted in the host's slots: 1 s conductor delay + max(sum / slots, the longest one). Nova does
not count cold migrations against `max_concurrent_live_migrations`, so a tool that runs them
beside the live ones can finish under LB; `floor` is that tighter bound (only live migrations
in the slots, cold ones beside them). API requests are every request the sim served during
the row (Keystone, Nova, Placement), per instance moved.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import baselines, table
from bench.prefect_server import clouds_yaml_restored, shared_prefect_server
from novaflow.sim.moves.common import CONDUCTOR_DELAY, live_blocker, move_seconds
from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import SimHandle, running_sim

SEED = 1
NEEDS_PREFECT = True  # bench/__main__.py starts one server for the flow benchmarks
HAS_QUICK = True
SIZES = (50, 200)
SLOTS = (1, 2)
TIME_SCALE = 0.005  # 1 simulated second = 5 ms: a 60 s live migration takes 0.3 real s
POLL_SIM_S = 2.0  # openstacksdk's default wait interval, in simulated seconds
CONFIRM_S = 3.0  # the sim's confirmResize duration
SOURCE = "drain-src"
TARGETS = 8
FLAVORS = (
    ("m1.tiny", 10),
    ("m1.small", 30),
    ("m1.medium", 28),
    ("m1.large", 15),
    ("m1.xlarge", 5),
    ("c1.pinned", 6),
    ("s1.vtpm", 3),
    ("g1.pci", 3),
)


def cluster(instances: int, slots: int, seed: int = SEED) -> ClusterSpec:
    """One full source host and eight empty ones, every node with `slots` live slots."""
    rng = random.Random(f"drain:{seed}:{instances}")
    spec = ClusterSpec(seed=seed)
    big = {"vcpus": 512, "memory_mb": 4 * 1024 * 1024, "disk_gb": 40000}
    spec.host(SOURCE, max_concurrent_live_migrations=slots, **big)
    for t in range(TARGETS):
        spec.host(
            f"spare-{t}",
            max_concurrent_live_migrations=slots,
            vcpus=128,
            memory_mb=1024 * 1024,
            disk_gb=10000,
        )
    names, weights = zip(*FLAVORS, strict=True)
    for n in range(instances):
        spec.instance(
            f"vm-{n:03d}",
            host=SOURCE,
            flavor=rng.choices(names, weights)[0],
            status="SHUTOFF" if rng.random() < 0.10 else "ACTIVE",
            boot_from_volume=rng.random() < 0.25,
            project=f"tenant-{rng.randrange(4)}",
        )
    return spec


def lower_bounds(sim: SimHandle, slots: int) -> dict[str, Any]:
    """LB and floor (see the module docstring) from the sim's own duration model."""
    cloud = sim.state
    with cloud.lock:
        on_host = [i for i in cloud.instances.values() if i.host == SOURCE]
        live, cold = [], []
        for inst in on_host:
            if inst.status == "ACTIVE" and live_blocker(inst) is None:
                live.append(move_seconds(cloud.seed, inst, "live"))
            else:
                cold.append(move_seconds(cloud.seed, inst, "cold") + CONFIRM_S)
    longest = max(live + cold)
    return {
        "live_moves": len(live),
        "cold_moves": len(cold),
        "lower_bound": CONDUCTOR_DELAY + max((sum(live) + sum(cold)) / slots, longest),
        "floor": CONDUCTOR_DELAY + max(sum(live) / slots, longest),
    }


def _makespan(sim: SimHandle) -> tuple[float, float]:
    """(first migration request, last move settled), simulated seconds since the sim began."""
    ms = sim.migrations()
    done = [m.updated for m in ms if m.status in ("completed", "confirmed")]
    if not ms or not done:
        return 0.0, 0.0
    return min(m.created for m in ms), max(done)


def _left(sim: SimHandle, before: dict[str, str]) -> dict[str, str]:
    """Instances not settled off the source in their prior status: name -> where they are."""
    left = {}
    cloud = sim.state
    with cloud.lock:
        for iid, status in before.items():
            inst = cloud.instances[iid]
            if inst.host == SOURCE or inst.status != status:
                left[inst.name] = f"{inst.status} on {inst.host}"
    return left


def _novaflow(sim: SimHandle, slots: int) -> dict[str, Any]:
    from deployments.run_cli import report_of
    from flows.maintenance import node_maintenance
    from flows.params import ApprovalSettings, RunSettings
    from tasks.connect import forget_clouds

    os.environ["OS_CLIENT_CONFIG_FILE"] = str(sim.clouds_yaml)
    forget_clouds()
    settings = RunSettings(
        cloud="sim", live_migration_slots=slots, approval=ApprovalSettings(mode="none")
    )
    anchor = (sim.state.now, datetime.now(UTC))
    state = node_maintenance(
        host=SOURCE, reason="bench", settings=settings, wait_for_done=False, return_state=True
    )
    report = report_of(state)
    why: dict[str, str] = {}
    if report is not None:
        if report.plan:
            why.update({s.instance_name: s.reason for s in report.plan.skips})
        why.update({o.instance_name: o.error or o.result for o in report.unfinished})
    forget_clouds()
    return {"why": why, "task_to_request_s": _task_to_request(sim, state, anchor)}


def _task_to_request(sim: SimHandle, state: Any, anchor: tuple[float, datetime]) -> float:
    """Median real seconds from a move task's start (Prefect's record) to its first request
    reaching Nova (the sim's migration record): the task's own start-up cost."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter

    runs = []
    with get_client(sync_client=True) as client:
        flow = FlowRunFilter(id={"any_": [state.state_details.flow_run_id]})
        while batch := client.read_task_runs(flow_run_filter=flow, limit=200, offset=len(runs)):
            runs.extend(batch)
    started = {
        r.name.split("-", 1)[1]: r.start_time
        for r in runs
        if r.name.split("-")[0] in ("live", "cold") and r.start_time
    }
    names = {i.id: i.name for i in sim.state.instances.values()}
    first: dict[str, float] = {}
    for m in sim.migrations():
        first.setdefault(names[m.instance_id], m.created)
    sim0, wall0 = anchor
    delays = sorted(
        (wall0 + timedelta(seconds=(t - sim0) * TIME_SCALE) - started[name]).total_seconds()
        for name, t in first.items()
        if name in started
    )
    return delays[len(delays) // 2] if delays else float("nan")


def _baseline(fn: Callable[..., baselines.Run]) -> Callable[[SimHandle, int], dict[str, Any]]:
    def run(sim: SimHandle, slots: int) -> dict[str, Any]:
        conn = sim.connect()
        try:
            done = fn(conn, SOURCE, POLL_SIM_S * TIME_SCALE)
        finally:
            conn.close()
        return {"why": done.left}

    return run


TOOLS: dict[str, Callable[[SimHandle, int], dict[str, Any]]] = {
    "novaflow": _novaflow,
    "fire-all": _baseline(baselines.fire_all_live),
    "one-at-a-time": _baseline(baselines.one_at_a_time),
}


def _reasons(why: dict[str, str], left: dict[str, str]) -> str:
    """Left-behind instances grouped by reason, e.g. '5 (409: ... SHUTOFF)'."""
    groups: dict[str, int] = {}
    for name in left:
        reason = re.sub(
            r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "<id>", why.get(name, left[name])
        )
        groups[reason[:90]] = groups.get(reason[:90], 0) + 1
    return "; ".join(f"{n} x {r}" for r, n in sorted(groups.items(), key=lambda x: -x[1]))


def bench_row(tool: str, instances: int, slots: int, seed: int = SEED) -> dict[str, Any]:
    """One tool draining the source of a fresh cloud (see the module docstring)."""
    with running_sim(cluster(instances, slots, seed), time_scale=TIME_SCALE) as sim:
        bounds = lower_bounds(sim, slots)
        with sim.state.lock:
            before = {i.id: i.status for i in sim.state.instances.values() if i.host == SOURCE}
        sim.reset_stats()
        began = sim.state.now
        t0 = time.perf_counter()
        extra = TOOLS[tool](sim, slots)
        wall = time.perf_counter() - t0
        first, last = _makespan(sim)
        left = _left(sim, before)
        moved = len(before) - len(left)
        requests = sim.stats()["total_requests"]
    makespan = last - first
    return {
        "tool": tool,
        "instances": instances,
        "slots": slots,
        **bounds,
        "setup_s": (first - began) * TIME_SCALE,
        "wall_s": wall,
        "makespan": makespan,
        "vs_lb": makespan / bounds["lower_bound"],
        "vs_floor": makespan / bounds["floor"],
        "moved": moved,
        "requests": requests,
        "per_move": requests / moved if moved else float("nan"),
        "left": len(left),
        "why_left": _reasons(extra["why"], left) or "-",
        "task_to_request_s": extra.get("task_to_request_s"),
    }


def _same_run(row: dict[str, Any], slots: int, seed: int) -> dict[str, Any]:
    """`row` (a one-at-a-time run) against the bounds of the same cloud with `slots` slots."""
    with running_sim(cluster(row["instances"], slots, seed), time_scale=0) as sim:
        bounds = lower_bounds(sim, slots)
    return {
        **row,
        **bounds,
        "slots": slots,
        "tool": f"{row['tool']} (its {row['slots']}-slot run)",
        "vs_lb": row["makespan"] / bounds["lower_bound"],
        "vs_floor": row["makespan"] / bounds["floor"],
    }


def run(
    sizes: tuple[int, ...] = SIZES,
    slots: tuple[int, ...] = SLOTS,
    seed: int = SEED,
    quick: bool = False,
) -> list[dict[str, Any]]:
    """Every tool at every size (`quick`: the smallest) and slot count, on one real Prefect
    server."""
    sizes = sizes[:1] if quick else sizes
    rows = []
    with clouds_yaml_restored(), shared_prefect_server():
        for n in sizes:
            for k in slots:
                for tool in TOOLS:
                    serial = next(
                        (r for r in rows if r["tool"] == tool and r["instances"] == n), None
                    )
                    if tool == "one-at-a-time" and serial is not None:
                        # One migration at a time never uses a second slot: the same run.
                        rows.append(_same_run(serial, k, seed))
                    else:
                        rows.append(bench_row(tool, n, k, seed))
                    r = rows[-1]
                    print(
                        f"  drain {n} x {k} slot(s) {tool}: {r['makespan']:.0f} s "
                        f"({r['vs_lb']:.3f} x LB), {r['per_move']:.1f} req/move, "
                        f"{r['left']} left, {r['wall_s']:.0f} s real",
                        flush=True,
                    )
    return rows


COLUMNS = (
    ("instances", "instances", "{}"),
    ("slots", "slots", "{}"),
    ("tool", "tool", "{}"),
    ("live_moves", "live / cold needed", "{}"),
    ("makespan", "makespan s", "{:.0f}"),
    ("lower_bound", "LB s", "{:.0f}"),
    ("vs_lb", "makespan / LB", "{:.3f}"),
    ("floor", "floor s", "{:.0f}"),
    ("vs_floor", "makespan / floor", "{:.3f}"),
    ("per_move", "API requests / migration", "{:.1f}"),
    ("moved", "moved", "{}"),
    ("left", "left behind", "{}"),
    ("why_left", "why left", "{}"),
    ("task_to_request_s", "move task start to request s (real, median)", "{:.2f}"),
    ("setup_s", "setup s (real)", "{:.1f}"),
    ("wall_s", "run s (real)", "{:.0f}"),
)


def _cell(r: dict[str, Any], key: str, fmt: str) -> str:
    if key == "live_moves":
        return f"{r['live_moves']} / {r['cold_moves']}"
    if r.get(key) is None:
        return "-"
    return fmt.format(r[key])


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (for bench/RESULTS.md)."""
    return table.markdown(COLUMNS, rows, _cell)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--quick", action="store_true", help="50 instances only")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    rows = run(SIZES, SLOTS, args.seed, quick=args.quick)
    print(markdown(rows))


if __name__ == "__main__":
    main()
