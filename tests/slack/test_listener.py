"""The approval listener against the fake Slack and a real Prefect server (test harness)."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlencode

import httpx
import pytest
from typer.testing import CliRunner

from deployments.slack_cli import slack_app
from deployments.slack_listener import ApprovalListener, build_listener
from novaflow.models import DrainRequest, EvacuateRequest, Plan
from novaflow.slack import APPROVE_ACTION, REJECT_ACTION, SlackGate, SlackSettings
from tests.fakeslack import FakeSlack
from tests.slack.conftest import ALICE, BOB, CHANNEL, MALLORY, CountingRuns, GatedRun

pytestmark = pytest.mark.timeout(120)


def _post(gate: SlackGate, run: GatedRun, key: str = "approval", evacuation: bool = False) -> str:
    request = EvacuateRequest(host="cmp-1") if evacuation else DrainRequest(hosts=["cmp-1"])
    url = f"http://127.0.0.1:4200/runs/flow-run/{run.id}"
    scenario = "evacuation" if evacuation else "maintenance"
    return gate.post_gate(
        scenario,
        "sim",
        ["cmp-1"],
        Plan(request=request),
        str(run.id),
        url,
        evacuation,
        gate_key=key,
    )


def _ephemerals(fake: FakeSlack, user: str) -> list[str]:
    return [c.args["text"] for c in fake.calls_to("chat.postEphemeral") if c.args["user"] == user]


def _decided(fake: FakeSlack, ts: str) -> str:
    """The text of the gate message once chat.update has replaced its buttons."""
    fake.wait_for("chat.update", lambda c: c.args["ts"] == ts)
    blocks = fake.messages[ts]["blocks"]
    assert all(b["type"] not in ("actions", "input") for b in blocks), "buttons must be gone"
    return json.dumps(blocks)


@pytest.mark.parametrize("transport", ["socket", "http"])
def test_approver_click_resumes_the_paused_run(
    transport: str,
    request: pytest.FixtureRequest,
    fake: FakeSlack,
    gate: SlackGate,
    runs: CountingRuns,
) -> None:
    url = None if transport == "socket" else request.getfixturevalue("http_listener")
    if transport == "socket":
        request.getfixturevalue("socket_listener")
    run = GatedRun(["approval"])
    run.wait_paused("approval")
    ts = _post(gate, run)

    fake.click(
        ALICE, APPROVE_ACTION, fake.button_value(ts), ts, comment="window agreed", listener_url=url
    )

    [decision] = run.finish()
    assert decision == {
        "approved": True,
        "comment": "window agreed",
        "fenced": False,
        "approver": f"{ALICE} (Alice Approver)",
        "via": "slack",
    }
    text = _decided(fake, ts)
    assert f"Approved* by <@{ALICE}>" in text and "window agreed" in text
    assert runs.resumed == [run.id]


def test_group_member_rejects_and_the_run_gets_approved_false(
    socket_listener: ApprovalListener, fake: FakeSlack, gate: SlackGate
) -> None:
    run = GatedRun(["approval"])
    run.wait_paused("approval")
    ts = _post(gate, run)

    fake.click(BOB, REJECT_ACTION, fake.button_value(ts, REJECT_ACTION), ts, comment="not now")

    [decision] = run.finish()
    assert decision["approved"] is False and decision["comment"] == "not now"
    assert decision["approver"] == f"{BOB} (Bob Oncall)"
    assert f"Rejected* by <@{BOB}>" in _decided(fake, ts)


def test_unauthorised_click_is_refused_and_nothing_resumes(
    socket_listener: ApprovalListener,
    fake: FakeSlack,
    gate: SlackGate,
    runs: CountingRuns,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    run = GatedRun(["approval"])
    run.wait_paused("approval")
    ts = _post(gate, run)

    fake.click(MALLORY, APPROVE_ACTION, fake.button_value(ts), ts)

    fake.wait_for("chat.postEphemeral", lambda c: c.args["user"] == MALLORY)
    assert "not an approver" in _ephemerals(fake, MALLORY)[0]
    assert f"refused: {MALLORY} is not an approver" in caplog.text
    assert runs.resumed == [] and not fake.calls_to("chat.update")
    assert run.pause_key() == "approval"

    fake.click(ALICE, APPROVE_ACTION, fake.button_value(ts), ts)
    assert run.finish()[0]["approver"].startswith(ALICE)


def test_evacuation_approval_needs_the_fenced_box(
    socket_listener: ApprovalListener, fake: FakeSlack, gate: SlackGate, runs: CountingRuns
) -> None:
    run = GatedRun(["approval"])
    run.wait_paused("approval")
    ts = _post(gate, run, evacuation=True)

    fake.click(ALICE, APPROVE_ACTION, fake.button_value(ts), ts, fenced=False)
    fake.wait_for("chat.postEphemeral", lambda c: c.args["user"] == ALICE)
    assert "Tick 'the node is fenced' first" in _ephemerals(fake, ALICE)[0]
    assert runs.resumed == [] and run.pause_key() == "approval"

    fake.click(ALICE, APPROVE_ACTION, fake.button_value(ts), ts, fenced=True)
    [decision] = run.finish()
    assert decision["approved"] is True and decision["fenced"] is True
    assert "the node is fenced" in _decided(fake, ts)


def test_double_click_and_retried_delivery_resume_once(
    socket_listener: ApprovalListener, fake: FakeSlack, gate: SlackGate, runs: CountingRuns
) -> None:
    run = GatedRun(["approval"])
    run.wait_paused("approval")
    ts = _post(gate, run)
    value = fake.button_value(ts)

    first = fake.block_actions_payload(ALICE, APPROVE_ACTION, value, ts)
    second = fake.block_actions_payload(BOB, REJECT_ACTION, value, ts)
    envelopes = [
        fake.send_interactive(first),
        fake.send_interactive(second),
        fake.send_interactive(first, retry_attempt=1),
    ]
    for envelope in envelopes:
        fake.wait_ack(envelope)

    [decision] = run.finish()
    fake.wait_for("chat.postEphemeral", lambda c: "no longer waiting" in c.args["text"])
    assert runs.resumed == [run.id], "resumed exactly once"
    assert len(fake.calls_to("chat.update")) == 1
    winner = ALICE if decision["approved"] else BOB
    assert decision["approver"].startswith(winner)


def test_click_on_an_old_message_cannot_resume_a_later_gate(
    socket_listener: ApprovalListener,
    fake: FakeSlack,
    gate: SlackGate,
    runs: CountingRuns,
    settings: SlackSettings,
) -> None:
    run = GatedRun(["plan", "maintenance-done"])
    run.wait_paused("plan")
    old = _post(gate, run, key="plan")
    old_value = fake.button_value(old)  # what Slack still holds for a stale client's view
    fake.click(ALICE, APPROVE_ACTION, old_value, old)
    run.wait_paused("maintenance-done")
    new = _post(gate, run, key="maintenance-done")

    # The same listener, and a freshly restarted one that remembers nothing, both refuse.
    fake.click(ALICE, APPROVE_ACTION, old_value, old)
    restarted = build_listener(settings, runs)
    payload = fake.block_actions_payload(ALICE, REJECT_ACTION, old_value, old)
    assert restarted.handle_block_action(payload).outcome == "stale"
    assert len(runs.resumed) == 1 and run.pause_key() == "maintenance-done"

    fake.click(BOB, REJECT_ACTION, fake.button_value(new, REJECT_ACTION), new)
    assert [d["approved"] for d in run.finish()] == [True, False]


def test_a_click_for_a_run_that_does_not_exist_is_stale(
    listener: ApprovalListener, fake: FakeSlack, gate: SlackGate
) -> None:
    value = '{"run":"00000000-0000-4000-8000-000000000000","gate":"approval","fence":false}'
    payload = fake.block_actions_payload(ALICE, APPROVE_ACTION, value, "1.0")
    assert listener.handle_block_action(payload).outcome == "stale"


@pytest.mark.parametrize(
    ("secret", "age"), [("not-the-signing-secret", 0), (None, 600)], ids=["bad", "stale"]
)
def test_http_rejects_bad_and_stale_signatures(
    http_listener: str, fake: FakeSlack, secret: str | None, age: int
) -> None:
    value = '{"run":"00000000-0000-4000-8000-000000000000","gate":"approval","fence":false}'
    payload = fake.block_actions_payload(ALICE, APPROVE_ACTION, value, "1.0")
    response = fake.post_signed(
        http_listener, payload, timestamp=int(time.time()) - age, secret=secret
    )
    assert response.status_code == 401
    assert not fake.calls_to("users.info") and not fake.calls_to("chat.postEphemeral")


def test_http_refuses_a_replayed_or_tampered_signed_request(
    http_listener: str, fake: FakeSlack, gate: SlackGate, runs: CountingRuns
) -> None:
    """Someone who captured Alice's signed click can neither send it again (same timestamp and
    body, so a valid signature within Slack's 5 minutes) nor re-sign another user's click."""
    run = GatedRun(["approval"])
    run.wait_paused("approval")
    ts = _post(gate, run)
    value = fake.button_value(ts)
    payload = fake.block_actions_payload(ALICE, APPROVE_ACTION, value, ts)
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **fake.sign(body)}

    assert httpx.post(http_listener, content=body, headers=headers).status_code == 200
    assert run.finish()[0]["approver"].startswith(ALICE)
    _decided(fake, ts)  # the listener's own Slack calls for the click are done
    calls = len(fake.calls)
    replay = httpx.post(http_listener, content=body, headers=headers)
    assert (replay.status_code, replay.text) == (401, "replayed request")

    mallory = fake.block_actions_payload(MALLORY, APPROVE_ACTION, value, ts)
    signed = fake.sign(urlencode({"payload": json.dumps(mallory)}).encode())
    forged = urlencode({"payload": json.dumps(payload).replace(ALICE, BOB)}).encode()
    tampered = httpx.post(http_listener, content=forged, headers={**headers, **signed})
    assert tampered.status_code == 401
    assert runs.resumed == [run.id] and len(fake.calls) == calls


def _env(fake: FakeSlack, **overrides: str) -> dict[str, str]:
    env = {
        "NOVAFLOW_SLACK_BOT_TOKEN": fake.bot_token,
        "NOVAFLOW_SLACK_APP_TOKEN": fake.app_token,
        "NOVAFLOW_SLACK_SIGNING_SECRET": fake.signing_secret,
        "NOVAFLOW_SLACK_APPROVERS": ALICE,
        "NOVAFLOW_SLACK_CHANNEL": CHANNEL,
        "NOVAFLOW_SLACK_BASE_URL": fake.api_url,
    }
    env.update(overrides)
    return env


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (["--socket"], "NOVAFLOW_SLACK_BOT_TOKEN"),
        (["--socket"], "NOVAFLOW_SLACK_APP_TOKEN"),
        (["--http", "0"], "NOVAFLOW_SLACK_SIGNING_SECRET"),
    ],
)
def test_listen_fails_at_start_up_naming_the_missing_token(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, args: list[str], missing: str
) -> None:
    for key, value in _env(fake, **{missing: ""}).items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(slack_app, ["listen", *args])
    assert result.exit_code == 2
    assert f"{missing} is not set" in result.output
    for secret in (fake.bot_token, fake.app_token, fake.signing_secret):
        assert secret not in result.output
    assert not fake.calls_to("apps.connections.open")


def test_listen_fails_at_start_up_on_a_revoked_bot_token(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in _env(fake, NOVAFLOW_SLACK_BOT_TOKEN="xoxb-revoked-0002").items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(slack_app, ["listen"])
    assert result.exit_code == 2
    assert "Slack refused NOVAFLOW_SLACK_BOT_TOKEN (invalid_auth)" in result.output
    assert "xoxb-revoked-0002" not in result.output


def test_tokens_never_appear_in_logs(
    settings: SlackSettings,
    runs: CountingRuns,
    prefect_api: None,
    fake: FakeSlack,
    gate: SlackGate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    from deployments.slack_listener import socket_mode_client

    listener = build_listener(settings, runs)
    client = socket_mode_client(listener, settings)
    client.connect()
    try:
        run = GatedRun(["approval"])
        run.wait_paused("approval")
        ts = _post(gate, run)
        fake.click(MALLORY, APPROVE_ACTION, fake.button_value(ts), ts)
        fake.click(ALICE, APPROVE_ACTION, fake.button_value(ts), ts)
        run.finish()
        fake.wait_for("chat.update")
    finally:
        client.close()
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "apps.connections.open" in logged, "the debug log was captured"
    for secret in (fake.bot_token, fake.app_token, fake.signing_secret):
        assert secret not in logged
