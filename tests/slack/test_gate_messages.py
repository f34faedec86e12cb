"""Gate messages ask their own gate's question and stay within Slack's limits at any size;
a gate whose run lost its process is not approved into nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Paused

from deployments.slack_listener import ApprovalListener
from novaflow import gates
from novaflow.models import ApprovalDecision, DrainRequest, EvacuateRequest, Method, Move, Plan
from novaflow.slack import APPROVE_ACTION, SlackGate, gate_blocks, report_text
from tests.fakeslack import FakeSlack, blocks_refused
from tests.slack.conftest import ALICE, CountingRuns

RUN = "0b7d2c1e-5f3a-4c8e-9d21-3a4b5c6d7e8f"
URL = f"http://127.0.0.1:4200/runs/flow-run/{RUN}"


def _big_plan(hosts: list[str]) -> Plan:
    moves = [
        Move(
            instance_id=f"{i:08d}-0000-0000-0000-000000000000",
            instance_name=f"instance-with-a-long-name-{i:05d}",
            source=host,
            target=hosts[(i + 1) % len(hosts)],
            method=Method.LIVE,
            reason="drain " + host + ": live migration to the tightest fit with room",
        )
        for i, host in enumerate(hosts)
    ]
    return Plan(request=DrainRequest(hosts=hosts), moves=moves)


def _text(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_a_rolling_gate_over_1000_hosts_is_accepted_by_slack(
    fake: FakeSlack, gate: SlackGate
) -> None:
    hosts = [f"sim-compute-{i:04d}.zone-a.example.org" for i in range(1000)]
    plan = _big_plan(hosts)
    rolling = gates.rolling_plan(hosts, [[h] for h in hosts], plan, 3600, "reject")
    assert (
        blocks_refused(gate_blocks("r", "sim", hosts, plan, RUN, URL, False, "k", rolling)) is None
    )
    ts = gate.post_gate("rolling-maintenance", "sim", hosts, plan, RUN, URL, False, gate=rolling)
    posted = fake.messages[ts]
    assert "1000 hosts" in posted["text"] or "1000" in _text(posted["blocks"])
    assert "and 992 more" in _text(posted["blocks"])
    gate.mark_decided(ts, ApprovalDecision(approved=True, via="slack", approver="U1 (A)"))
    assert "Approved" in _text(fake.messages[ts]["blocks"])


def test_a_message_without_a_gate_over_1000_hosts_is_accepted_too(
    fake: FakeSlack, gate: SlackGate
) -> None:
    hosts = [f"sim-compute-{i:04d}" for i in range(1000)]
    ts = gate.post_gate("rolling-maintenance", "sim", hosts, _big_plan(hosts), RUN, URL, False)
    assert ts in fake.messages


def test_the_fake_refuses_what_slack_refuses() -> None:
    assert blocks_refused([{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}])
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    assert blocks_refused([header])
    assert blocks_refused([{"type": "divider"}] * 51)
    assert blocks_refused(
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}]
    ) is (None)


def test_maintenance_done_asks_its_own_question_and_does_not_repeat_the_plan(
    fake: FakeSlack, gate: SlackGate
) -> None:
    plan = _big_plan(["cmp-1", "cmp-2"])
    done = gates.maintenance_done("cmp-1", False, 3600, "reject")
    ts = gate.post_gate("node-maintenance", "prod", ["cmp-1"], plan, RUN, URL, False, gate=done)
    text = _text(fake.messages[ts]["blocks"])
    assert "Is the work on cmp-1 done?" in text
    assert "enabled again" in text
    assert "instance-with-a-long-name" not in text and "Capacity after" not in text
    assert "reject the plan" not in text
    assert fake.messages[ts]["text"].endswith("Is the work on cmp-1 done?")
    assert not [c for c in fake.calls_to("chat.postMessage") if c.args.get("thread_ts")]


def test_the_evacuation_message_says_the_host_is_down(fake: FakeSlack, gate: SlackGate) -> None:
    plan = Plan(request=EvacuateRequest(host="cmp-9"))
    evac = gates.evacuation("cmp-9", False, plan, 600, "reject")
    ts = gate.post_gate("evacuate-failed-node", "prod", ["cmp-9"], plan, RUN, URL, True, gate=evac)
    blocks = fake.messages[ts]["blocks"]
    assert "cmp-9 is down" in blocks[0]["text"]["text"]
    assert "Nova reports its compute service down" in _text(blocks)
    assert any(b.get("block_id") == "novaflow_fenced" for b in blocks)


def test_a_rejected_rebalance_says_who_rejected_it_and_names_its_hosts() -> None:
    no = ApprovalDecision(approved=False, comment="not in business hours", approver="U0BOB (Bob)")
    no = no.model_copy(update={"via": "slack"})
    text = report_text([], [("approve-plan", no)])
    assert "rejected by <@U0BOB>" in text and "not in business hours" in text
    assert "nothing was planned" not in text and "Nothing was changed." in text
    plan = _big_plan(["cmp-1", "cmp-2"])
    rebalance = gates.rebalance("spread", ["cmp-1", "cmp-2"], plan, 3600, "reject")
    header = gate_blocks("x", "prod", [], plan, RUN, URL, False, gate=rebalance)[0]
    assert header["text"]["text"] == "Approval needed: Rebalance (spread) across 2 hosts"
    bare = gate_blocks("rebalance-spread", "prod", [], plan, RUN, URL, False)[0]
    assert bare["text"]["text"] == "Approval needed: rebalance-spread on no host"


@flow(persist_result=False)
def _never_runs() -> None:
    """Only its flow run record is used: a run whose process has gone."""


def test_a_click_on_a_gate_whose_process_is_gone_is_refused_and_says_so(
    socket_listener: ApprovalListener, fake: FakeSlack, gate: SlackGate, runs: CountingRuns
) -> None:
    stale = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(_never_runs)
        client.set_flow_run_state(
            run.id, Paused(timeout_seconds=600, pause_key="approve-plan"), force=True
        )
        client.update_flow_run_labels(run.id, {gates.ALIVE_LABEL: stale})
    plan = _big_plan(["cmp-1", "cmp-2"])
    maint = gates.maintenance_plan("cmp-1", "kernel", plan, 600, "reject")
    ts = gate.post_gate(
        "node-maintenance", "sim", ["cmp-1"], plan, str(run.id), URL, False, gate=maint
    )

    fake.click(ALICE, APPROVE_ACTION, fake.button_value(ts), ts)

    told = fake.wait_for("chat.postEphemeral", lambda c: c.args["user"] == ALICE).args["text"]
    assert "lost its process" in told and "Start the scenario again" in told
    assert runs.resumed == []
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run.id).state
    assert state.is_crashed() and "gate approve-plan is gone" in state.message


pytestmark = pytest.mark.timeout(120)
