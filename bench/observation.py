"""Observation benchmark: Nova API requests per poll cycle of the observer, N moves in flight.

    .venv/bin/python -m bench.observation              # 1, 10, 100 and 500 moves in flight
    .venv/bin/python -m bench.observation --markdown   # the table for bench/RESULTS.md

For each N a simulated cloud (in this process, real HTTP, openstacksdk) holds N small instances
spread over source hosts whose `max_concurrent_live_migrations` lets every one of them run at
once, and empty target hosts with room for all. N live migrations are started directly with
`Cloud.live_migrate` (from a few threads, to start them quickly), then N threads each wait on one
of them through `Cloud.observer()` (its default settings, as the mover uses it) until the
instance is settled on its target. Only the wait is measured: the observer's cycles and list
calls (`observer.stats`) and every Nova request the sim served meanwhile (its per-route counts;
nothing but the observer talks to the cloud during the wait). The sim runs at `TIME_SCALE` real
seconds per simulated second, so a live migration (20-30 simulated seconds for these flavors)
lasts several real seconds, i.e. many poll cycles; `in flight` is how many migrations the sim
had queued, preparing or running when the wait began. Issue 7 asks for a flat cost, <= 2 list
calls per cycle, whatever N.
"""

from __future__ import annotations

import argparse
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import table
from novaflow.cloud import Cloud
from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import running_sim

MOVES = (1, 10, 100, 500)
SEED = 1
TIME_SCALE = 0.4  # a 20-30 simulated-second live migration takes 8-12 real seconds
PER_SOURCE = 50  # instances (and live-migration slots) per source host
FLAVOR = "m1.tiny"
STARTERS = 8
TIMEOUT_S = 300.0
COMPUTE = "/compute/"
IN_FLIGHT = ("queued", "preparing", "running")


def cluster(moves: int, seed: int = SEED) -> ClusterSpec:
    """N tiny instances on ceil(N / PER_SOURCE) sources, as many empty targets with room."""
    n_hosts = max(1, math.ceil(moves / PER_SOURCE))
    spec = ClusterSpec(seed=seed)
    for h in range(n_hosts):
        spec.host(f"src-{h}", max_concurrent_live_migrations=PER_SOURCE)
        spec.host(f"dst-{h}", max_concurrent_live_migrations=PER_SOURCE)
    for n in range(moves):
        spec.instance(f"vm-{n}", host=f"src-{n // PER_SOURCE}", flavor=FLAVOR)
    return spec


def _nova(requests: dict[str, int]) -> int:
    return sum(v for k, v in requests.items() if COMPUTE in k)


def _time_lists(cloud: Cloud) -> dict[str, float]:
    """Wrap the cloud's two listings (on the instance) to add up their seconds and rows."""
    acc = {"s": 0.0, "rows": 0.0}

    def timed(fn: Any) -> Any:
        def call(**kwargs: Any) -> Any:
            t0 = time.perf_counter()
            out = fn(**kwargs)
            acc["s"] += time.perf_counter() - t0
            acc["rows"] += len(out)
            return out

        return call

    cloud.list_servers = timed(cloud.list_servers)  # type: ignore[method-assign]
    cloud.list_migrations = timed(cloud.list_migrations)  # type: ignore[method-assign]
    return acc


