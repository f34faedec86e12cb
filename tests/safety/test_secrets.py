"""Passwords, Slack tokens, the signing secret and Keystone tokens never leak.

Runs with distinctive secrets: a Slack-approved maintenance (an intruder's click refused
first), a run with wrong credentials (its error text), and `novaflow run` / `novaflow
snapshot` with wrong credentials (their output). Then reads back, through the Prefect API,
every log, artifact, event, flow run (state messages, parameters), task run and variable on
the server (so also what earlier tests in the session left there), plus the test process's
own Python logs at DEBUG level (slack-sdk, keystoneauth, openstacksdk), and looks for each
secret in all of it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from deployments.cli import app
from deployments.run_cli import run_foreground
from deployments.slack_listener import build_listener, socket_mode_client
from flows.maintenance import node_maintenance
from flows.params import ApprovalSettings, RunSettings
from novaflow.slack import SlackSettings
from tests.fakeslack import APPROVE, FakeSlack
from tests.flows.conftest import in_background, where
from tests.safety.conftest import SIM_PASSWORD, WRONG_PASSWORD

pytestmark = pytest.mark.timeout(240)

ALICE, MALLORY, CHANNEL = "U0ALICE", "U0MALLORY", "C0OPS"
BOT = "xoxb-S3CR3T-bot-7d1f-DO-NOT-LOG"
APP = "xapp-S3CR3T-app-7d1f-DO-NOT-LOG"
SIGNING = "S3CR3T-signing-7d1f-DO-NOT-LOG"
# The fake Slack's default tokens, which the other Slack tests use.
FAKE_DEFAULTS = (FakeSlack.bot_token, FakeSlack.app_token, FakeSlack.signing_secret)


@pytest.fixture
def slack(monkeypatch, prefect_server, caplog) -> Iterator[FakeSlack]:
    caplog.set_level(logging.DEBUG)  # before the clients exist, so their debug logs count
    users = {ALICE: "Alice Approver", MALLORY: "Mallory Intruder"}
    with FakeSlack(users=users, bot_token=BOT, app_token=APP, signing_secret=SIGNING) as fake:
        env = {
            "NOVAFLOW_SLACK_BOT_TOKEN": BOT,
            "NOVAFLOW_SLACK_APP_TOKEN": APP,
            "NOVAFLOW_SLACK_SIGNING_SECRET": SIGNING,
            "NOVAFLOW_SLACK_CHANNEL": CHANNEL,
            "NOVAFLOW_SLACK_APPROVERS": ALICE,
            "NOVAFLOW_SLACK_BASE_URL": fake.api_url,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        client = socket_mode_client(build_listener(SlackSettings()), SlackSettings())
        client.connect()
        fake.wait_connected()
        yield fake
        client.close()


def everything_on_the_server(api: str) -> dict[str, str]:
    """Every object of each kind, as the JSON the API returns, paged to the end."""
    out: dict[str, str] = {}
    with httpx.Client(base_url=api, timeout=30) as http:
        for kind in ("logs", "artifacts", "flow_runs", "task_runs", "variables"):
            rows: list = []
            while True:
                page = http.post(f"/{kind}/filter", json={"limit": 200, "offset": len(rows)})
                page.raise_for_status()
                rows.extend(page.json())
                if len(page.json()) < 200:
                    break
            out[kind] = json.dumps(rows)
        events: list = []
        page = http.post(
            "/events/filter",
            json={"filter": {"occurred": {"since": "2000-01-01T00:00:00Z"}}, "limit": 50},
        ).json()
        while True:
            events.extend(page["events"])
            if not page.get("next_page"):
                break
            page = http.get(page["next_page"]).json()
        out["events"] = json.dumps(events)
    return out


def test_no_secret_in_logs_artifacts_events_or_errors(
    safe_cloud, slack, prefect_server, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = safe_cloud()
    settings = RunSettings(
        cloud="sim", move_timeout_s=60, approval=ApprovalSettings(mode="slack", timeout_s=120)
    )
    box: dict = {}
    run = in_background(
        lambda: box.update(
            report=run_foreground(
                node_maintenance,
                {"host": "cmp-a", "settings": settings, "wait_for_done": False},
                lambda gate: None,
                show=False,
            )
        )
    )
    slack.wait_for("chat.postMessage", lambda c: "thread_ts" not in c.args, timeout=60)
    ts = next(ts for ts, m in slack.messages.items() if not m.get("thread_ts"))
    value = slack.button_value(ts, APPROVE)
    slack.click(MALLORY, APPROVE, value, ts)
    slack.wait_for("chat.postEphemeral", lambda c: c.args["user"] == MALLORY)
    slack.click(ALICE, APPROVE, value, ts)
    run.join(timeout=120)
    assert box["report"].ok and where(sim, "web-0")[0] != "cmp-a"

    wrong = node_maintenance(
        host="cmp-a",
        settings={"cloud": "sim-wrong", "approval": {"mode": "none"}},
        return_state=True,
    )
    errors = [str(wrong.message), repr(wrong.result(raise_on_failure=False))]
    cli = [
        CliRunner().invoke(app, ["run", "maintenance", "-H", "cmp-b", "--cloud", c, "--yes"])
        for c in ("sim-wrong", "sim-prod")
    ]
    cli.append(CliRunner().invoke(app, ["snapshot", "--os-cloud", "sim-wrong"]))
    assert wrong.is_failed() and all(r.exit_code == 2 for r in cli)
    assert "authentication failed for cloud 'sim-wrong'" in errors[0]

    api = os.environ["PREFECT_API_URL"]
    deadline = time.monotonic() + 30
    seen = everything_on_the_server(api)
    while "novaflow.gate.approved" not in seen["events"] and time.monotonic() < deadline:
        time.sleep(0.5)  # events reach the server asynchronously
        seen = everything_on_the_server(api)
    seen["errors"] = "\n".join(errors)
    seen["cli output"] = "\n".join(r.output for r in cli)
    records = caplog.get_records("setup") + caplog.get_records("call")
    seen["python logs"] = "".join(f"{r.getMessage()} {r.__dict__}" for r in records)
    # Prove the scan read what the runs produced, so a clean result means something.
    assert "Gate 'approve-plan' approved by" in seen["logs"]
    assert "novaflow.gate.approved" in seen["events"] and "web-0" in seen["artifacts"]
    assert "apps.connections.open" in seen["python logs"], "the debug logs were captured"

    keystone_tokens = list(sim.cloud.tokens)
    secrets = [SIM_PASSWORD, WRONG_PASSWORD, BOT, APP, SIGNING, *FAKE_DEFAULTS, *keystone_tokens]
    leaks = [
        (where_, secret[:12] + "...")
        for where_, text in seen.items()
        for secret in secrets
        if secret and secret in text
    ]
    assert leaks == [], f"secrets found: {leaks}"
