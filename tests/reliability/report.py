"""Render the matrix as docs/reliability.md: when, where, how, then one table and the details."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime

from bench.machine import cpu_model
from tests.reliability.faults import FAULTS, ROWS
from tests.reliability.matrix import RESTART, RESTART_TITLE
from tests.reliability.outcome import CellResult
from tests.reliability.scenarios import SCENARIOS

COMMAND = "make reliability  (.venv/bin/python -m tests.reliability)"

FOUND = """## What the matrix found (and what was fixed)

Each fix has its own regression test besides the matrix cell that found it.

1. **A finished migration reported as failed** (fault-free cells, under load): one observer
   cycle can pair the instance as it was, still on its source, with its migration already
   `completed`. The mover took that for a failure: a live migration that had worked was
   reported failed, and a cold one was left in VERIFY_RESIZE, unconfirmed. Now a finished
   migration with a server still on its source is a view one step behind: the mover waits
   for the server (`novaflow/mover.py`, `_left_or_failed` and the cold/evacuate waits;
   `tests/cloud/test_mover.py::test_a_finished_migration_seen_before_the_server_moved...`).
2. **Every run refused as 'cloud too old'** (lost replies, resets): a reset connection on
   Nova's version document made keystoneauth return no microversion range, read as "up to
   2.1". The document is now read again (`novaflow/cloud/session.py`, `_discover_max_version`;
   `tests/cloud/test_cloud.py::test_a_version_document_lost_to_a_reset_is_read_again`).
3. **A move sent twice after a lost reply** (lost replies): Nova accepted the migration but
   the reply was lost; the blind retry met 409 "task_state migrating" until the first move
   ended, then moved the instance again. A move whose answer never came is now retried only
   after reading the instance: busy, or off the host it was on, means Nova took it
   (`novaflow/cloud/actions.py`, `_move_action`;
   `tests/cloud/test_cloud.py::test_a_move_whose_reply_was_lost_is_not_sent_again`).
4. **An evacuated instance left ERROR on the dead node** (destination down mid-move, host
   refusing): a failed rebuild is now tried once more on a host the scheduler chooses
   (`novaflow/mover.py`, `_evacuate_with_retry`;
   `tests/cloud/test_mover.py::test_a_failed_rebuild_is_evacuated_again_at_once`).
5. **A run after a Prefect server restart waited forever** (server restart): Prefect keeps
   concurrency-slot leases in memory by default, so after a restart the slots of the runs
   that were moving stayed taken with no lease left to expire, and every later move on
   those hosts waited without end. Fixed by configuration: the leases are kept on disk
   (`PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE=prefect.server.concurrency.lease_storage.filesystem`,
   or Redis), in the test server and in the README's production recipe.
6. **A crashed rebalance left instances locked** (SIGKILL): the re-run looked for leftovers
   only on the hosts of its new plan (none, when that plan was empty), so an instance moved
   just before the kill kept its "novaflow: moving off H" lock. Hosts named by novaflow's
   locks are now claimed and finished too (`flows/rebalance.py`, `tasks/leftovers.py`
   `leftover_hosts`; `tests/flows/test_rebalance_rolling.py::`
   `test_rebalance_finishes_what_a_crashed_rebalance_left_locked`).
7. **A rolling maintenance that stopped early said nothing of the hosts it never drained**
   (destination down): their instances were left unreported. The report now names the
   batches not started (`flows/rolling.py`;
   `tests/flows/test_rebalance_rolling.py::`
   `test_rolling_that_stops_early_names_the_hosts_it_never_drained`).

