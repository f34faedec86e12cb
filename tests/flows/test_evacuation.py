"""evacuate_failed_node: fencing at the gate, rebuilds elsewhere, and the Slack round trip."""

from __future__ import annotations

import threading

import pytest

from deployments.run_cli import run_foreground
from deployments.slack_listener import build_listener, socket_mode_client
from flows.evacuation import evacuate_failed_node
from flows.maintenance import node_maintenance
from flows.params import ApprovalSettings, RunSettings
from novaflow.sim.spec import ClusterSpec
from novaflow.slack import SlackSettings
from tasks.locks import HostBusy
from tests.fakeslack import APPROVE, FakeSlack
from tests.flows.conftest import APPROVE_FENCED, drive, in_background, service, where

ALICE, MALLORY, CHANNEL = "U0ALICE", "U0MALLORY", "C0OPS"


def failed_node() -> ClusterSpec:
    spec = ClusterSpec().host("cmp-a").host("cmp-b").host("cmp-c")
    spec.instance("web-0", host="cmp-a", flavor="m1.small")
    spec.instance("web-1", host="cmp-a", flavor="m1.medium", metadata={"evacuation_priority": "9"})
    spec.instance("batch-0", host="cmp-a", flavor="m1.small", status="SHUTOFF")
    spec.instance("vol-0", host="cmp-a", flavor="m1.small", boot_from_volume=True, volumes=1)
    return spec


def settings(**kw) -> RunSettings:
    kw.setdefault("approval", ApprovalSettings(timeout_s=60))
    return RunSettings(cloud="sim", move_timeout_s=60, **kw)


def test_rebuilds_every_instance_elsewhere_in_its_prior_power_state(cloud_of):
    sim = cloud_of(failed_node())
    addresses = {n: sim.instance(sim.server_id(n)).addresses for n in ("web-0", "batch-0")}
    sim.kill_host("cmp-a")
    report = drive(
        evacuate_failed_node,
        {"approve-evacuation": APPROVE_FENCED},
        host="cmp-a",
        settings=settings(),
    )
    for name, status in (
        ("web-0", "ACTIVE"),
        ("web-1", "ACTIVE"),
        ("batch-0", "SHUTOFF"),
        ("vol-0", "ACTIVE"),
    ):
        host, now = where(sim, name)
        assert host in ("cmp-b", "cmp-c") and now == status, (name, host, now)
    for name, before in addresses.items():
        assert sim.instance(sim.server_id(name)).addresses == before
    assert service(sim, "cmp-a").is_forced_down
    assert report.plan.moves[0].instance_name == "web-1"  # highest priority first
    assert report.ok and {o.result for o in report.outcomes} == {"moved"}


def test_rebuilds_waiting_on_a_target_start_in_the_plans_order(cloud_of):
    """The spare rebuilds one instance at a time; novaflow hands it the next one ahead of
    time (Nova queues it), and Nova starts them in the plan's order: longest first."""
    spec = ClusterSpec().host("cmp-a").host("spare", max_concurrent_builds=1)
    flavors = ("m1.tiny", "m1.xlarge", "m1.small", "m1.large", "m1.medium", "m1.tiny")
    for i, flavor in enumerate(flavors):
        spec.instance(f"vm-{i}", host="cmp-a", flavor=flavor)
    sim = cloud_of(spec)
    sim.kill_host("cmp-a")
    report = drive(
        evacuate_failed_node,
        {"approve-evacuation": APPROVE_FENCED},
        host="cmp-a",
        settings=settings(rebuild_slots=1),
    )
    planned = [m.instance_name for m in report.plan.moves]
    rebuilt = sorted(planned, key=lambda n: sim.instance(sim.server_id(n)).launched_at)
    assert report.ok and planned[:2] == ["vm-1", "vm-3"]  # xlarge, then large
    assert rebuilt == planned


