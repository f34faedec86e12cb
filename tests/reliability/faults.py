"""The matrix columns: each fault, where it does not apply and why, and how a cell injects it."""

from __future__ import annotations

import os
import random
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flows.params import ApprovalSettings
from novaflow.sim import lifecycle
from novaflow.sim.testing import SimHandle
from tasks.moves import cloud_limit_name, slot_limit_name
from tests.reliability.harness import (
    Cell,
    Trigger,
    approve,
    first_migration,
    mark_crashed,
    wait_paused,
    wait_slots_free,
)
from tests.reliability.outcome import CellResult
from tests.reliability.scenarios import SCENARIOS, Scenario, hosts, settings

KILL_SEEDS = int(os.environ.get("NOVAFLOW_RELIABILITY_KILL_SEEDS", "20"))
"""Seeds per flow for the SIGKILL cells (the brief's 20; the knob is for a quick local look)."""
IN_FLIGHT = {"queued", "preparing", "running", "accepted", "pre-migrating", "migrating"}


@dataclass(frozen=True)
class Fault:
    key: str
    group: str
    title: str
    run: Callable[[Cell], CellResult]
    na: Callable[[Scenario], str | None] = lambda s: None
    seeds: int = 1


def plain(plan: dict[str, Any] | None = None, **kw: Any) -> Callable[[Cell], CellResult]:
    def run(cell: Cell) -> CellResult:
        with cell.cloud_up(plan) as sim:
            cell.run(**kw)
            result = cell.audit()
            result.requests = sum(sim.stats()["requests"].values())
            return result

    return run


def triggered(
    when: Callable[[SimHandle], Any], then: Callable[[Cell, SimHandle, Any], Any], **kw: Any
) -> Callable[[Cell], CellResult]:
    def run(cell: Cell) -> CellResult:
        with cell.cloud_up() as sim:
            trig = Trigger(sim, when, lambda s, hit: then(cell, s, hit))
            cell.run(**kw)
            trig.stop()
            if trig.error:
                cell.notes.append(f"injecting the fault failed: {trig.error}")
            elif not trig.fired:
                cell.notes.append("the fault never fired (the run ended first)")
            return cell.audit()

    return run


# -- mid-run actions ----------------------------------------------------------------------


def expire_tokens(cell: Cell, sim: SimHandle, mig: Any) -> None:
    sim.expire_tokens()
    cell.notes.append(f"every token expired when migration {mig.id} started")


def moving_to_another_host(sim: SimHandle) -> Any:
    with sim.state.lock:
        for m in sim.state.migrations.values():
            if m.status in IN_FLIGHT and m.dest_compute and sim.state.hosts[m.dest_compute].is_up:
                return m
    return None


def kill_destination(cell: Cell, sim: SimHandle, mig: Any) -> None:
    sim.kill_host(mig.dest_compute)
    cell.notes.append(f"{mig.dest_compute} went down while migration {mig.id} moved onto it")


def untouched_instance(cell: Cell, sim: SimHandle) -> str | None:
    """An ACTIVE instance on a source host that novaflow has not touched yet."""
    sources = cell.scenario.sources(cell.prefix)
    with sim.state.lock:
        moving = {m.instance_id for m in sim.state.migrations.values()}
        for inst in sorted(sim.state.instances.values(), key=lambda i: i.name, reverse=True):
            on_source = sources is None or inst.host in sources
            if on_source and inst.status == "ACTIVE" and not inst.locked and inst.id not in moving:
                return inst.id
    return None


def owner_acts(action: str) -> Callable[[Cell], CellResult]:
    """The owner stops or deletes an instance of the run's source when the run's first
    server action (a lock or a move) reaches Nova: after the plan counted the instance,
    before its move. The sim does it inside that request, before serving it, so no other
    move can start first; by then every move starting at once (a drain's live and cold
    slots take a small host's instances together) would leave no instance not yet touched
    for a watcher thread to pick. It may be the very instance that first request is for."""

    def run(cell: Cell) -> CellResult:
        fired = threading.Event()

        def hook(route: str) -> None:
            if fired.is_set() or not (
                route.startswith("POST ") and route.endswith("/servers/{server_id}/action")
            ):
                return
            fired.set()
            assert cell.sim is not None
            iid = untouched_instance(cell, cell.sim)
            if iid is None:
                cell.notes.append(f"no untouched instance left to be {action} by its owner")
                return
            cloud = cell.sim.state
            with cloud.lock:  # the owner's own API call, done in place (this is Nova's loop)
                inst = cloud.instance(iid)
                if action == "stopped":
                    lifecycle.stop(cloud, inst)
                else:
                    lifecycle.delete_server(cloud, inst)
            cell.owner[iid] = action
            cell.notes.append(f"{inst.name} {action} by its owner mid-run")

        with cell.cloud_up() as sim:
            sim.state.request_hooks.append(hook)
            cell.run()
            sim.state.request_hooks.remove(hook)
            if not fired.is_set():
                cell.notes.append("the fault never fired (the run ended first)")
            return cell.audit()

    return run


# -- concurrency --------------------------------------------------------------------------


