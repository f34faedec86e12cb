"""novaflow's rebalance beside OpenStack Watcher's strategies, on the same clouds, one scorer.

`python -m bench.watcher` (needs the bench-only environment: `make bench-env`, which
installs bench/watcher-requirements.txt into .venv-bench).

The clouds are novaflow/synthetic.py's (seed 1) with its seeded per-instance CPU load and
hot hosts. python-watcher 17.0.0 runs offline in .venv-bench (bench/watcher_run.py): its
compute model is filled from the same cloud, its datasource answers from the same load,
and vm_workload_consolidation, node_resource_consolidation (host_choice 'specify', so the
plan names its targets) and workload_balance (instance_cpu_usage, threshold 25 %, re-run on
its own result until it plans no migration) are built and executed directly. Watcher is
told which instances novaflow finds unmovable (a task in progress, a PCI device, ERROR,
suspended, shelved) as instances excluded from the audit scope, so it is not blamed for
moving them. Chains of migrations of one instance are merged (A->B, B->C is A->C), as
vm_workload_consolidation does itself.

Every plan is scored the same way: novaflow's validator (novaflow/planner/validate.py:
capacity with allocation ratios, server groups, zones, methods) counts violations; hosts in
use are the active hosts holding any instance after the plan; CPU load is a host's busy
cores over its physical threads after the plan (max, standard deviation, hosts over 100 %).
novaflow runs at Watcher's own number of migrations as its move budget ("at budget") and
unbounded. Beside spread at workload_balance's budget, the reading gives the floor no plan
of that many moves can go under (novaflow/planner/metrics.py spread_floor: the hottest
host's busiest movable instance moved each time, wherever it goes). Seconds are one run on
this machine, Watcher's in its own process without the process start-up and JSON exchange
(the reading gives its wall-clock seconds with them, and the load average). A Watcher
strategy still running after 300 s is stopped and its row says so; node_resource_consolidation
on 1,000 hosts gets 3,600 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

from bench.table import markdown as md_table
from novaflow.models import Method, Move, Plan, RebalanceRequest, Snapshot
from novaflow.planner import plan as make_plan
from novaflow.planner.bounds import pinned_zone
from novaflow.planner.constraints import Choice, choose_method
from novaflow.planner.metrics import (
    active_hosts,
    cpu_loads,
    hosts_in_use,
    load_stats,
    lower_bound_hosts,
    spread_floor,
)
from novaflow.planner.validate import violations
from novaflow.synthetic import generate

SEED = 1
SIZES = ((50, 1_000), (200, 5_000), (1_000, 20_000))
QUICK_SIZES = ((50, 1_000),)
HAS_QUICK = True
WATCHER_LIMIT_S = 300
"""A Watcher strategy still running after this is stopped and its row says so."""
WATCHER_LIMITS = {("node_resource_consolidation", 1_000): 3_600}
"""Longer limits, by (strategy, hosts): node_resource_consolidation on 1,000 hosts runs for
many minutes (it ran past 300 s, so its row was missing)."""
SWEEP_POINTS = 16
ROOT = Path(__file__).resolve().parent.parent
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
PLOT = Path(__file__).with_name("tradeoff.png")
CONSOLIDATORS = ("vm_workload_consolidation", "node_resource_consolidation")
STATES = {
    "ACTIVE": "active",
    "SHUTOFF": "stopped",
    "PAUSED": "paused",
    "SUSPENDED": "suspended",
    "SHELVED": "shelved",
    "ERROR": "error",
}


def missing() -> str | None:
    """Why Watcher cannot run here (None: it can)."""
    if not BENCH_PYTHON.exists():
        return f"{BENCH_PYTHON} is missing: run `make bench-env`"
    probe = subprocess.run(
        [str(BENCH_PYTHON), "-c", "import watcher.decision_engine.strategy.strategies"],
        capture_output=True,
        text=True,
    )
    if probe.returncode:
        return "python-watcher does not import: " + probe.stderr.strip().splitlines()[-1]
    return None


def movable(snapshot: Snapshot) -> set[str]:
    """Instances novaflow may aim at a host (the rest are excluded from Watcher's scope)."""
    policy = RebalanceRequest(strategy="spread").policy
    out = set()
    for i in snapshot.instances:
        c = choose_method(i, policy, snapshot.features)
        if i.host is not None and isinstance(c, Choice) and not c.scheduler_picks:
            out.add(i.id)
    return out


def watcher_cloud(snapshot: Snapshot) -> dict[str, Any]:
    """The cloud as the plain JSON bench/watcher_run.py builds Watcher's model from."""
    load = cpu_loads(snapshot)
    hosts = []
    for h in snapshot.hosts:
        threads = h.threads or h.capacity.vcpus
        hosts.append(
            {
                "uuid": f"node-{h.name}",
                "name": h.name,
                "status": h.status,
                "state": "up" if h.is_up else "down",
                "vcpus": threads,
                "vcpu_reserved": h.reserved.vcpus,
                "vcpu_ratio": h.ratios.cpu,
                "memory": h.capacity.ram_mb,
                "memory_mb_reserved": h.reserved.ram_mb,
                "memory_ratio": h.ratios.ram,
                "disk": h.capacity.disk_gb,
                "disk_gb_reserved": h.reserved.disk_gb,
                "disk_ratio": h.ratios.disk,
                "cpu_percent": 100.0 * load[h.name],
            }
        )
    instances = []
    may_move = movable(snapshot)
    for i in snapshot.instances:
        if i.host is None:
            continue
        r = i.resources
        instances.append(
            {
                "uuid": i.id,
                "name": i.name,
                "host": i.host,
                "state": STATES.get(i.status, "active"),
                "vcpus": int(r.vcpus),
                "memory": int(r.ram_mb),
                "disk": int(r.disk_gb),
                "cpu_percent": 100.0 * (i.cpu_load or 0.0) / max(1, i.flavor.vcpus),
                "exclude": i.id not in may_move,
                "pinned_az": pinned_zone(i, snapshot.features) or "",
            }
        )
    return {"hosts": hosts, "instances": instances}


def limit_s(name: str, n_hosts: int) -> int:
    """Wall-clock seconds a Watcher strategy gets on a cloud of `n_hosts` before it is stopped."""
    return WATCHER_LIMITS.get((name, n_hosts), WATCHER_LIMIT_S)


def run_watcher(
    name: str, snapshot: Snapshot, cloud_file: Path, limit: int = WATCHER_LIMIT_S
) -> tuple[Plan | None, float]:
    """Watcher's plan as a novaflow Plan (None: it ran past `limit` seconds), and seconds."""
    out = cloud_file.with_name(f"{name}.json")
    try:
        subprocess.run(
            [str(BENCH_PYTHON), "-m", "bench.watcher_run", "run", name, str(cloud_file), str(out)],
            cwd=ROOT,
            check=True,
            timeout=limit,
            capture_output=True,
        )
    except subprocess.TimeoutExpired:
        return None, float(limit)
    result = json.loads(out.read_text())
    return _as_plan(snapshot, name, result["moves"]), result["seconds"]


def _as_plan(snapshot: Snapshot, name: str, moves: list[dict[str, Any]]) -> Plan:
    """Watcher's migrations with chains merged, as a Plan the validator can check."""
    insts = {i.id: i for i in snapshot.instances}
    first: dict[str, dict[str, Any]] = {}
    last: dict[str, str | None] = {}
    for m in moves:
        first.setdefault(m["id"], m)
        last[m["id"]] = m["target"]
    out = []
    for iid, m in first.items():
        if last[iid] == m["source"]:
            continue  # moved away and back: no migration in the end
        inst = insts[iid]
        out.append(
            Move(
                instance_id=iid,
                instance_name=inst.name,
                source=m["source"],
                target=last[iid],
                method=Method.LIVE if m["method"] == "live" else Method.COLD,
                reason=f"watcher {name}",
                resources=inst.resources,
            )
        )
    strategy = "spread" if name == "workload_balance" else "consolidate"
    return Plan(request=RebalanceRequest(strategy=strategy), moves=out)


def score(snapshot: Snapshot, who: str, plan: Plan | None, seconds: float) -> dict[str, Any]:
    """One row of the neutral scorer."""
    act = active_hosts(snapshot)
    row: dict[str, Any] = {"who": who, "seconds": seconds}
    if plan is None:
        row.update(skipped=True)
        return row
    loads = list(cpu_loads(snapshot, plan, act).values())
    st = load_stats(loads)
    broken = violations(snapshot, plan)
    row.update(
        skipped=False,
        hosts=hosts_in_use(snapshot, plan, act),
        migrations=len(plan.moves),
        violations=len(broken),
        kinds=Counter(_kind(v) for v in broken),
        max_cpu=st.max,
        std_cpu=st.std,
        over=sum(1 for v in loads if v > 1.0 + 1e-9),
    )
    return row


def _kind(violation: str) -> str:
    """What rule a violation breaks, in a word or three."""
    for words, kind in (
        ("availability zone", "zone"),
        ("group", "server group"),
        ("capacity", "capacity"),
        ("migration of a", "method for the state"),
        ("while task", "task in progress"),
    ):
        if words in violation:
            return kind
    return "other"


def _novaflow(snapshot: Snapshot, strategy: str, budget: int | None) -> tuple[Plan, float]:
    req = RebalanceRequest(strategy=strategy, max_moves=budget)
    t = time.perf_counter()
    p = make_plan(snapshot, req)
    return p, time.perf_counter() - t


def bench_cloud(n_hosts: int, n_instances: int, seed: int = SEED) -> dict[str, Any]:
    """Every row for one cloud, and its point set for the trade-off plot."""
    s = generate(n_hosts, n_instances, seed, cpu_load=True)
    act = active_hosts(s)
    cloud = f"{n_hosts:,} / {n_instances:,}"
    before = score(s, "before (no plan)", Plan(request=RebalanceRequest(strategy="spread")), 0.0)
    rows = [before]
    watcher_points = []
    full, t_full = _novaflow(s, "consolidate", None)
    rows.append(score(s, "novaflow consolidate, unbounded", full, t_full))
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "cloud.json"
        f.write_text(json.dumps(watcher_cloud(s)))
        for name in (*CONSOLIDATORS, "workload_balance"):
            limit = limit_s(name, n_hosts)
            w_load = os.getloadavg()[0]
            t_wall = time.perf_counter()
            wplan, wsec = run_watcher(name, s, f, limit)
            w = score(s, f"Watcher {name}", wplan, wsec)
            w.update(limit=limit, load=w_load, wall=time.perf_counter() - t_wall)
            rows.append(w)
            if w["skipped"]:
                continue
            strategy = "spread" if name == "workload_balance" else "consolidate"
            nplan, nsec = _novaflow(s, strategy, w["migrations"])
            n = score(s, f"novaflow {strategy} at {name}'s budget", nplan, nsec)
            if strategy == "spread":
                n["floor"] = spread_floor(s, w["migrations"], movable(s))
            rows.append(n)
            if name in CONSOLIDATORS:
                point = {"name": name, "migrations": w["migrations"], "hosts": w["hosts"]}
                watcher_points.append(point)
    spread, t_spread = _novaflow(s, "spread", None)
    rows.append(score(s, "novaflow spread, unbounded", spread, t_spread))
    sweep = []
    top = len(full.moves)
    for k in range(SWEEP_POINTS + 1):
        b = round(top * k / SWEEP_POINTS)
        p, _ = _novaflow(s, "consolidate", b)
        sweep.append((len(p.moves), hosts_in_use(s, p, act), b))
    for r in rows:
        r["cloud"] = cloud
    return {
        "cloud": cloud,
        "rows": rows,
        "lower_bound": lower_bound_hosts(s, act),
        "sweep": sweep,
        "watcher": watcher_points,
    }


def run(quick: bool = False, sizes: tuple[tuple[int, int], ...] | None = None) -> list[dict]:
    why = missing()
    if why:
        return [{"cloud": "-", "who": f"Watcher not run: {why}", "skipped": True, "seconds": 0}]
    load_start = os.getloadavg()
    clouds = [bench_cloud(h, n) for h, n in (sizes or (QUICK_SIZES if quick else SIZES))]
    points = {
        "clouds": [
            {
                "title": f"{c['cloud']} (hosts / VMs)",
                "sweep": [(m, h) for m, h, _b in c["sweep"]],
                "watcher": c["watcher"],
                "lower_bound": c["lower_bound"],
            }
            for c in clouds
        ]
    }
    with tempfile.TemporaryDirectory() as tmp:
        pf = Path(tmp) / "points.json"
        pf.write_text(json.dumps(points))
        subprocess.run(
            [str(BENCH_PYTHON), "-m", "bench.watcher_run", "plot", str(pf), str(PLOT)],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    rows = [r for c in clouds for r in c["rows"]]
    for c in clouds:
        hosts = [h for _m, h, _b in c["sweep"]]
        monotone = all(b <= a for a, b in pairwise(hosts))
        rows.append(
            {
                "cloud": c["cloud"],
                "who": "sweep",
                "skipped": True,
                "seconds": 0,
                "note": f"budget sweep of {len(hosts)} budgets: hosts in use "
                f"{'never rise' if monotone else 'RISE'} with budget ({hosts[0]} -> {hosts[-1]}); "
                f"lower bound {c['lower_bound']}",
            }
        )
    rows.append(
        {
            "cloud": "-",
            "who": "load",
            "skipped": True,
            "seconds": 0,
            "note": f"load average (1, 5, 15 min) at the start {_avg(load_start)}, at the end "
            f"{_avg(os.getloadavg())}, on {os.cpu_count()} CPUs",
        }
    )
    return rows


def _avg(load: tuple[float, float, float]) -> str:
    return ", ".join(f"{x:.2f}" for x in load)


COLUMNS = (
    ("cloud", "cloud (hosts / VMs)", "{}"),
    ("who", "plan", "{}"),
    ("hosts", "hosts in use", "{}"),
    ("migrations", "migrations", "{:,}"),
    ("violations", "violations", "{}"),
    ("max_cpu", "max CPU", "{:.2f}"),
    ("std_cpu", "std CPU", "{:.3f}"),
    ("over", "hosts > 100 %", "{}"),
    ("seconds", "seconds", "{:.2f}"),
)


def _cell(r: dict[str, Any], k: str, f: str) -> str:
    if k in ("cloud", "who") or not r.get("skipped"):
        return f.format(r[k]) if k in r else "-"
    if k == "seconds" and r["who"].startswith("Watcher"):
        return f"> {r.get('limit', WATCHER_LIMIT_S)} (stopped)"
    return "-"


def markdown(rows: list[dict[str, Any]]) -> str:
    table = [r for r in rows if r["who"] not in ("sweep", "load")]
    notes = [f"- {r['cloud']}: {r['note']}" for r in rows if r["who"] == "sweep"]
    out = md_table(COLUMNS, table, _cell)
    if notes:
        out += "\n" + "\n".join(notes) + "\n"
    if PLOT.exists():
        out += f"\n![hosts in use against migrations]({PLOT.name})\n"
    return out


def reading(rows: list[dict[str, Any]]) -> str:
    """Each target of issue 22, met or missed, from the rows."""
    by = {(r["cloud"], r["who"]): r for r in rows}
    lines = []
    for cloud in dict.fromkeys(r["cloud"] for r in rows if r["who"] not in ("sweep", "load")):
        for name in CONSOLIDATORS:
            w = by.get((cloud, f"Watcher {name}"))
            n = by.get((cloud, f"novaflow consolidate at {name}'s budget"))
            if w is None or n is None or w.get("skipped"):
                if w is not None:
                    lines.append(
                        f"- {cloud}, {name}: Watcher stopped after "
                        f"{w.get('limit', WATCHER_LIMIT_S)} s (load average {w['load']:.1f} "
                        "at its start)."
                    )
                continue
            met = n["hosts"] <= w["hosts"] and n["violations"] == 0
            lines.append(
                f"- {cloud}, at {name}'s budget ({w['migrations']:,} migrations): novaflow keeps "
                f"{n['hosts']} hosts in use with {n['violations']} violations, Watcher "
                f"{w['hosts']} with {w['violations']}{_kinds(w)}: {_ok(met)}"
            )
        w = by.get((cloud, "Watcher workload_balance"))
        n = by.get((cloud, "novaflow spread at workload_balance's budget"))
        if w is not None and n is not None and not w.get("skipped"):
            met = n["max_cpu"] <= w["max_cpu"] + 1e-9
            floor = (
                f"; no plan of {w['migrations']:,} moves can go under {n['floor']:.3f} (the "
                "hottest host's busiest movable instance moved, every move, wherever it goes)"
                if "floor" in n
                else ""
            )
            lines.append(
                f"- {cloud}, spread at workload_balance's budget ({w['migrations']:,} "
                f"migrations): max CPU {n['max_cpu']:.3f} against {w['max_cpu']:.3f}; violations "
                f"{n['violations']} against {w['violations']}{_kinds(w)}{floor}: {_ok(met)}"
            )
    walls = [
        f"{r['cloud']} {r['who'].removeprefix('Watcher ')} {r['wall']:.0f} s (load {r['load']:.1f})"
        for r in rows
        if r["who"].startswith("Watcher") and "wall" in r
    ]
    if walls:
        lines.append(
            "- Watcher's wall-clock seconds per strategy, process start and JSON exchange "
            "included (1-minute load average at its start): " + ", ".join(walls) + "."
        )
    lines += [f"- {r['note'][0].upper()}{r['note'][1:]}." for r in rows if r["who"] == "load"]
    return "\n".join(lines) + "\n"


def _kinds(row: dict[str, Any]) -> str:
    kinds = row.get("kinds") or {}
    if not kinds:
        return ""
    return " (" + ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) + ")"


def _ok(met: bool) -> str:
    return "**met**" if met else "**missed**"


TITLE = "Rebalance against OpenStack Watcher"
RESULTS = Path(__file__).with_name("RESULTS.md")


def update_results(body: str, took: float) -> None:
    """Put this benchmark's section into bench/RESULTS.md, replacing an older one, as
    `make bench` would write it (the other sections are left as they are)."""
    doc = (__doc__ or "").split("\n\n", 2)[-1].strip()
    section = (
        f"## {TITLE}\n\n`python -m bench.watcher`, seed {SEED}, {took:.0f} s.\n\n{doc}\n\n{body}"
    )
    text = RESULTS.read_text() if RESULTS.exists() else ""
    start = text.find(f"## {TITLE}")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 50-host cloud only")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows = run(quick=args.quick)
    body = markdown(rows) + "\n" + reading(rows)
    print(body)
    if not args.quick:
        update_results(body, time.perf_counter() - t0)


if __name__ == "__main__":
    main(sys.argv[1:])