def test_up_host_approved_without_fencing_is_refused_and_nothing_changes(cloud_of):
    sim = cloud_of(failed_node())
    report = drive(
        evacuate_failed_node,
        {"approve-evacuation": {"approved": True, "approver": "carol", "fenced": False}},
        host="cmp-a",
        settings=settings(),
    )
    assert not report.approved and not report.outcomes
    assert "fenced" in report.gates[0].decision.comment
    assert where(sim, "web-0") == ("cmp-a", "ACTIVE")
    assert not service(sim, "cmp-a").is_forced_down


def test_empty_host_is_refused_before_anything_moves(cloud_of):
    cloud_of(ClusterSpec().host("cmp-a").host("cmp-b").instance("x", host="cmp-b"))
    with pytest.raises(Exception, match="nothing to evacuate"):
        evacuate_failed_node(host="cmp-a", settings=settings())


@pytest.fixture
def slack(monkeypatch, prefect_server):
    users = {ALICE: "Alice Approver", MALLORY: "Mallory Intruder"}
    with FakeSlack(users=users) as fake:
        env = {
            "NOVAFLOW_SLACK_BOT_TOKEN": fake.bot_token,
            "NOVAFLOW_SLACK_APP_TOKEN": fake.app_token,
            "NOVAFLOW_SLACK_SIGNING_SECRET": fake.signing_secret,
            "NOVAFLOW_SLACK_CHANNEL": CHANNEL,
            "NOVAFLOW_SLACK_APPROVERS": ALICE,
            "NOVAFLOW_SLACK_BASE_URL": fake.api_url,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        listener = build_listener(SlackSettings())
        client = socket_mode_client(listener, SlackSettings())
        client.connect()
        fake.wait_connected()
        yield fake
        client.close()


def test_evacuation_approved_with_one_click_in_slack(cloud_of, slack):
    sim = cloud_of(failed_node())
    sim.kill_host("cmp-a")
    box = {}
    run = in_background(
        lambda: box.update(
            report=run_foreground(
                evacuate_failed_node,
                {"host": "cmp-a", "settings": settings(approval=ApprovalSettings(mode="slack"))},
                lambda gate: None,
                show=False,
            )
        )
    )
    slack.wait_for("chat.postMessage", lambda c: "thread_ts" not in c.args, timeout=60)
    ts = next(ts for ts, m in slack.messages.items() if not m.get("thread_ts"))
    value = slack.button_value(ts, APPROVE)
    slack.click(MALLORY, APPROVE, value, ts, fenced=True)  # not an approver: refused
    assert slack.wait_for("chat.postEphemeral", timeout=10).args["user"] == MALLORY
    slack.click(ALICE, APPROVE, value, ts, fenced=True)
    run.join(timeout=120)
    report = box["report"]
    assert report.ok and report.gates[0].decision.via == "slack"
    assert report.gates[0].decision.approver.startswith(ALICE)
    assert where(sim, "web-0")[0] != "cmp-a"
    thread = [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts") == ts]
    assert any("4 moved" in str(c.args.get("text", "")) for c in thread), thread
    updated = slack.calls_to("chat.update")
    assert updated and "Alice" in str(updated[-1].args)


def test_maintenance_on_a_host_being_evacuated_is_refused_naming_the_evacuation(cloud_of):
    sim = cloud_of(failed_node())
    sim.kill_host("cmp-a")
    gate_open = threading.Event()
    first: dict = {}

    def answer(gate):
        gate_open.set()
        return None  # nobody answers: the evacuation waits at its gate, then gives up

    evacuation = in_background(
        lambda: first.update(
            report=run_foreground(
                evacuate_failed_node,
                {"host": "cmp-a", "settings": settings(approval=ApprovalSettings(timeout_s=15))},
                answer,
                show=False,
            )
        )
    )
    assert gate_open.wait(60)
    with pytest.raises(
        HostBusy, match=r"cmp-a \(down\) is already being worked on by flow run '[^']+'.*evacuate"
    ):
        node_maintenance(host="cmp-a", settings=settings())
    evacuation.join(120)
    assert where(sim, "web-0")[0] == "cmp-a"  # nothing moved: the gate was never approved