def second_run(scenario_of_second: Callable[[Cell], Scenario]) -> Callable[[Cell], CellResult]:
    """While the cell's run holds its host (paused at its approval gate), start another run
    on that host; then approve the first run and let it finish."""

    def run(cell: Cell) -> CellResult:
        with cell.cloud_up():
            gated = ApprovalSettings(mode="ui", timeout_s=300)
            proc, out, name = cell.start(cell.params(approval=gated))
            if not wait_paused(name, 120):
                cell.notes.append("the first run never reached its gate")
            other = scenario_of_second(cell)
            params = other.params(cell.prefix, settings(cell.cloud))
            second_proc, second_out, _ = cell.start(params, other)
            second = cell.finish(second_proc, second_out, keep=False)
            if second.report is None:
                cell.notes.append(f"second run ({other.key}) refused: {second.error}")
            else:
                cell.second_ran = True
                evacuating = hosts(cell.prefix)[0]
                moved = [
                    f"{o.instance_name} {o.source}->{o.final_host}" for o in second.report.outcomes
                ]
                touched = any(
                    evacuating in (o.source, o.final_host) for o in second.report.outcomes
                )
                cell.notes.append(
                    f"second run ({other.key}) was not refused; moved {moved}; "
                    + ("it TOUCHED" if touched else "it did not touch")
                    + f" {evacuating}"
                )
            approve(name)
            cell.finish(proc, out)
            result = cell.audit()
            result.notes.append(f"first run: '{name}'")
            return result

    return run


# -- the orchestrator dies ------------------------------------------------------------------


def kill_once(cell: Cell) -> CellResult:
    """SIGKILL the flow-run process at a seeded random API request, mark it Crashed, re-run."""
    seed = cell.seed
    rng = random.Random(f"{cell.scenario.key}:{seed}")
    point = rng.randint(1, cell.requests_per_run)
    seen = {"n": 0}
    lock = threading.Lock()
    with cell.cloud_up() as sim:
        proc, out, name = cell.start(cell.params())

        def hook(_route: str) -> None:
            with lock:
                seen["n"] += 1
                if seen["n"] == point:
                    os.kill(proc.pid, signal.SIGKILL)

        sim.state.request_hooks.append(hook)
        proc.join(240)
        sim.state.request_hooks.remove(hook)
        if seen["n"] >= point:
            cell.results.clear()
            mark_crashed(name)
            a, b, c = hosts(cell.prefix)
            wait_slots_free(
                [cloud_limit_name(cell.cloud)] + [slot_limit_name(h) for h in (a, b, c)]
            )
            note = f"seed {seed}: killed at API request {point}"
        else:
            cell.finish(proc, out)
            note = f"seed {seed}: the run ended after {seen['n']} requests, before {point}"
        cell.run()  # the retry, with the same parameters
        result = cell.audit()
        result.notes.append(note)
        result.seeds.append(seed)
        return result


def _not_for_evacuation(why: str) -> Callable[[Scenario], str | None]:
    return lambda s: why if s.dead_source else None


FAULTS: list[Fault] = [
    Fault("none", "baseline", "no fault", plain()),
    Fault(
        "api-503",
        "Nova API",
        "503 burst: 20% of calls for 30 s",
        plain({"error_rate": 0.2, "error_for_s": 30, "seed": 3}),
    ),
    Fault("api-slow", "Nova API", "slow: +150 ms per call", plain({"latency_ms": 150})),
    Fault(
        "api-reset",
        "Nova API",
        "connection reset before Nova sees 10% of calls",
        plain({"reset_rate": 0.1, "seed": 5}),
    ),
    Fault(
        "api-lost-reply",
        "Nova API",
        "connection closed after Nova acted, 5% of calls",
        plain({"lost_reply_rate": 0.05, "seed": 7}),
    ),
    Fault(
        "token-expiry",
        "Nova API",
        "every token expires at the first migration",
        triggered(first_migration, expire_tokens),
    ),
    Fault(
        "one-fails",
        "migrations",
        "the first migration fails",
        plain({"fail_nth_migrations": [1]}),
    ),
    Fault(
        "host-refuses",
        "migrations",
        "every migration to host b fails",
        lambda cell: plain({"fail_hosts": [hosts(cell.prefix)[1]]})(cell),
    ),
    Fault(
        "hang",
        "migrations",
        "the first live migration hangs in running (timeout 3 s)",
        plain({"hang_nth_live_migrations": [1]}, move_timeout_s=3),
        na=_not_for_evacuation("an evacuation is a rebuild, not a live migration"),
    ),
    Fault(
        "no-valid-host",
        "migrations",
        "NoValidHost for flavor m1.medium",
        plain({"no_valid_host_flavors": ["m1.medium"]}),
    ),
    Fault(
        "dest-down",
        "migrations",
        "the destination goes down mid-move",
        triggered(moving_to_another_host, kill_destination),
    ),
    Fault(
        "owner-stops",
        "migrations",
        "an instance not yet moved is stopped by its owner",
        owner_acts("stopped"),
        na=_not_for_evacuation("the instances of a dead node cannot be stopped by their owners"),
    ),
    Fault(
        "owner-deletes",
        "migrations",
        "an instance not yet moved is deleted by its owner",
        owner_acts("deleted"),
    ),
    Fault(
        "sigkill",
        "orchestrator",
        f"flow-run process SIGKILLed at a random API call, {KILL_SEEDS} seeds, then re-run",
        kill_once,
        seeds=KILL_SEEDS,
    ),
    Fault(
        "same-host",
        "concurrency",
        "a second run of the same flow on the same host while the first holds it (at its gate)",
        second_run(lambda c: c.scenario),
    ),
    Fault(
        "on-evacuating",
        "concurrency",
        "this flow started on a host whose evacuation holds it (at its gate)",
        second_run(lambda c: SCENARIOS[c.row]),
        na=lambda s: "this is the evacuation itself" if s.dead_source else None,
    ),
]
FAULTS_BY_KEY = {f.key: f for f in FAULTS}
ROWS = list(SCENARIOS)
