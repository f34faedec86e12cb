"""Block Kit content of gate, decision, expiry and report messages, and SlackSettings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from novaflow.models import (
    ApprovalDecision,
    Capacity,
    DrainRequest,
    EvacuateRequest,
    Method,
    Move,
    Outcome,
    Plan,
    Resources,
    Skip,
)
from novaflow.slack import (
    APPROVE_ACTION,
    FENCED_BLOCK,
    REJECT_ACTION,
    GateRef,
    SlackConfigError,
    SlackGate,
    SlackSettings,
    decided_blocks,
    expired_blocks,
    gate_blocks,
    report_text,
)
from tests.fakeslack import FakeSlack
from tests.slack.conftest import CHANNEL

RUN = "0b7d2c1e-5f3a-4c8e-9d21-3a4b5c6d7e8f"
URL = f"http://127.0.0.1:4200/runs/flow-run/{RUN}"


def _move(name: str, method: Method, target: str | None = "cmp-2") -> Move:
    return Move(
        instance_id=f"{name}-0000-uuid",
        instance_name=name,
        source="cmp-1",
        target=target,
        method=method,
        reason="drain",
    )


def _plan(request: Any = None) -> Plan:
    return Plan(
        request=request or DrainRequest(hosts=["cmp-1"]),
        moves=[
            _move("web-1", Method.LIVE),
            _move("web-2", Method.LIVE),
            _move("db-1", Method.COLD, target=None),
        ],
        skips=[
            Skip(
                instance_id="pinned-uuid",
                instance_name="pinned-1",
                host="cmp-1",
                reason="affinity group allows no other host",
                remedy="move the whole group or drop the policy",
            )
        ],
        capacity=Capacity(
            needed=Resources(vcpus=6, ram_mb=12288, disk_gb=60),
            free=Resources(vcpus=40, ram_mb=65536, disk_gb=500),
            fits=True,
        ),
    )


def _all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def _buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        e["action_id"]: e
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    }


def test_gate_message_shows_what_will_happen_and_why_not() -> None:
    blocks = gate_blocks("maintenance", "prod", ["cmp-1"], _plan(), RUN, URL, False)
    text = _all_text(blocks)
    assert blocks[0]["type"] == "header" and "maintenance" in blocks[0]["text"]["text"]
    assert "prod" in text and "cmp-1" in text
    assert "*3 moves* (1 cold, 2 live)" in text
    assert "`db-1` cmp-1 → scheduler (cold)" in text
    assert "pinned-1" in text and "affinity group allows no other host" in text
    assert "move the whole group" in text
    assert "Capacity after:" in text and "fits" in text and "34 vCPU" in text
    assert f"<{URL}|open in Prefect>" in text
    assert FENCED_BLOCK not in text, "only evacuations ask for fencing"


def test_buttons_carry_the_run_and_the_gate_key() -> None:
    blocks = gate_blocks("maintenance", "prod", ["cmp-1"], _plan(), RUN, URL, False, "done")
    buttons = _buttons(blocks)
    assert set(buttons) == {APPROVE_ACTION, REJECT_ACTION}
    assert buttons[APPROVE_ACTION]["style"] == "primary"
    ref = GateRef.from_value(buttons[REJECT_ACTION]["value"])
    assert ref == GateRef(run=RUN, gate="done", fence=False)


def test_evacuation_gate_requires_the_fenced_checkbox() -> None:
    plan = _plan(EvacuateRequest(host="cmp-1"))
    blocks = gate_blocks("evacuation", "prod", ["cmp-1"], plan, RUN, URL, True)
    fenced = next(b for b in blocks if b.get("block_id") == FENCED_BLOCK)
    assert fenced["type"] == "input" and fenced["optional"] is False
    assert fenced["element"]["type"] == "checkboxes"
    assert "the node is fenced" in _all_text([fenced])
    assert GateRef.from_value(_buttons(blocks)[APPROVE_ACTION]["value"]).fence is True


def test_an_unknown_button_value_is_not_a_gate() -> None:
    with pytest.raises(ValueError, match="not a novaflow gate"):
        GateRef.from_value("approve-everything")


def test_decided_message_names_who_when_and_drops_the_buttons() -> None:
    original = gate_blocks("evacuation", "prod", ["cmp-1"], _plan(), RUN, URL, True)
    decision = ApprovalDecision(
        approved=True,
        comment="fenced via IPMI",
        fenced=True,
        approver="U0ALICE (Alice)",
        via="slack",
    )
    blocks = decided_blocks(original, decision, None, datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    text = _all_text(blocks)
    assert not _buttons(blocks) and all(b["type"] != "input" for b in blocks)
    assert "Approved* by <@U0ALICE> at 2025-01-02 03:04:05 UTC" in text
    assert "fenced via IPMI" in text and "the node is fenced" in text
    assert "pinned-1" in text, "the plan stays visible"


def test_expired_message_says_what_the_default_did() -> None:
    original = gate_blocks("failing node", "prod", ["cmp-1"], _plan(), RUN, URL, False)
    blocks = expired_blocks(original, "default action: approved, moves started")
    assert not _buttons(blocks)
    assert "Gate expired" in _all_text(blocks) and "moves started" in _all_text(blocks)


def test_report_names_failures_with_reason_and_remedy() -> None:
    outcomes = [
        Outcome(instance_id="a" * 36, instance_name="web-1", result="moved", final_host="cmp-2"),
        Outcome(
            instance_id="b" * 36,
            instance_name="db-1",
            result="failed",
            source="cmp-1",
            error="NoValidHost: no host with 64 GiB free",
            remedy="free memory on a host or resize db-1",
        ),
    ]
    text = report_text(outcomes)
    assert "1 failed, 1 moved" in text
    assert "`db-1` (bbbbbbbb) on cmp-1: failed: NoValidHost" in text
    assert "resize db-1" in text
    assert "web-1" not in text, "successes are counted, not listed"


def test_gate_round_trip_through_slack(fake: FakeSlack, gate: SlackGate) -> None:
    ts = gate.post_gate("maintenance", "prod", ["cmp-1"], _plan(), RUN, URL, False)
    posted = fake.wait_for("chat.postMessage").args
    assert posted["channel"] == CHANNEL and "cmp-1" in posted["text"]
    assert fake.button_value(ts) == GateRef(run=RUN).to_value()

    gate.post_progress(ts, "2/3 moves done")
    gate.post_report(ts, [Outcome(instance_id="x" * 36, instance_name="web-1", result="moved")])
    replies = [c.args for c in fake.calls_to("chat.postMessage")[1:]]
    assert [r["thread_ts"] for r in replies] == [ts, ts]
    assert replies[0]["text"] == "2/3 moves done" and "1 moved" in replies[1]["text"]

    gate.mark_expired(ts, "rejected by default; nothing moved")
    assert "Gate expired" in json.dumps(fake.messages[ts]["blocks"])
    assert "pinned-1" in json.dumps(fake.messages[ts]["blocks"])
    assert not _buttons(fake.messages[ts]["blocks"])


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVAFLOW_SLACK_BOT_TOKEN", "xoxb-secret-value-1")
    monkeypatch.setenv("NOVAFLOW_SLACK_APPROVERS", "U1, U2,,U3")
    monkeypatch.setenv("NOVAFLOW_SLACK_APPROVER_GROUP", "S1")
    monkeypatch.setenv("NOVAFLOW_SLACK_CHANNEL", "C1")
    settings = SlackSettings()
    assert settings.approvers == ["U1", "U2", "U3"]
    assert settings.approver_group == "S1"
    assert settings.secret("bot_token") == "xoxb-secret-value-1"
    assert "xoxb-secret-value-1" not in repr(settings) + str(settings.model_dump())


def test_missing_token_error_names_the_variable_not_a_value() -> None:
    settings = SlackSettings(bot_token=SecretStr("xoxb-secret-value-2"), app_token=None)
    with pytest.raises(SlackConfigError, match="NOVAFLOW_SLACK_APP_TOKEN is not set") as err:
        settings.secret("app_token")
    assert "xoxb-secret-value-2" not in str(err.value)
    with pytest.raises(SlackConfigError, match="NOVAFLOW_SLACK_BOT_TOKEN"):
        SlackGate.from_settings(SlackSettings(bot_token=None, channel="C1"))


def test_app_manifest_asks_for_exactly_what_the_listener_uses() -> None:
    import yaml

    from tests.slack.conftest import REPO

    manifest = yaml.safe_load((REPO / "deployments" / "slack_app_manifest.yaml").read_text())
    assert manifest["oauth_config"]["scopes"]["bot"] == [
        "chat:write",
        "usergroups:read",
        "users:read",
    ]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
