"""A drain Nova refuses: the report quotes Nova and suggests what can work, not a retry."""

from __future__ import annotations

from flows.maintenance import node_maintenance
from flows.params import ApprovalSettings, RunSettings
from tests.flows.conftest import APPROVE, drive, two_hosts, where

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."


def test_a_drain_nova_refuses_is_reported_in_novas_words(cloud_of):
    sim = cloud_of(two_hosts(2), faults={"no_valid_host_flavors": ["m1.small"]})
    report = drive(
        node_maintenance,
        {"approve-plan": APPROVE},
        host="cmp-a",
        wait_for_done=False,
        settings=RunSettings(
            cloud="sim", move_timeout_s=60, approval=ApprovalSettings(timeout_s=60)
        ),
    )
    assert not report.ok and len(report.outcomes) == 2
    for outcome in report.outcomes:
        assert where(sim, outcome.instance_name) == ("cmp-a", "ACTIVE")
        assert outcome.result == "failed" and outcome.cause == "no valid host"
        # live to the planned host, live to the scheduler's choice, then cold: all refused
        assert f"Nova refused: {NO_VALID_HOST} (conductor_migrate_server event" in (
            outcome.nova_reason or ""
        )
        assert "conductor_live_migrate_instance event" in (outcome.error or "")
        remedy = outcome.remedy or ""
        assert "openstack resource provider inventory list" in remedy
        assert f"openstack server migrate {outcome.instance_id}" not in remedy
