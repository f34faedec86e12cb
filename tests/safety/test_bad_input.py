"""Bad input is refused before the first cloud action, with a message naming problem and fix.

One table per way in: the flows (as a Prefect run, what a UI form or a deployment starts),
`novaflow run` (exit code 2) and the what-if `novaflow plan` (exit code 2). Each case proves
that nothing moved: the sim saw no write request to Nova and a fresh snapshot is identical.

Decisions recorded here: an empty host is not an error for maintenance or a failing node
(the host is still taken out of scheduling for the work; the run says "nothing to move"), but
it is refused for evacuation (there is nothing to rebuild, and the watcher skips such hosts).
An UP host may be evacuated only through a gate that confirms fencing, so approval mode
'none' refuses it, and `novaflow run evacuate --yes` needs `--fenced`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deployments.cli import app
from flows.evacuation import evacuate_failed_node
from flows.failing import failing_node
from flows.maintenance import node_maintenance
from flows.rebalance import rebalance
from flows.rolling import rolling_maintenance
from novaflow.models import RunReport
from tests.safety.conftest import SIM_PASSWORD, WRONG_PASSWORD, unchanged

pytestmark = pytest.mark.timeout(180)

PAST = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
NONE = {"approval": {"mode": "none"}}


@dataclass
class Case:
    id: str
    problem: list[str]
    fix: list[str]
    flow: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    sim: dict[str, Any] = field(default_factory=dict)


def says(message: str, case: Case) -> None:
    """The message names the problem and the fix, and never a password."""
    for part in case.problem + case.fix:
        assert part in message, f"{part!r} missing from: {message}"
    assert SIM_PASSWORD not in message and WRONG_PASSWORD not in message


FLOW_CASES = [
    Case(
        "misspelt-host",
        ["unknown host 'cmp-aa'"],
        ["did you mean cmp-a"],
        node_maintenance,
        dict(host="cmp-aa", settings=NONE),
    ),
    Case(
        "host-twice",
        ["host given more than once: cmp-a"],
        ["name each host once"],
        rolling_maintenance,
        dict(hosts=["cmp-a", "cmp-a"], settings=NONE),
    ),
    Case(
        "disabled-host-maintenance",
        ["cmp-off is already disabled (reason: RMA ticket 4711)"],
        ["check with its owner", "--enable cmp-off"],
        node_maintenance,
        dict(host="cmp-off", settings=NONE),
    ),
    Case(
        "down-host-maintenance",
        ["cmp-dead's compute service is down"],
        ["evacuate it instead: novaflow run evacuate --host cmp-dead"],
        failing_node,
        dict(host="cmp-dead", settings=NONE),
    ),
    Case(
        "up-host-evacuation-unconfirmed",
        ["cmp-a's compute service is UP", "nobody confirms the node is fenced"],
        ["fence (power off) the node", "approval mode ui or slack"],
        evacuate_failed_node,
        dict(host="cmp-a", settings=NONE),
    ),
    Case(
        "empty-host-evacuation",
        ["cmp-empty holds no instance: there is nothing to evacuate"],
        ["check the host name"],
        evacuate_failed_node,
        dict(host="cmp-empty", settings=NONE),
    ),
    Case(
        "zero-max-parallel",
        ["max_parallel", "greater than or equal to 1"],
        [],
        node_maintenance,
        dict(host="cmp-a", settings={**NONE, "max_parallel": 0}),
    ),
    Case(
        "negative-live-migration-slots",
        ["live_migration_slots", "greater than or equal to 1"],
        [],
        node_maintenance,
        dict(host="cmp-a", settings={**NONE, "live_migration_slots": -1}),
    ),
    Case(
        "zero-batch-size",
        ["batch_size is 0: a batch must hold at least one host"],
        ["give batch_size 1 or more"],
        rolling_maintenance,
        dict(hosts=["cmp-a"], batch_size=0, settings=NONE),
    ),
    Case(
        "window-end-in-the-past",
        ["is in the past"],
        ["give a future time"],
        node_maintenance,
        dict(host="cmp-a", settings={**NONE, "window_end": PAST}),
    ),
    Case(
        "cloud-not-in-clouds-yaml",
        ["cloud 'sim-prod' is not in clouds.yaml (known: sim, sim-member, sim-wrong"],
        ["pass one of the known names"],
        rebalance,
        dict(settings={**NONE, "cloud": "sim-prod"}),
    ),
    Case(
        "wrong-credentials",
        ["authentication failed for cloud 'sim-wrong'"],
        ["check the username, password, project and domain in clouds.yaml"],
        node_maintenance,
        dict(host="cmp-a", settings={**NONE, "cloud": "sim-wrong"}),
    ),
    Case(
        "microversion-too-old",
        ["supports compute API up to 2.55", "cold migration to a named host needs 2.56"],
        ["let Nova's scheduler choose destinations", "upgrade Nova"],
        node_maintenance,
        dict(host="cmp-a", settings=NONE),
        sim=dict(max_microversion="2.55"),
    ),
]


@pytest.mark.parametrize("case", FLOW_CASES, ids=[c.id for c in FLOW_CASES])
def test_flow_refuses_before_acting(safe_cloud, case: Case) -> None:
    sim = safe_cloud(**case.sim)
    with unchanged(sim):
        state = case.flow(**case.params, return_state=True)
    assert state.is_failed(), f"{case.id}: the run was not refused ({state.name})"
    # What the Prefect UI shows for the run, and the error the run raised.
    says(f"{state.message} {state.result(raise_on_failure=False)}", case)
    if case.id == "wrong-credentials":
        # No retry: the run's one bad login plus unchanged()'s own read afterwards; a retried
        # snapshot task would log in wrongly three times (repeated failures lock accounts).
        logins = sim.stats()["requests"].get("POST /identity/v3/auth/tokens", 0)
        assert logins <= 2, f"{logins} login attempts for one refused run"


def test_empty_host_maintenance_is_nothing_to_move_not_an_error(safe_cloud) -> None:
    sim = safe_cloud()
    with unchanged(sim):
        report = node_maintenance(host="cmp-empty", settings={"dry_run": True})
    assert isinstance(report, RunReport) and report.ok and not report.unfinished
    assert "cmp-empty holds no instance: nothing to move" in report.notes


CLI_CASES = [
    Case("zero-max-parallel", ["--max-parallel 0", "greater than or equal to 1"], [],
         args=["maintenance", "--host", "cmp-a", "--max-parallel", "0", "--yes"]),
    Case("zero-slots", ["--slots 0", "greater than or equal to 1"], [],
         args=["maintenance", "--host", "cmp-a", "--slots", "0", "--yes"]),
    Case("negative-move-timeout", ["--move-timeout -5", "greater than or equal to 1"], [],
         args=["maintenance", "--host", "cmp-a", "--move-timeout", "-5", "--yes"]),
    Case("window-end-in-the-past", ["--window-end", "is in the past"], ["give a future time"],
         args=["maintenance", "--host", "cmp-a", "--window-end", "2020-01-01T00:00:00"]),
    Case("host-twice", ["host cmp-a given more than once"], ["takes one --host"],
         args=["maintenance", "--host", "cmp-a", "--host", "cmp-a", "--yes"]),
    Case("excluded-host-twice", ["excluded host given more than once: cmp-b"],
         ["name each one once"],
         args=["maintenance", "-H", "cmp-a", "--exclude", "cmp-b", "--exclude", "cmp-b"]),
    Case("evacuate-yes-unfenced", ["fencing is not confirmed"], ["add --fenced"],
         args=["evacuate", "--host", "cmp-dead", "--yes"]),
    Case("misspelt-host", ["unknown host 'cmp-bb'"], ["did you mean cmp-b"],
         args=["maintenance", "--host", "cmp-bb", "--yes"]),
    Case("disabled-host", ["cmp-off is already disabled (reason: RMA ticket 4711)"],
         ["check with its owner"], args=["maintenance", "--host", "cmp-off", "--yes"]),
    Case("down-host", ["cmp-dead's compute service is down"],
         ["novaflow run evacuate --host cmp-dead"],
         args=["failing", "--host", "cmp-dead", "--yes"]),
    Case("zero-batch-size", ["batch_size is 0"], ["give batch_size 1 or more"],
         args=["rolling", "--host", "cmp-a", "--batch-size", "0", "--yes"]),
    Case("cloud-not-in-clouds-yaml", ["cloud 'prod' is not in clouds.yaml"],
         ["pass one of the known names"],
         args=["maintenance", "--host", "cmp-a", "--cloud", "prod", "--yes"]),
    Case("wrong-credentials", ["authentication failed for cloud 'sim-wrong'"],
         ["check the username, password"],
         args=["maintenance", "--host", "cmp-a", "--cloud", "sim-wrong", "--yes"]),
    Case("microversion-too-old", ["cold migration to a named host needs 2.56"],
         ["--scheduler"], args=["maintenance", "--host", "cmp-a", "--yes"],
         sim=dict(max_microversion="2.55")),
    Case("strategy-typo", ["'consolidat' is not one of 'consolidate', 'spread', 'proximity'"],
         ["novaflow run rebalance --help"], args=["rebalance", "--strategy", "consolidat"]),
    Case("option-of-another-scenario", ["No such option: --strategy"],
         ["novaflow run maintenance --help"],
         args=["maintenance", "--host", "cmp-a", "--strategy", "spread", "--yes"]),
    Case("proximity-option-with-spread",
         ["--select-project: only with --strategy proximity (not spread)"], [],
         args=["rebalance", "--strategy", "spread", "--select-project", "demo", "--yes"]),
    Case("unknown-project", ["no project 'nope' in cloud 'sim'"], ["give a project name or ID"],
         args=["rebalance", "--strategy", "proximity", "--select-project", "nope",
               "--target-host", "cmp-b", "--yes"]),
    Case("unknown-column", ["no column 'bogus'"], ["the columns are: instance, outcome"],
         args=["maintenance", "--host", "cmp-a", "-c", "bogus", "--yes"]),
    Case("cloud-alias-unknown", ["cloud 'prod' is not in clouds.yaml"], [],
         args=["maintenance", "--host", "cmp-a", "--os-cloud", "prod", "--yes"]),
]  # fmt: skip


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_novaflow_run_exits_2_before_acting(safe_cloud, case: Case) -> None:
    sim = safe_cloud(**case.sim)
    with unchanged(sim):
        result = CliRunner().invoke(app, ["run", *case.args], env={"COLUMNS": "400"})
    assert result.exit_code == 2, f"{case.id}: exit {result.exit_code}\n{result.output}"
    says(" ".join(result.output.split()), case)
    # One line: no usage box, no traceback (Prefect's log lines go to a file meanwhile).
    assert len(result.output.strip().splitlines()) == 1, result.output


def _snapshot_file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_novaflow_plan_refuses_bad_input_before_planning(safe_cloud, tmp_path: Path) -> None:
    """The what-if plan: same refusals, exit 2, and it never writes to the cloud anyway."""
    sim = safe_cloud()
    good = CliRunner().invoke(app, ["snapshot", "--os-cloud", "sim"]).stdout
    snap = _snapshot_file(tmp_path, "snap.json", good)
    cut = _snapshot_file(tmp_path, "cut.json", good[:50])
    v2 = _snapshot_file(
        tmp_path, "v2.json", good.replace('"schema_version": 1', '"schema_version": 2')
    )
    cases = [
        (["drain", "--host", "cmp-aa", "--snapshot", snap], ["unknown", "cmp-aa", "cmp-a"]),
        (["drain", "-H", "cmp-a", "-H", "cmp-a", "--snapshot", snap], ["more than once", "once"]),
        (["drain", "--host", "cmp-a", "--os-cloud", "prod"], ["'prod' is not in clouds.yaml"]),
        (
            ["drain", "--host", "cmp-a", "--os-cloud", "sim-wrong"],
            ["authentication failed", "check the username, password"],
        ),
        (
            ["drain", "--host", "cmp-a", "--snapshot", cut],
            ["is not a novaflow snapshot", "Invalid JSON", "novaflow snapshot --os-cloud"],
        ),
        (
            ["evacuate", "--host", "cmp-dead", "--snapshot", v2],
            ["schema_version: Input should be 1", "take a new one"],
        ),
        (
            ["drain", "--host", "cmp-a", "--snapshot", str(tmp_path / "missing.json")],
            ["cannot read the snapshot file", "No such file", "take a new one"],
        ),
    ]  # fmt: skip
    with unchanged(sim):
        for args, parts in cases:
            result = CliRunner().invoke(app, ["plan", *args], env={"COLUMNS": "400"})
            message = " ".join(result.output.split())
            assert result.exit_code == 2, f"{args}: exit {result.exit_code}\n{message}"
            says(message, Case("plan", parts, []))