Known limits, not bugs of novaflow: a SIGKILLed run holds its Prefect slot leases until they
expire (60 s, the server's minimum), so its re-run starts moving up to a minute later; a
maintenance asked for on a node that is being evacuated is refused because the node is
down (the message says to evacuate it) rather than by naming the evacuation's run.
"""


def _machine() -> str:
    cpu = cpu_model()
    system = f"{platform.system()} {platform.release()}"
    python = platform.python_version()
    return f"{platform.node()}: {os.cpu_count()} CPU ({cpu}), {system}, Python {python}"


def commit() -> str:
    """The commit under test (taken when the matrix starts), marked when the tree is dirty."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True)
    except OSError:
        return "?"
    return (head.stdout.strip() or "?") + (" + local changes" if dirty.stdout.strip() else "")


def cell_text(c: CellResult | None) -> str:
    if c is None:
        return "not run"
    if c.na:
        return "n/a"
    flag = "" if not c.bad and not c.twice else " **FAIL**"
    return f"{c.moved} / {len(c.left)} / {len(c.bad)} / {len(c.twice)}{flag}"


def render(
    results: dict[tuple[str, str], CellResult], seconds: float, kill_seeds: int, tested: str
) -> str:
    titles = [(f.key, f.group, f.title) for f in FAULTS] + [
        (RESTART, "orchestrator", RESTART_TITLE)
    ]
    lines = [
        "# Reliability: faults x flows",
        "",
        "Generated by one command from a real run; do not edit by hand.",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M UTC} (commit {tested})",
        f"- Machine: {_machine()}",
        f"- Command: `{COMMAND}`; the same cells run in CI as `pytest tests/reliability`",
        f"- Wall time of the matrix: {seconds:.0f} s",
        f"- Seeds: SIGKILL cells use seeds 0-{kill_seeds - 1} per flow (crash point = a"
        " seeded random API request between 1 and the number the same flow's fault-free"
        " run made); fault-plan seeds: 503s seed 3, resets seed 5, lost replies seed 7;"
        " simulated clusters are fixed (no random seed).",
        "- Every flow runs on the simulated cloud (openstacksdk over HTTP) and a real"
        " `prefect server start`, in its own forked process; each cell has its own cloud,"
        " host names and Prefect limits, so the cells run concurrently.",
        "",
        "Each cell: **moved / left / bad / twice** -",
        "moved: instances now on another host; left: instances still on a host being"
        " emptied (each with its reason from the run's report, below); bad: instances in a"
        " bad state (MIGRATING, VERIFY_RESIZE, RESIZE, a task in progress, locked by"
        " novaflow, another power state than before, lost, or left without a reason in the"
        " report) - must be 0; twice: instances migrated twice off the same host, or off a"
        " host the flow was not emptying - must be 0. SIGKILL cells add up their seeds.",
        "",
        "| fault | " + " | ".join(SCENARIOS[r].title for r in ROWS) + " |",
        "|---|" + "---|" * len(ROWS),
    ]
    for key, group, title in titles:
        cells = [cell_text(results.get((r, key))) for r in ROWS]
        lines.append(f"| {group}: {title} | " + " | ".join(cells) + " |")
    bad = sum(len(c.bad) for c in results.values())
    twice = sum(len(c.twice) for c in results.values())
    lines += [
        "",
        f"Totals: {bad} bad states, {twice} double migrations.",
        "",
        FOUND,
        "## Details",
        "",
    ]
    for key, _group, title in titles:
        lines.append(f"### {title}")
        lines.append("")
        for r in ROWS:
            c = results.get((r, key))
            if c is None:
                continue
            head = f"- **{SCENARIOS[r].title}**: "
            if c.na:
                lines.append(head + f"n/a: {c.na}")
                continue
            lines.append(head + f"{cell_text(c)} ({c.seconds:.0f} s)")
            for left in c.left:
                lines.append(f"  - left {left.instance} on {left.host}: {left.reason[:400]}")
            for b in c.bad:
                lines.append(f"  - BAD: {b[:400]}")
            for t in c.twice:
                lines.append(f"  - TWICE: {t}")
            notes = c.notes if key != "sigkill" else _kill_summary(c)
            for n in notes:
                lines.append(f"  - {n[:400]}")
        lines.append("")
    return "\n".join(lines) + "\n"


def _kill_summary(c: CellResult) -> list[str]:
    killed = [n for n in c.notes if "killed at" in n]
    points = ", ".join(n.split("request ")[-1] for n in killed)
    rest = [n for n in c.notes if "killed at" not in n]
    summary = f"{len(killed)} of {len(c.seeds)} seeds killed mid-run, at API requests {points}"
    return [summary, *rest]
