"""Planner benchmark: speed, memory and plan quality on seeded synthetic clouds.

    .venv/bin/python -m bench.planner            # both series, six clouds
    .venv/bin/python -m bench.planner --quick    # the clouds of up to 1,000 instances

Two series of clouds run, each size once (50/1,000 and 1,000/20,000 belong to both). The
issue's series is the sizes issue 7 names: 10/100, 50/1,000, 200/5,000 and 1,000/20,000
hosts/instances, i.e. 10, 20, 25 and 20 instances per host. The alike series grows from
100 to 20,000 instances at the 20 instances per host of the issue's 1,000 / 20,000 cloud
(5, 50, 250 and 1,000 hosts). Every cloud is generated alike (same shares of host sizes,
same spread of host popularity, same flavor, state and group mix), but the density is what
a size sets: at 10 or 25 instances per host the mean load and the consolidate moves per
instance differ from the clouds at 20 (the reading gives this run's figures per series),
so a step of the issue's series measures a change of density as well as of size. Earlier
runs on the issue's sizes alone, with the older generator, had mean load 0.21, 0.45, 0.59
and 0.46 and consolidate moves per instance 0.53, 0.45, 0.30 and 0.46, which made the last
step look super-linear. The quality tables and readings (LB, LB*, FFD, spread, the
movable-only table) cover every cloud of both series; the growth table and the growth
reading (slopes, per-move figures) use the alike series only. Host sizes and popularity
used to be drawn independently per host, which left a small cloud's load to chance (0.27
to 0.57 mean load over four seeds at 5 hosts / 100 instances); they are now fixed shares
and quantiles. A hard anti-affinity group is at most a quarter of a small cloud's hosts
(2 members on 5 hosts, up to 5 from 20 hosts on): a real cloud keeps a host outside such a
group to drain or evacuate a member to, and a three-member group on a cloud whose bound LB
is 2 hosts would make the LB target unreachable by construction rather than by the
planner.

For each cloud (hosts / instances) it times a drain of 5% of the hosts, a consolidate and a
spread (best of `REPEAT` runs, so a busy machine inflates less), measures peak memory with
tracemalloc in a separate run, counts the Python function calls of one consolidate and one
spread (cProfile: the work done, which a busy machine does not inflate), and checks every
plan with the independent validator.
Consolidate is compared with the bin-packing lower bound (LB: max over resources of the
fewest biggest hosts holding the total demand), with LB* (LB that also keeps every host
holding an instance that cannot move, and one host per member of the largest hard
anti-affinity group: what no packing can beat), and with a first-fit-decreasing
repack from scratch over all hosts (hosts that must stay in use first, then the biggest,
then the fullest), reporting the hosts FFD leaves in use and the migrations it needs.
Spread reports load max / mean / standard deviation before and after, the floor that
instances which cannot move put under the hottest host, and max / mean over the hosts
holding no such instance (the 1.10 target applies where the cloud allows it).

A second table consolidates the same clouds generated with `movable_only=True` (same seed,
hosts, flavors and placements; every instance free to move, hard server groups relaxed to
soft): there nothing forces a host to stay in use, so the plain bound LB is the yardstick.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench import table
from novaflow.models import DrainRequest, Plan, RebalanceRequest, Snapshot
from novaflow.planner import plan, violations
from novaflow.planner.constraints import Choice, choose_method
from novaflow.planner.metrics import (
    active_hosts,
    constrained_lower_bound,
    ffd_repack,
    host_loads,
    host_usage,
    hosts_in_use,
    load_stats,
    lower_bound_hosts,
)
from novaflow.synthetic import HARD, generate

ISSUE_SIZES = ((10, 100), (50, 1_000), (200, 5_000), (1_000, 20_000))
"""The hosts / instances issue 7 names: 10, 20, 25 and 20 instances per host."""
ALIKE_SIZES = ((5, 100), (50, 1_000), (250, 5_000), (1_000, 20_000))
"""20 instances per host at every size, as in the issue's 1,000 hosts / 20,000 instances:
the series the growth is read on."""
SIZES = tuple(sorted(set(ISSUE_SIZES) | set(ALIKE_SIZES), key=lambda s: (s[1], s[0])))
"""Every cloud of both series once, by instances then hosts."""
QUICK_MAX_INSTANCES = 1_000
SEED = 1
REPEAT = 3
DRAIN_SHARE = 0.05


def _timed(fn: Callable[[], Plan]) -> tuple[Plan, float]:
    best = float("inf")
    result: Plan | None = None
    for _ in range(REPEAT):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    assert result is not None
    return result, best


def _calls(fn: Callable[[], Plan]) -> int:
    """Python function calls one plan makes (cProfile): the work, whatever the machine's load."""
    profile = cProfile.Profile()
    profile.enable()
    try:
        fn()
    finally:
        profile.disable()
    return pstats.Stats(profile).total_calls


