"""Campaign benchmark: a kernel campaign over a whole cloud, against its lower bounds and a
plain rolling baseline.

    .venv/bin/python -m bench.campaign               # 100 hosts / 2,000 instances, then 1,000
    .venv/bin/python -m bench.campaign --sizes 100   # the smaller cloud only
    .venv/bin/python -m bench.campaign --write       # and replace this section of RESULTS.md
    .venv/bin/python -m bench.campaign --database postgresql   # the server on PostgreSQL

Each size is a seeded sim cloud (`ClusterSpec.generated`, seed `SEED`: hosts of 32-64 cores
in two zones, uneven load, anti-affinity and affinity groups, PCI and vTPM guests that must
move cold, one live migration per host at a time), served by `novaflow sim serve` in a
process of its own, as a real cloud never shares the flow's interpreter. The campaign covers
every host. The real `rolling-maintenance` flow runs it on a real Prefect server (SQLite, or
a private PostgreSQL with `--database postgresql`) with `campaign` set, `batch_size` =
`PARALLEL` hosts in flight, the default 10% free-capacity margin and `max_moved_twice`
(0.03), moves in flight across the cloud (`max_parallel`) `MOVES_PER_HOST` per host in
flight, and as work step a command that reboots the host in the sim (a POST to
`/sim/hosts/{host}/reboot`, down `WORK_S` simulated seconds): the host's work and
return-to-service check take `WORK_S`. While it runs, bench/campaign_timeline.py reads every
host's service and instance count off the sim (`GET /sim/summary?brief=true`) to give each
host's phases; the reading gives their means, and the first row's timeline is drawn to
bench/campaign-timeline.png.

Columns (times in simulated seconds, the sim at `TIME_SCALE` real seconds per simulated one):

* `start -> approval`: from the flow's start to its one approval (reading the cloud,
  checking the hosts, planning the first drain, the gate), on the sim's clock; the campaign
  itself starts at the approval, which in a real window may come at any time after.
* `wall`: from the approval (the gate answered, as an operator would in the UI) to the
  flow's return, on the sim's clock.
* `LB wall`: sum over hosts of (drain + work + check) / the hosts in flight, and never less
  than the longest host. A host's drain is its moves' own durations in the sim's model
  (`move_seconds`: live for ACTIVE guests that can go live, otherwise cold + its confirm),
  one at a time through its single live-migration slot, plus the conductor's delay; work +
  check is `WORK_S`. Hosts in flight are `PARALLEL`, or fewer when taking that many of the
  largest hosts out would leave the rest under the 10% margin.
* `floor wall`: the same with each drain's cold migrations beside its live ones (only live
  migrations in the slots, as in bench/drain.py's floor): Nova does not count cold
  migrations against `max_concurrent_live_migrations`, so a campaign can finish under
  `LB wall`, never under this.
* `migrations / instance`: the sim's migration records during the run over the instances
  in the cloud. `LB` is 1.0 when a host starts empty (every host can then drain into hosts
  already done); otherwise the first host drained has no done host to go to, so its
  instances move twice: 1 + (fewest instances on a host) / instances.
* `rolling baseline`: today's rolling maintenance on the same cloud, host by host in name
  order with the drain planner of today (no preference for done hosts), replayed offline on
  the cloud's snapshot: every planned move is applied, the host enabled again, the next
  planned. It counts migrations, not time.
* `hosts / hour`: hosts done per simulated hour of `wall`.
* `server CPU`: the Prefect server's CPU seconds over the run's real seconds;
  `unfinished task runs (max)`: the most task runs the server had not recorded as ended, at
  10 s samples (about the tasks in flight while it keeps ahead); `backlog at end s`: how
  long after the flow returned the server had recorded every task run as ended.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench import campaign_timeline as timeline
from bench import table
from bench.overhead import _cpu_s, _server_pid
from bench.prefect_server import (
    ServerWatch,
    clouds_yaml_restored,
    database_pid,
    shared_prefect_server,
)
from novaflow.models import DrainRequest, Resources, Snapshot
from novaflow.planner import plan as make_plan
from novaflow.sim.clouds_yaml import CLOUD_NAME
from novaflow.sim.moves.common import CONDUCTOR_DELAY, live_blocker, move_seconds
from novaflow.sim.process import SimProcess, sim_process
from novaflow.sim.spec import ClusterSpec
from novaflow.sim.state import SimCloud

SEED = 1
NEEDS_PREFECT = True
HAS_QUICK = True
SIZES = ((100, 2_000), (1_000, 20_000))
TIME_SCALE = 0.01  # 1 simulated second = 10 ms: a 300 s reboot takes 3 real s
PARALLEL = 8
MOVES_PER_HOST = 3
"""Moves one host in flight keeps going: its live slot, one live migration queued behind it in
Nova (the dispatcher's queue-ahead) and one cold migration (its own budget). The run's default
`max_parallel` of 8 moves across the cloud would leave 8 hosts in flight fewer than one
running migration each, below what the lower bound counts (every host's slot busy)."""
MARGIN = 0.10
WORK_S = 300.0
CONFIRM_S = 3.0
CAMPAIGN = "bench-kernel"
SAMPLE_S = 0.2
"""Real seconds between the timeline's samples of a 100-host sim (20 simulated seconds)."""
RESULTS = Path(__file__).with_name("RESULTS.md")
BENCH_PYTHON = Path(__file__).parent.parent / ".venv-bench" / "bin" / "python"
TITLE = "Campaign: a whole cloud rebooted host by host"
TARGETS = {"migrations": 1.05, "wall": 1.15}


# ------------------------------------------------------------------ the rolling baseline


def moved(snapshot: Snapshot, targets: dict[str, str]) -> Snapshot:
    """The snapshot after the instances in `targets` (id -> host) moved there."""
    delta: dict[str, Resources] = {}
    zones = {h.name: h.zone for h in snapshot.hosts}
    instances = []
    for inst in snapshot.instances:
        target = targets.get(inst.id)
        if target is None or target == inst.host:
            instances.append(inst)
            continue
        res = inst.resources
        if inst.host:
            delta[inst.host] = delta.get(inst.host, Resources()) - res
        delta[target] = delta.get(target, Resources()) + res
        instances.append(inst.model_copy(update={"host": target, "zone": zones[target]}))
    hosts = [
        h.model_copy(update={"used": h.used + delta[h.name]}) if h.name in delta else h
        for h in snapshot.hosts
    ]
    return snapshot.model_copy(update={"instances": instances, "hosts": hosts})


def rolling_baseline(snapshot: Snapshot, hosts: list[str]) -> dict[str, Any]:
    """Today's rolling maintenance, host by host: migrations, and instances moved twice+."""
    moves: Counter[str] = Counter()
    stuck = 0
    for host in hosts:
        plan = make_plan(snapshot, DrainRequest(hosts=[host]))
        stuck += len(plan.skips)
        targets = {m.instance_id: m.target for m in plan.moves if m.target}
        moves.update(targets.keys())
        snapshot = moved(snapshot, targets)
    return {
        "migrations": sum(moves.values()),
        "moved_again": sum(1 for n in moves.values() if n > 1),
        "not_movable": stuck,
    }


# ------------------------------------------------------------------ lower bounds


def drain_seconds(cloud: SimCloud, *, cold_beside: bool = False) -> dict[str, float]:
    """Each host's drain in the sim's own duration model, through its live slots (`cloud`
    is the spec's sim as seeded, built here without serving it: the served one is another
    process's). Without `cold_beside`, cold migrations count in the slots too (the issue's
    bound); with it, only live ones do and cold ones run beside them, as Nova allows (it
    does not count cold migrations against max_concurrent_live_migrations): the floor."""
    live: dict[str, float] = {h: 0.0 for h in cloud.hosts}
    cold: dict[str, float] = {h: 0.0 for h in cloud.hosts}
    longest: dict[str, float] = {h: 0.0 for h in cloud.hosts}
    with cloud.lock:
        for inst in cloud.instances.values():
            if inst.host is None:
                continue
            if inst.status == "ACTIVE" and live_blocker(inst) is None:
                took = move_seconds(cloud.seed, inst, "live")
                live[inst.host] += took
            else:
                took = move_seconds(cloud.seed, inst, "cold") + CONFIRM_S
                cold[inst.host] += took
            longest[inst.host] = max(longest[inst.host], took)
        slots = {h.name: h.max_concurrent_live_migrations for h in cloud.hosts.values()}
    out = {}
    for h in cloud.hosts:
        in_slots = live[h] if cold_beside else live[h] + cold[h]
        moves = live[h] + cold[h]
        out[h] = max(in_slots / slots[h], longest[h]) + CONDUCTOR_DELAY if moves else 0.0
    return out


def hosts_in_flight(snapshot: Snapshot, parallel: int, margin: float) -> int:
    """`parallel`, or fewer if that many of the largest hosts out breaks the margin."""
    from flows.campaign import free_fraction

    largest = sorted(snapshot.hosts, key=lambda h: -h.usable.ram_mb)
    for k in range(parallel, 0, -1):
        if free_fraction(snapshot, [h.name for h in largest[:k]]) >= margin:
            return k
    return 1


def lower_bounds(cloud: SimCloud, snapshot: Snapshot) -> dict[str, Any]:
    drains = drain_seconds(cloud)
    k = hosts_in_flight(snapshot, PARALLEL, MARGIN)
    per_host = [d + WORK_S for d in drains.values()]
    floors = [d + WORK_S for d in drain_seconds(cloud, cold_beside=True).values()]
    counts = Counter(i.host for i in snapshot.instances)
    empty = any(counts[h.name] == 0 for h in snapshot.hosts)
    fewest = min((counts[h.name] for h in snapshot.hosts if counts[h.name]), default=0)
    n = len(snapshot.instances)
    return {
        "in_flight": k,
        "lb_wall": max(sum(per_host) / k, max(per_host)),
        "floor_wall": max(sum(floors) / k, max(floors)),
        "lb_migrations": 1.0 if empty else 1 + fewest / n,
        "empty_hosts": sum(1 for h in snapshot.hosts if counts[h.name] == 0),
    }


# ------------------------------------------------------------------ the campaign run


def work_command(sim: SimProcess) -> str:
    body = json.dumps({"down_seconds": WORK_S})
    return (
        f"curl -sSf -X POST -H 'Content-Type: application/json' -d {shlex.quote(body)} "
        f"{sim.url}/sim/hosts/{{host}}/reboot"
    )


def sim_now(sim: SimProcess) -> float:
    """The served sim's clock (simulated seconds)."""
    return float(httpx.get(f"{sim.url}/sim/summary?brief=true", timeout=30).json()["now"])


def migrations_per_instance(sim: SimProcess) -> Counter[str]:
    """Migrations Nova recorded, per instance (os-migrations, as an operator lists them)."""
    import openstack

    conn = openstack.connect(cloud=CLOUD_NAME, config_file=str(sim.clouds_yaml))
    try:
        return Counter(m.server_id for m in conn.compute.migrations())
    finally:
        conn.close()


def run_campaign(
    sim: SimProcess, hosts: list[str], named: bool = True
) -> tuple[dict[str, Any], list[timeline.HostPhases]]:
    """The real flow over every host; its sim-clock wall time, what the sim recorded, and
    each host's phases as the sim saw them."""
    import os

    from deployments.run_cli import run_foreground
    from flows.rolling import rolling_maintenance
    from tasks.connect import forget_clouds

    os.environ["OS_CLIENT_CONFIG_FILE"] = str(sim.clouds_yaml)
    forget_clouds()
    params = {
        "hosts": hosts,
        "batch_size": PARALLEL,
        "min_free_fraction": MARGIN,
        "campaign": f"{CAMPAIGN}-{len(hosts)}" if named else None,
        "work_command": work_command(sim),
        "work_timeout_s": 600,
        "check_timeout_s": 4 * WORK_S,
        "on_work_failure": "skip",
        "settings": {"cloud": CLOUD_NAME, "max_parallel": PARALLEL * MOVES_PER_HOST},
    }
    api = os.environ["PREFECT_API_URL"]
    server = [_server_pid(api), *([database_pid[api]] if api in database_pid else [])]
    cpu_before = [_cpu_s(pid) for pid in server]
    start_sim, start_real = sim_now(sim), time.perf_counter()
    approved: list[float] = []

    def approve(gate: Any) -> dict[str, Any]:
        """The operator's approval, on the sim's clock: the campaign's wall time starts here."""
        approved.append(sim_now(sim))
        return {"approved": True, "approver": "bench", "via": "ui"}

    error = None
    with (
        timeline.Sampler(sim.url, sample_every(len(hosts))) as sampler,
        ServerWatch(api) as watch,
    ):
        try:
            report = run_foreground(rolling_maintenance, params, approve, show=False)
        except Exception as exc:  # the row says the run failed rather than losing the others
            report, error = None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        real_s = time.perf_counter() - start_real
        drained = watch.drained_within()
    if report is None and error is None:
        error = "the flow ended without a report; its error is printed above"
    since = approved[0] if approved else start_sim
    wall_sim = sim_now(sim) - since
    cpu = [_cpu_s(pid) - before for pid, before in zip(server, cpu_before, strict=True)]
    forget_clouds()
    moves = migrations_per_instance(sim)
    done = _hosts_done(report, params["campaign"] or "unnamed")
    return {
        "wall": wall_sim,
        "before_approval": since - start_sim,
        "real_s": real_s,
        "database": "postgresql" if len(cpu) > 1 else "sqlite",
        "server_cpu": cpu[0] / real_s,
        "db_cpu": cpu[1] / real_s if len(cpu) > 1 else None,
        "backlog_max": max(watch.counts, default=0),
        "backlog_end_s": drained,
        "migrations": sum(moves.values()),
        "moved_again": sum(1 for n in moves.values() if n > 1),
        "hosts_done": done,
        "error": error,
    }, timeline.phases(sampler.samples, since)


def sample_every(hosts: int) -> float:
    """Real seconds between timeline samples: each reads every host, so fewer on big clouds."""
    return SAMPLE_S * max(1.0, hosts / 100)


def _hosts_done(report: Any, name: str) -> int:
    """Hosts the campaign reports done, from its closing note ("campaign NAME: 97 done, ...")."""
    for note in getattr(report, "notes", None) or []:
        if note.startswith(f"campaign {name}: "):
            found = re.search(r"(\d+) done", note)
            if found:
                return int(found.group(1))
    return 0


# ------------------------------------------------------------------ rows


def bench_row(
    hosts: int, instances: int, seed: int = SEED, named: bool = True, database: str = "sqlite"
) -> dict[str, Any]:
    from novaflow.cloud import Cloud

    spec = ClusterSpec.generated(hosts=hosts, instances=instances, seed=seed)
    with clouds_yaml_restored(), sim_process(spec, time_scale=TIME_SCALE, start_s=600) as sim:
        cloud = Cloud.connect(CLOUD_NAME, config_file=str(sim.clouds_yaml))
        snapshot = cloud.snapshot()
        cloud.close()
        names = sorted(h.name for h in snapshot.hosts)
        n = len(snapshot.instances)
        bounds = lower_bounds(SimCloud(spec, time_scale=TIME_SCALE), snapshot)
        t0 = time.perf_counter()
        base = rolling_baseline(snapshot, names)
        print(
            f"  campaign {hosts}/{instances}: baseline {base['migrations'] / n:.3f} migrations "
            f"per instance ({time.perf_counter() - t0:.0f} s offline); LB wall "
            f"{bounds['lb_wall']:.0f} s with {bounds['in_flight']} in flight",
            flush=True,
        )
        with shared_prefect_server(database):
            run, found = run_campaign(sim, names, named)
    per = run["migrations"] / n
    return {
        "hosts": hosts,
        "instances": n,
        "empty_hosts": bounds["empty_hosts"],
        "in_flight": bounds["in_flight"],
        "before_approval": run["before_approval"],
        "wall": run["wall"],
        "lb_wall": bounds["lb_wall"],
        "vs_lb_wall": run["wall"] / bounds["lb_wall"],
        "floor_wall": bounds["floor_wall"],
        "vs_floor_wall": run["wall"] / bounds["floor_wall"],
        "per_instance": per,
        "lb_migrations": bounds["lb_migrations"],
        "vs_lb_migrations": per / bounds["lb_migrations"],
        "moved_again": run["moved_again"],
        "baseline_per_instance": base["migrations"] / n,
        "baseline_moved_again": base["moved_again"],
        "hosts_done": run["hosts_done"],
        "per_hour": run["hosts_done"] / (run["wall"] / 3600) if run["wall"] else 0.0,
        "real_s": run["real_s"],
        "error": run["error"],
        "named": named,
        "database": run["database"],
        "server_cpu": run["server_cpu"],
        "db_cpu": run["db_cpu"],
        "backlog_max": run["backlog_max"],
        "backlog_end_s": run["backlog_end_s"],
        "phases": found,
        "breakdown": timeline.breakdown(found, run["wall"]),
        "sample_s": sample_every(hosts) / TIME_SCALE,
    }


def run(
    sizes: tuple[tuple[int, int], ...] = SIZES,
    seed: int = SEED,
    quick: bool = False,
    named: bool = True,
    database: str = "sqlite",
) -> list[dict[str, Any]]:
    rows = []
    for hosts, instances in sizes[:1] if quick else sizes:
        rows.append(bench_row(hosts, instances, seed, named, database))
        r = rows[-1]
        print(
            f"  campaign {hosts}/{instances}: wall {r['wall']:.0f} s ({r['vs_lb_wall']:.3f} x LB), "
            f"{r['per_instance']:.3f} migrations per instance ({r['vs_lb_migrations']:.3f} x LB), "
            f"{r['real_s']:.0f} s real",
            flush=True,
        )
    drawn = [r for r in rows if r.get("phases")][:1]
    for r in drawn:
        title = f"Campaign over {r['hosts']:,} hosts / {r['instances']:,} instances"
        r["timeline"] = timeline.plot(r["phases"], title, BENCH_PYTHON) or "drawn"
    return rows


COLUMNS = (
    ("hosts", "hosts", "{:,}"),
    ("instances", "instances", "{:,}"),
    ("empty_hosts", "empty at start", "{}"),
    ("in_flight", "hosts in flight", "{}"),
    ("before_approval", "start -> approval s", "{:,.0f}"),
    ("wall", "wall s", "{:,.0f}"),
    ("lb_wall", "LB wall s", "{:,.0f}"),
    ("vs_lb_wall", "wall / LB", "{:.3f}"),
    ("floor_wall", "floor wall s", "{:,.0f}"),
    ("vs_floor_wall", "wall / floor", "{:.3f}"),
    ("per_instance", "migrations / instance", "{:.3f}"),
    ("lb_migrations", "LB", "{:.3f}"),
    ("vs_lb_migrations", "migrations / LB", "{:.3f}"),
    ("moved_again", "moved twice+", "{:,}"),
    ("baseline_per_instance", "rolling baseline migrations / instance", "{:.3f}"),
    ("baseline_moved_again", "baseline moved twice+", "{:,}"),
    ("hosts_done", "hosts done", "{:,}"),
    ("per_hour", "hosts / hour", "{:.1f}"),
    ("real_s", "run s (real)", "{:.0f}"),
    ("database", "Prefect database", "{}"),
    ("server_cpu", "server CPU (cores)", "{:.2f}"),
    ("backlog_max", "unfinished task runs (max)", "{:,}"),
    ("backlog_end_s", "backlog at end s", "{:.1f}"),
)


def markdown(rows: list[dict[str, Any]]) -> str:
    return table.markdown(COLUMNS, rows)


def reading(rows: list[dict[str, Any]]) -> str:
    """Each target against the run's own figures, met or missed."""
    lines = []
    for r in rows:
        if r.get("error"):
            lines.append(
                f"{r['hosts']:,} hosts / {r['instances']:,} instances: the campaign flow "
                f"failed ({r['error']}), so neither target is measured; the plain rolling "
                f"baseline moves {r['baseline_per_instance']:.3f} migrations per instance "
                f"({r['baseline_moved_again']:,} instances more than once) against a lower "
                f"bound of {r['lb_migrations']:.3f}, and the wall-time bound is "
                f"{r['lb_wall']:,.0f} s with {r['in_flight']} hosts in flight."
            )
            continue
        mig_ok = r["vs_lb_migrations"] <= TARGETS["migrations"]
        wall_ok = r["vs_lb_wall"] <= TARGETS["wall"]
        lines.append(
            f"{r['hosts']:,} hosts / {r['instances']:,} instances: migrations per instance "
            f"{r['per_instance']:.3f} against a lower bound of {r['lb_migrations']:.3f} "
            f"({r['vs_lb_migrations']:.3f}x, target <= {TARGETS['migrations']}x: "
            f"{'**met**' if mig_ok else '**missed**'}; the plain rolling baseline moves "
            f"{r['baseline_per_instance']:.3f} per instance, {r['baseline_moved_again']:,} "
            f"instances more than once); wall time {r['wall']:,.0f} s against "
            f"{r['lb_wall']:,.0f} s ({r['vs_lb_wall']:.3f}x, target <= {TARGETS['wall']}x: "
            f"{'**met**' if wall_ok else '**missed**'}; against the floor that runs cold "
            f"migrations beside the live ones, as Nova allows, {r['vs_floor_wall']:.3f}x of "
            f"{r['floor_wall']:,.0f} s); {r['per_hour']:.1f} hosts done per "
            f"hour with {r['in_flight']} in flight."
            + (
                " The campaign ran without a name (`--unnamed`: the same engine, its host "
                "states not kept between runs)."
                if not r.get("named", True)
                else ""
            )
            + (
                " " + timeline.describe(r["breakdown"], r["sample_s"], r["in_flight"])
                if r.get("breakdown")
                else ""
            )
            + " "
            + server_reading(r)
        )
    lines += [timeline_line(r) for r in rows if r.get("timeline")]
    return "\n\n".join(lines) + "\n"


def server_reading(r: dict[str, Any]) -> str:
    """Whether one Prefect server kept ahead of the campaign's events and states (issue 23)."""
    end = r.get("backlog_end_s")
    kept = end is not None and end <= 2.5
    return (
        f"The Prefect server ({r['database']}) used {r['server_cpu']:.2f} of a core on average"
        + (f", PostgreSQL {r['db_cpu']:.2f}" if r.get("db_cpu") is not None else "")
        + f"; at most {r['backlog_max']:,} task runs were unfinished on it at a sample (every "
        f"10 s), and it had recorded every task run "
        + (f"{end:.1f} s after the flow returned" if end is not None else "not within 600 s")
        + f": it kept ahead, {'yes' if kept else 'no'}."
    )


def timeline_line(r: dict[str, Any]) -> str:
    if r["timeline"] != "drawn":
        return f"(The timeline was not drawn: {r['timeline']}.)"
    return (
        f"Each host's phases in the {r['hosts']:,}-host run, as the sim saw them "
        f"([bench/{timeline.PLOT.name}]({timeline.PLOT.name})):\n\n"
        f"![campaign timeline]({timeline.PLOT.name})"
    )


def write_section(text: str) -> None:
    """Replace (or add) this benchmark's section of RESULTS.md, leaving the others alone."""
    doc = RESULTS.read_text() if RESULTS.exists() else "# novaflow benchmarks\n"
    start = doc.find(f"## {TITLE}")
    if start < 0:
        doc = doc.rstrip("\n") + "\n\n" + text
    else:
        end = doc.find("\n## ", start + 1)
        doc = doc[:start] + text + (doc[end + 1 :] if end >= 0 else "")
    RESULTS.write_text(doc)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[h for h, _ in SIZES], help="host counts to run"
    )
    parser.add_argument("--write", action="store_true", help="replace this section of RESULTS.md")
    parser.add_argument(
        "--unnamed",
        action="store_true",
        help="run the campaign without a name: the same engine, its host states not kept",
    )
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the Prefect server's database (postgresql: a private one, as in production)",
    )
    args = parser.parse_args(argv)
    sizes = tuple(s for s in SIZES if s[0] in args.sizes)
    t0 = time.perf_counter()
    rows = run(sizes, args.seed, named=not args.unnamed, database=args.database)
    took = time.perf_counter() - t0
    text = markdown(rows) + "\n" + reading(rows)
    print(text)
    if args.write:
        doc = (__doc__ or "").split("\n\n", 2)[-1].strip()
        write_section(
            f"## {TITLE}\n\n`python -m bench.campaign`, seed {args.seed}, {took:.0f} s.\n\n"
            f"{doc}\n\n{text}"
        )


if __name__ == "__main__":
    main()