def bench_moves(moves: int, seed: int = SEED) -> dict[str, Any]:
    """One row: the observer's cost while waiting on `moves` live migrations in flight."""
    with running_sim(cluster(moves, seed), time_scale=TIME_SCALE) as sim:
        cloud = Cloud.connect(sim.cloud_name, config_file=str(sim.clouds_yaml))
        try:
            # One list gives every instance's state before its action (the waiters' `initial`).
            states = {s.id: s for s in cloud.list_servers()}
            target = {s.id: s.host.replace("src-", "dst-") for s in states.values() if s.host}
            t0 = time.perf_counter()
            with ThreadPoolExecutor(STARTERS) as pool:
                list(pool.map(lambda i: cloud.live_migrate(i, target[i]), list(states)))
            start_s = time.perf_counter() - t0

            observer = cloud.observer()
            listed = _time_lists(cloud)
            in_flight = sum(1 for m in sim.migrations() if m.status in IN_FLIGHT)
            before = sim.stats()["requests"]
            cycles, calls = observer.stats.cycles, observer.stats.list_calls
            results: dict[str, bool] = {}

            def wait(inst_id: str) -> None:
                view = observer.wait(
                    inst_id,
                    lambda v, want=target[inst_id]: v.server.host == want and v.server.settled,
                    timeout_s=TIMEOUT_S,
                    initial=states[inst_id],
                )
                results[inst_id] = not view.timed_out and view.server.host == target[inst_id]

            threads = [threading.Thread(target=wait, args=(i,)) for i in states]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wait_s = time.perf_counter() - t0
            del cloud.list_servers, cloud.list_migrations  # back to the class's methods
            after = sim.stats()["requests"]
            n_cycles = observer.stats.cycles - cycles
            n_calls = observer.stats.list_calls - calls
            delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
            nova = _nova(delta)
            landed = sum(1 for i in states if sim.host_of(i) == target[i])
            return {
                "moves": moves,
                "in_flight": in_flight,
                "start_s": start_s,
                "wait_s": wait_s,
                "cycles": n_cycles,
                "list_calls": n_calls,
                "s_per_cycle": wait_s / n_cycles if n_cycles else 0.0,
                "list_s_per_cycle": listed["s"] / n_cycles if n_cycles else 0.0,
                "rows_per_cycle": listed["rows"] / n_cycles if n_cycles else 0.0,
                "calls_per_cycle": n_calls / n_cycles if n_cycles else 0.0,
                "nova_requests": nova,
                "nova_per_cycle": nova / n_cycles if n_cycles else 0.0,
                "by_route": {k: v for k, v in sorted(delta.items()) if v},
                "resolved": sum(results.values()),
                "landed": landed,
            }
        finally:
            cloud.close()


def run(moves: tuple[int, ...] = MOVES, seed: int = SEED) -> list[dict[str, Any]]:
    """One row per number of moves in flight (see bench_moves for the columns)."""
    return [bench_moves(n, seed) for n in moves]


COLUMNS = (
    ("moves", "moves", "{}"),
    ("in_flight", "in flight at wait start", "{}"),
    ("start_s", "start s", "{:.1f}"),
    ("wait_s", "wait s", "{:.1f}"),
    ("cycles", "cycles", "{}"),
    ("s_per_cycle", "s / cycle", "{:.2f}"),
    ("list_s_per_cycle", "listing s / cycle", "{:.3f}"),
    ("rows_per_cycle", "rows listed / cycle", "{:.0f}"),
    ("list_calls", "list calls", "{}"),
    ("calls_per_cycle", "list calls / cycle", "{:.2f}"),
    ("nova_requests", "Nova requests in wait", "{}"),
    ("nova_per_cycle", "Nova requests / cycle", "{:.2f}"),
    ("resolved", "waits resolved", "{}"),
    ("landed", "on target", "{}"),
)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (for bench/RESULTS.md)."""
    return table.markdown(COLUMNS, rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--moves", type=int, nargs="+", default=list(MOVES), help="moves in flight per row"
    )
    args = parser.parse_args(argv)
    rows = run(tuple(args.moves), args.seed)
    if args.markdown:
        print(markdown(rows))
        return
    from rich.console import Console
    from rich.table import Table

    title = f"novaflow observation benchmark (seed {args.seed}, time scale {TIME_SCALE})"
    table = Table(title=title)
    for _, label, _ in COLUMNS:
        table.add_column(label, justify="right")
    for r in rows:
        table.add_row(*(f.format(r[k]) for k, _, f in COLUMNS))
    Console(width=200).print(table)
    for r in rows:
        print(f"{r['moves']} moves, Nova requests during the wait: {r['by_route']}")


if __name__ == "__main__":
    main()