def _peak_mb(fn: Callable[[], Plan]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def _pinned(snapshot: Snapshot, policy: Any) -> list[str]:
    """Instances a rebalance may not move (state, devices): they stay put in the FFD too."""
    out = []
    for i in snapshot.instances:
        c = choose_method(i, policy, snapshot.features)
        if not isinstance(c, Choice) or c.scheduler_picks:
            out.append(i.id)
    return out


def _floor(snapshot: Snapshot, pinned: set[str], hosts: list[str]) -> float:
    """The highest load any host keeps from instances that cannot move."""
    models = {h.name: h for h in snapshot.hosts}
    acc: dict[str, list[float]] = {h: [0.0, 0.0, 0.0] for h in hosts}
    for i in snapshot.instances:
        if i.id in pinned and i.host in acc:
            r = i.resources
            a = acc[i.host]
            a[0] += r.vcpus
            a[1] += r.ram_mb
            a[2] += r.disk_gb
    worst = 0.0
    for h, a in acc.items():
        u = models[h].usable
        caps = (u.vcpus, u.ram_mb, u.disk_gb)
        worst = max(worst, *(a[k] / caps[k] for k in range(3) if caps[k] > 0))
    return worst


def bench_cloud(n_hosts: int, n_instances: int, seed: int = SEED) -> dict[str, Any]:
    """One row: every figure for one generated cloud."""
    snapshot = generate(n_hosts, n_instances, seed)
    act = active_hosts(snapshot)
    k = max(1, round(n_hosts * DRAIN_SHARE))
    drain_req = DrainRequest(hosts=act[:k])
    cons_req = RebalanceRequest(strategy="consolidate")
    spread_req = RebalanceRequest(strategy="spread")

    drain_plan, drain_s = _timed(lambda: plan(snapshot, drain_req))
    cons_plan, cons_s = _timed(lambda: plan(snapshot, cons_req))
    spread_plan, spread_s = _timed(lambda: plan(snapshot, spread_req))
    peak = max(
        _peak_mb(lambda: plan(snapshot, drain_req)),
        _peak_mb(lambda: plan(snapshot, cons_req)),
        _peak_mb(lambda: plan(snapshot, spread_req)),
    )
    cons_calls = _calls(lambda: plan(snapshot, cons_req))
    spread_calls = _calls(lambda: plan(snapshot, spread_req))
    bad = sum(len(violations(snapshot, p)) for p in (drain_plan, cons_plan, spread_plan))
    largest_anti = max(
        (len(g.members) for g in snapshot.server_groups if g.policy == "anti-affinity"), default=0
    )

    pinned = _pinned(snapshot, cons_req.policy)
    in_use_before = hosts_in_use(snapshot, None, act)
    in_use_after = hosts_in_use(snapshot, cons_plan, act)
    lb = lower_bound_hosts(snapshot, act)
    lb_star = constrained_lower_bound(snapshot, act, pinned)
    emptied = set(cons_plan.emptied_hosts)
    # FFD from scratch over every host: hosts that must stay in use first, then the biggest,
    # then the fullest (so what stays in place by chance is as much as it can be).
    usage = host_usage(snapshot)
    models = {h.name: h for h in snapshot.hosts}
    pinned_set = set(pinned)
    held = {i.host for i in snapshot.instances if i.id in pinned_set}
    bins = sorted(act, key=lambda h: (h not in held, -models[h].usable.ram_mb, -usage[h][1]))
    ffd = ffd_repack(snapshot, act, bins, pinned)

    before = load_stats(host_loads(snapshot, None, act).values())
    loads_after = host_loads(snapshot, spread_plan, act)
    after = load_stats(loads_after.values())
    free_max = max((v for h, v in loads_after.items() if h not in held), default=0.0)
    return {
        "hosts": n_hosts,
        "instances": len(snapshot.instances),
        "drain_hosts": k,
        "drain_moves": len(drain_plan.moves),
        "drain_s": drain_s,
        "consolidate_s": cons_s,
        "spread_s": spread_s,
        "us_per_instance": 1e6 * max(drain_s, cons_s, spread_s) / max(1, len(snapshot.instances)),
        "peak_mb": peak,
        "violations": bad,
        "in_use_before": in_use_before,
        "in_use_after": in_use_after,
        "hosts_emptied": len(emptied),
        "lower_bound": lb,
        "vs_lower_bound": in_use_after / lb if lb else 1.0,
        "lower_bound_constrained": lb_star,
        "held_hosts": _held_hosts(snapshot, pinned, act),
        "largest_anti_affinity": largest_anti,
        "over_constrained": in_use_after - lb_star,
        "vs_constrained": in_use_after / lb_star if lb_star else 1.0,
        "consolidate_moves": len(cons_plan.moves),
        "ffd_hosts": ffd.hosts_used,
        "ffd_moves": ffd.migrations,
        "ffd_fits": ffd.placed_all,
        "load_max_before": before.max,
        "load_std_before": before.std,
        "load_max_after": after.max,
        "load_std_after": after.std,
        "load_mean": after.mean,
        "max_over_mean": after.max / after.mean if after.mean else 0.0,
        "unpinned_max_over_mean": free_max / after.mean if after.mean else 0.0,
        "pinned_floor": _floor(snapshot, set(pinned), act),
        "spread_moves": len(spread_plan.moves),
        "consolidate_calls": cons_calls,
        "spread_calls": spread_calls,
    }


def bench_packing(n_hosts: int, n_instances: int, seed: int = SEED) -> dict[str, Any]:
    """Consolidate on the same cloud with every instance movable and no hard groups."""
    snapshot = generate(n_hosts, n_instances, seed, movable_only=True)
    act = active_hosts(snapshot)
    req = RebalanceRequest(strategy="consolidate")
    cons_plan, cons_s = _timed(lambda: plan(snapshot, req))
    lb = lower_bound_hosts(snapshot, act)
    in_use = hosts_in_use(snapshot, cons_plan, act)
    usage = host_usage(snapshot)
    models = {h.name: h for h in snapshot.hosts}
    bins = sorted(act, key=lambda h: (-models[h].usable.ram_mb, -usage[h][1]))
    ffd = ffd_repack(snapshot, act, bins)
    return {
        "hosts": n_hosts,
        "instances": len(snapshot.instances),
        "unmovable": len(_pinned(snapshot, req.policy)),
        "hard_groups": sum(1 for g in snapshot.server_groups if g.policy in HARD),
        "consolidate_s": cons_s,
        "violations": len(violations(snapshot, cons_plan)),
        "in_use_before": hosts_in_use(snapshot, None, act),
        "in_use_after": in_use,
        "lower_bound": lb,
        "vs_lower_bound": in_use / lb if lb else 1.0,
        "consolidate_moves": len(cons_plan.moves),
        "ffd_hosts": ffd.hosts_used,
        "ffd_moves": ffd.migrations,
    }


def _held_hosts(snapshot: Snapshot, pinned: list[str], hosts: list[str]) -> int:
    """Hosts holding at least one instance that cannot move (they stay in use)."""
    names = set(hosts)
    ids = set(pinned)
    return len({i.host for i in snapshot.instances if i.id in ids and i.host in names})


def series(n_hosts: int, n_instances: int) -> str:
    """Which series a cloud belongs to: "issue", "alike" or both."""
    size = (n_hosts, n_instances)
    names = [n for n, sizes in (("issue", ISSUE_SIZES), ("alike", ALIKE_SIZES)) if size in sizes]
    return " + ".join(names) or "other"


def alike(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the alike series (20 instances per host), the ones growth is read on."""
    return [r for r in rows if (r["hosts"], r["instances"]) in ALIKE_SIZES]


def issue(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the issue's series (10/100, 50/1,000, 200/5,000, 1,000/20,000)."""
    return [r for r in rows if (r["hosts"], r["instances"]) in ISSUE_SIZES]


def run(sizes: tuple[tuple[int, int], ...] = SIZES, seed: int = SEED) -> list[dict[str, Any]]:
    """One row per cloud size, each size once (see bench_cloud for the columns, plus
    "series"); each row carries the movable-only consolidation of the same cloud under
    "movable_only"."""
    rows = []
    for h, n in sizes:
        row = bench_cloud(h, n, seed)
        row["series"] = series(h, n)
        row["movable_only"] = bench_packing(h, n, seed)
        row["movable_only"]["series"] = row["series"]
        rows.append(row)
    return rows


COLUMNS = (
    ("series", "series", "{}"),
    ("hosts", "hosts", "{}"),
    ("instances", "inst", "{}"),
    ("drain_s", "drain s", "{:.3f}"),
    ("consolidate_s", "consol. s", "{:.3f}"),
    ("spread_s", "spread s", "{:.3f}"),
    ("us_per_instance", "us/inst", "{:.0f}"),
    ("peak_mb", "peak MB", "{:.0f}"),
    ("violations", "viol.", "{}"),
    ("hosts_emptied", "emptied", "{}"),
    ("in_use_after", "in use", "{}"),
    ("lower_bound", "LB", "{}"),
    ("vs_lower_bound", "/LB", "{:.3f}"),
    ("lower_bound_constrained", "LB*", "{}"),
    ("consolidate_moves", "cons. moves", "{}"),
    ("ffd_hosts", "FFD in use", "{}"),
    ("ffd_moves", "FFD moves", "{}"),
    ("load_max_before", "max before", "{:.2f}"),
    ("load_max_after", "max after", "{:.2f}"),
    ("load_mean", "mean", "{:.2f}"),
    ("pinned_floor", "pinned floor", "{:.2f}"),
    ("unpinned_max_over_mean", "max/mean w/o pinned", "{:.2f}"),
    ("load_std_before", "std before", "{:.3f}"),
    ("load_std_after", "std after", "{:.3f}"),
    ("spread_moves", "spread moves", "{}"),
)


GROWTH_COLUMNS = (
    ("series", "series", "{}"),
    ("hosts", "hosts", "{}"),
    ("instances", "inst", "{}"),
    ("consolidate_s", "consol. s", "{:.3f}"),
    ("consolidate_moves", "consol. moves", "{}"),
    ("cons_moves_per_inst", "moves/inst", "{:.2f}"),
    ("cons_us_per_inst", "us/inst", "{:.1f}"),
    ("cons_us_per_move", "us/move", "{:.0f}"),
    ("cons_calls_per_move", "calls/move", "{:.0f}"),
    ("spread_s", "spread s", "{:.3f}"),
    ("spread_moves", "spread moves", "{}"),
    ("spread_us_per_inst", "us/inst", "{:.1f}"),
    ("spread_us_per_move", "us/move", "{:.0f}"),
    ("spread_calls_per_move", "calls/move", "{:.0f}"),
)
GROWTH_TITLE = (
    "Growth of consolidate and spread, per instance and per move, on the alike series only "
    "(20 instances per host at every size; the issue's 10/100 and 200/5,000 differ in density, "
    "see above) (calls: Python function calls of one plan, counted by cProfile, which machine "
    "load does not change)"
)


def growth_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size of the alike series: seconds and work per instance and per move, for
    consolidate and spread."""
    out = []
    for r in alike(rows):
        n, cm, sm = r["instances"], max(1, r["consolidate_moves"]), max(1, r["spread_moves"])
        out.append(
            {
                **r,
                "cons_moves_per_inst": cm / n,
                "cons_us_per_inst": 1e6 * r["consolidate_s"] / n,
                "cons_us_per_move": 1e6 * r["consolidate_s"] / cm,
                "cons_calls_per_move": r["consolidate_calls"] / cm,
                "spread_us_per_inst": 1e6 * r["spread_s"] / n,
                "spread_us_per_move": 1e6 * r["spread_s"] / sm,
                "spread_calls_per_move": r["spread_calls"] / sm,
            }
        )
    return out


PACKING_COLUMNS = (
    ("series", "series", "{}"),
    ("hosts", "hosts", "{}"),
    ("instances", "inst", "{}"),
    ("unmovable", "unmovable", "{}"),
    ("hard_groups", "hard groups", "{}"),
    ("consolidate_s", "consol. s", "{:.3f}"),
    ("violations", "viol.", "{}"),
    ("in_use_before", "in use before", "{}"),
    ("in_use_after", "in use", "{}"),
    ("lower_bound", "LB", "{}"),
    ("vs_lower_bound", "/LB", "{:.3f}"),
    ("consolidate_moves", "cons. moves", "{}"),
    ("ffd_hosts", "FFD in use", "{}"),
    ("ffd_moves", "FFD moves", "{}"),
)
PACKING_TITLE = (
    "Consolidate on the same clouds with every instance movable and no hard server groups "
    "(`generate(hosts, instances, seed, movable_only=True)`): LB is the yardstick"
)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as Markdown tables (for bench/RESULTS.md): every cloud, the growth of the
    alike series, then the movable-only clouds."""
    packing = [r["movable_only"] for r in rows if "movable_only" in r]
    out = table.markdown(COLUMNS, rows)
    out += f"\n{GROWTH_TITLE}:\n\n" + table.markdown(GROWTH_COLUMNS, growth_rows(rows))
    if packing:
        out += f"\n{PACKING_TITLE}:\n\n" + table.markdown(PACKING_COLUMNS, packing)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"only the clouds of up to {QUICK_MAX_INSTANCES:,} instances (both series)",
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    sizes = tuple(s for s in SIZES if s[1] <= QUICK_MAX_INSTANCES) if args.quick else SIZES
    rows = run(sizes, args.seed)
    if args.markdown:
        print(markdown(rows))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(width=250)
    for title, columns, data in (
        (f"novaflow planner benchmark (seed {args.seed})", COLUMNS, rows),
        (GROWTH_TITLE, GROWTH_COLUMNS, growth_rows(rows)),
        (PACKING_TITLE, PACKING_COLUMNS, [r["movable_only"] for r in rows]),
    ):
        out = Table(title=title)
        for key, label, _ in columns:
            out.add_column(label, justify="right", no_wrap=key == "series")
        for r in data:
            out.add_row(*(f.format(r[k]) for k, _, f in columns))
        console.print(out)


if __name__ == "__main__":
    main()
