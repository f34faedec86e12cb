"""Each gate's Resume form: its own fields, and a description that says what approving does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prefect.input.run_input import create_v2_schema

from novaflow import gates
from novaflow.models import DrainRequest, EvacuateRequest, Method, Move, Plan, RebalanceRequest
from tasks.gates import decision_from, gate_form


def _plan(request=None, n: int = 3, targets: tuple[str, ...] = ("cmp-2", "cmp-3")) -> Plan:
    moves = [
        Move(
            instance_id=f"id-{i}",
            instance_name=f"web-{i}",
            source="cmp-1",
            target=targets[i % len(targets)],
            method=Method.LIVE,
            reason="drain",
        )
        for i in range(n)
    ]
    return Plan(request=request or DrainRequest(hosts=["cmp-1"]), moves=moves)


EVERY_GATE = {
    "maintenance-plan": gates.maintenance_plan("cmp-1", "kernel", _plan(), 3600, "reject"),
    "maintenance-done": gates.maintenance_done("cmp-1", True, 3600, "reject"),
    "rolling-plan": gates.rolling_plan(
        ["cmp-1", "cmp-2"], [["cmp-1"], ["cmp-2"]], _plan(), 3600, "reject"
    ),
    "batch-done": gates.batch_done(1, ["cmp-1"], 1, 3600, "reject"),
    "failing-node": gates.failing_node("cmp-1", "ECC errors", _plan(), 300, "approve"),
    "evacuation": gates.evacuation(
        "cmp-1", False, _plan(EvacuateRequest(host="cmp-1")), 600, "reject"
    ),
    "rebalance": gates.rebalance(
        "spread",
        ["cmp-1", "cmp-2", "cmp-3"],
        _plan(RebalanceRequest(strategy="spread")),
        3600,
        "reject",
    ),
}


def _schema(gate: gates.Gate) -> dict:
    form = gate_form(gate)
    return create_v2_schema(form.__name__, model_base=form)


@pytest.mark.parametrize("kind", sorted(EVERY_GATE))
def test_every_gate_has_its_own_form_without_audit_fields(kind: str) -> None:
    gate = EVERY_GATE[kind]
    schema = _schema(gate)
    assert gate.kind == kind
    fields = set(schema["properties"])
    assert "via" not in fields and "approver" not in fields, "the audit trail is not typed in"
    assert "additionalProperties" not in schema, "the form offers no free-form extra keys"
    expected = (
        {"approved", "comment", "fenced"} if kind == "evacuation" else {"approved", "comment"}
    )
    assert fields == expected
    assert "approved" in schema["required"]
    names = {gate_form(g).__name__ for g in EVERY_GATE.values()}
    assert len(names) == len(EVERY_GATE), "one form class per gate"


def test_fenced_is_required_on_the_evacuation_gate() -> None:
    schema = _schema(EVERY_GATE["evacuation"])
    assert "fenced" in schema["required"]
    assert "fenced" in schema["properties"]["fenced"]["description"]


def test_maintenance_done_does_not_talk_about_rejecting_the_plan() -> None:
    gate = EVERY_GATE["maintenance-done"]
    schema = _schema(gate)
    text = gate.description() + str(schema)
    assert "reject the plan" not in text
    assert gate.question == "Is the work on cmp-1 done?"
    assert "enabled again" in schema["properties"]["approved"]["description"]
    assert "move back" in gate.on_approve


def test_the_description_says_what_moves_what_approving_does_and_the_timeout() -> None:
    text = EVERY_GATE["maintenance-plan"].description()
    assert "Drain cmp-1 for maintenance (kernel)?" in text
    assert "3 instances move off cmp-1: 2 to cmp-2, 1 to cmp-3 (3 live)." in text
    assert "**Approve:** cmp-1's compute service is disabled" in text
    assert "**Timeout:** If nobody answers within 60 min, the gate rejects: nothing is changed" in (
        text
    )
    form = gate_form(EVERY_GATE["maintenance-plan"])
    assert form._description == text, "the UI shows the description above the form"


def test_a_failing_node_gate_says_it_approves_itself_on_timeout() -> None:
    gate = EVERY_GATE["failing-node"]
    assert gate.timeout_text.startswith("If nobody answers within 5 min, the gate approves:")
    assert "move off it" in gate.timeout_text


def test_an_evacuation_gate_says_the_host_is_down_and_never_approves_unfenced() -> None:
    gate = gates.evacuation("cmp-1", False, _plan(EvacuateRequest(host="cmp-1")), 60, "approve")
    assert "cmp-1 is down" in gate.question and "fenced" in gate.question
    assert "rejects (nobody confirmed fencing)" in gate.timeout_text
    assert "are rebuilt off cmp-1" in gate.moves
    up = gates.evacuation("cmp-1", True, _plan(EvacuateRequest(host="cmp-1")), 60, "reject")
    assert "still UP" in up.question


def test_a_zone_wide_gate_names_a_few_hosts_and_counts_the_rest() -> None:
    hosts = [f"cmp-{i:04d}" for i in range(1000)]
    gate = gates.rolling_plan(hosts, [[h] for h in hosts], _plan(), 3600, "reject")
    assert "and 992 more" in gate.question and len(gate.question) < 300


def test_the_channel_is_recorded_by_novaflow_not_typed_in() -> None:
    form = gate_form(EVERY_GATE["evacuation"])
    from_ui = decision_from(form(approved=True, comment="ok", fenced=True))
    assert (from_ui.via, from_ui.approver, from_ui.fenced) == ("ui", "Prefect UI", True)
    from_slack = decision_from(
        form.model_validate(
            {"approved": False, "fenced": False, "via": "slack", "approver": "U1 (Alice)"}
        )
    )
    assert (from_slack.via, from_slack.approver) == ("slack", "U1 (Alice)")
    typed = decision_from(form.model_validate({"approved": True, "fenced": True, "via": "timeout"}))
    assert typed.via == "ui", "only the channels novaflow itself answers from are taken"


def test_a_gate_whose_process_stopped_stamping_is_known_to_be_gone() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    fresh = {gates.ALIVE_LABEL: (now - timedelta(seconds=5)).isoformat()}
    old = {gates.ALIVE_LABEL: (now - timedelta(minutes=5)).isoformat()}
    assert gates.gate_alive(fresh, now) is True
    assert gates.gate_alive(old, now) is False
    assert gates.gate_alive({}, now) is None
