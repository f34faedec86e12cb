"""Unattended maintenance campaigns (rolling-maintenance with a work step) on a real Prefect
server against the simulated cloud: what each host ends as, where instances end up, what
the campaign keeps for its next run and what the operator is told."""

from __future__ import annotations

import uuid

from flows.params import ApprovalSettings, RunSettings
from flows.rolling import rolling_maintenance
from novaflow.sim.spec import ClusterSpec
from tasks.campaign_state import read_campaign
from tests.flows.conftest import APPROVE, drive, service, where


def settings(**kw) -> RunSettings:
    kw.setdefault("approval", ApprovalSettings(timeout_s=60))
    return RunSettings(cloud="sim", move_timeout_s=60, **kw)


def zone_with_an_empty_host() -> ClusterSpec:
    """Zone az1: cmp-a and cmp-b hold two instances each, cmp-c is empty; az2 is outside."""
    spec = ClusterSpec().host("cmp-a").host("cmp-b").host("cmp-c").host("out-1", zone="az2")
    for h in ("a", "b"):
        for i in range(2):
            spec.instance(f"{h}-{i}", host=f"cmp-{h}", flavor="m1.small")
    return spec


def states(name: str) -> dict[str, str]:
    campaign = read_campaign(name)
    assert campaign is not None
    return {r.host: r.state for r in campaign.hosts}


def new_name() -> str:
    return f"kernel-{uuid.uuid4().hex[:8]}"


def test_whole_zone_campaign_runs_unattended_after_one_approval(cloud_of):
    sim = cloud_of(zone_with_an_empty_host())
    name = new_name()
    report = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        zone="az1",
        campaign=name,
        work_command="true",
        batch_size=2,
        min_free_fraction=0.0,
        settings=settings(),
    )
    assert [g.gate for g in report.gates] == ["approve-plan"]
    assert states(name) == {"cmp-a": "done", "cmp-b": "done", "cmp-c": "done"}
    for host in ("cmp-a", "cmp-b", "cmp-c"):
        assert service(sim, host).status == "enabled"
    for inst in ("a-0", "a-1", "b-0", "b-1"):
        assert where(sim, inst)[1] == "ACTIVE"
        assert len(sim.migrations(sim.server_id(inst))) == 1, inst
    assert "every instance moved at most once" in report.notes
    assert report.ok

    again = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        zone="az1",
        campaign=name,
        work_command="true",
        settings=settings(),
    )
    assert not again.gates and not again.outcomes
    assert any("nothing to do: 3 of 3 host(s) done" in n for n in again.notes), again.notes
