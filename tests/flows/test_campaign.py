"""Unattended maintenance campaigns (rolling-maintenance with a work step) on a real Prefect
server against the simulated cloud: what each host ends as, where instances end up, what
the campaign keeps for its next run and what the operator is told."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from deployments.campaign_cli import campaign_app
from flows.params import ApprovalSettings, RunSettings
from flows.rolling import rolling_maintenance
from novaflow.sim.spec import ClusterSpec
from tasks.campaign_state import read_campaign
from tests.flows.conftest import APPROVE, drive, service, where


def settings(**kw) -> RunSettings:
    kw.setdefault("approval", ApprovalSettings(timeout_s=60))
    kw.setdefault("move_timeout_s", 60)
    return RunSettings(cloud="sim", **kw)


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


def moved(sim, name: str) -> int:
    """How many times the instance `name` really moved (migrations that ended on a target;
    a failed attempt retried by the move task is not a second move)."""
    return sum(
        m.status in ("completed", "confirmed", "finished")
        for m in sim.migrations(sim.server_id(name))
    )


REBOOT = f"{sys.executable} -m novaflow.cli sim reboot {{host}} --os-cloud sim --down-seconds 120"
"""The work step: reboot the host in the sim (down 120 simulated seconds, then back)."""


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
        work_command=REBOOT,
        batch_size=2,
        min_free_fraction=0.0,
        settings=settings(),
    )
    assert [g.gate for g in report.gates] == ["approve-plan"]
    assert states(name) == {"cmp-a": "done", "cmp-b": "done", "cmp-c": "done"}
    for host in ("cmp-a", "cmp-b", "cmp-c"):  # each rebooted, and seen back before enabling
        note = read_campaign(name).record(host).note
        assert "exit 0" in note and "enabled again" in note, note
        assert sim.state.hosts[host].booted_at > 0
    for host in ("cmp-a", "cmp-b", "cmp-c"):
        assert service(sim, host).status == "enabled"
    for inst in ("a-0", "a-1", "b-0", "b-1"):
        assert where(sim, inst)[1] == "ACTIVE"
        assert moved(sim, inst) == 1, (inst, sim.migrations(sim.server_id(inst)))
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


def two_hosts_and_a_spare() -> ClusterSpec:
    """cmp-a and cmp-b (the campaign) hold two instances each; spare-1 is outside it."""
    spec = ClusterSpec().host("cmp-a").host("cmp-b").host("spare-1")
    for h in ("a", "b"):
        for i in range(2):
            spec.instance(f"{h}-{i}", host=f"cmp-{h}", flavor="m1.small")
    return spec


FAILS_ON_A = (
    "sh -c 'if [ {host} = cmp-a ]; then echo firmware flash failed on {host} >&2; exit 3; fi'"
)


def test_failed_work_under_stop_leaves_the_host_disabled_and_starts_no_other(cloud_of):
    sim = cloud_of(two_hosts_and_a_spare())
    name = new_name()
    report = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        campaign=name,
        work_command=FAILS_ON_A,
        on_work_failure="stop",
        min_free_fraction=0.0,
        settings=settings(),
    )
    assert states(name) == {"cmp-a": "failed", "cmp-b": "pending"}
    assert service(sim, "cmp-a").status == "disabled"
    assert service(sim, "cmp-b").status == "enabled"
    assert len(sim.instances_on("cmp-b")) == 2  # never touched
    record = read_campaign(name).record("cmp-a")
    assert "exit 3" in record.note and "firmware flash failed on cmp-a" in record.output
    assert any("firmware flash failed on cmp-a" in n for n in report.notes), report.notes
    assert any("hosts not started: cmp-b" in n for n in report.notes), report.notes


def test_failed_work_under_skip_goes_on_and_a_retry_is_only_on_request(cloud_of):
    sim = cloud_of(two_hosts_and_a_spare())
    name = new_name()
    drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        campaign=name,
        work_command=FAILS_ON_A,
        on_work_failure="skip",
        min_free_fraction=0.0,
        settings=settings(),
    )
    assert states(name) == {"cmp-a": "failed", "cmp-b": "done"}
    assert service(sim, "cmp-a").status == "disabled"
    assert service(sim, "cmp-b").status == "enabled"

    again = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        campaign=name,
        work_command="true",
        settings=settings(),
    )
    assert not again.gates
    assert any("1 failed (cmp-a; run with retry_failed" in n for n in again.notes), again.notes

    drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        campaign=name,
        work_command="true",
        retry_failed=True,
        min_free_fraction=0.0,
        settings=settings(),
    )
    assert states(name) == {"cmp-a": "done", "cmp-b": "done"}
    assert service(sim, "cmp-a").status == "enabled"


@pytest.mark.parametrize("fault", ["never_returns", "returns_failing"])
def test_a_host_that_does_not_come_back_stays_disabled_and_stops_the_campaign(cloud_of, fault):
    sim = cloud_of(two_hosts_and_a_spare())
    name = new_name()
    report = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        campaign=name,
        work_command=f"{REBOOT} --fault {fault}",
        check_timeout_s=900,
        min_free_fraction=0.0,
        settings=settings(),
    )
    assert states(name) == {"cmp-a": "failed", "cmp-b": "pending"}
    assert service(sim, "cmp-a").status == "disabled"
    note = read_campaign(name).record("cmp-a").note
    assert note.startswith("not back in service: "), note
    if fault == "never_returns":
        assert "did not come back within 900 s" in note, note
    assert any(n.startswith("cmp-a failed: not back in service") for n in report.notes)
    assert len(sim.instances_on("cmp-b")) == 2  # on_work_failure=stop: never started


def test_window_ending_mid_campaign_starts_no_new_host_and_the_next_run_resumes(cloud_of):
    sim = cloud_of(two_hosts_and_a_spare())
    name = new_name()
    end = datetime.now(UTC) + timedelta(seconds=15)
    # The first host's work lasts until the window has ended (however fast the machine is).
    until_the_window_ends = (
        f"{sys.executable} -c 'import sys, time; "
        f"time.sleep(max(0.0, float(sys.argv[1]) - time.time() + 0.3))' {end.timestamp()}"
    )
    first = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        campaign=name,
        work_command=until_the_window_ends,
        min_free_fraction=0.0,
        settings=settings(window_end=end),
    )
    # cmp-a's work had started: it finished, was checked and enabled after the window end.
    assert states(name) == {"cmp-a": "done", "cmp-b": "pending"}
    assert service(sim, "cmp-a").status == "enabled"
    assert any("window ended: hosts not started: cmp-b" in n for n in first.notes), first.notes
    assert len(sim.instances_on("cmp-b")) == 2

    second = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        campaign=name,
        work_command="true",
        min_free_fraction=0.0,
        settings=settings(),
    )
    assert {o.source for o in second.outcomes} == {"cmp-b"}  # done cmp-a is skipped
    assert states(name) == {"cmp-a": "done", "cmp-b": "done"}
    # cmp-b's instances went to cmp-a (done) or the spare, never back onto a host to do.
    for inst in ("a-0", "a-1", "b-0", "b-1"):
        assert moved(sim, inst) == 1, (inst, sim.migrations(sim.server_id(inst)))


def test_instances_move_once_when_an_empty_host_starts_the_campaign(cloud_of):
    spec = ClusterSpec().host("cmp-a").host("cmp-b").host("cmp-e")
    for h in ("a", "b"):
        for i in range(3):
            spec.instance(f"{h}-{i}", host=f"cmp-{h}", flavor="m1.small")
    sim = cloud_of(spec)
    name = new_name()
    report = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b", "cmp-e"],
        campaign=name,
        work_command="true",
        batch_size=3,
        min_free_fraction=0.0,
        settings=settings(),
    )
    assert states(name) == {"cmp-a": "done", "cmp-b": "done", "cmp-e": "done"}
    moves = {inst: moved(sim, inst) for inst in sim_names(spec)}
    assert set(moves.values()) == {1}, (moves, [sim.migrations(sim.server_id(i)) for i in moves])
    assert "every instance moved at most once" in report.notes


def sim_names(spec: ClusterSpec) -> list[str]:
    return [i.name for i in spec.instances]


def test_skip_check_marks_a_host_done_untouched(cloud_of):
    sim = cloud_of(two_hosts_and_a_spare())
    name = new_name()
    drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        campaign=name,
        work_command="true",
        skip_check="test {host} = cmp-b",
        min_free_fraction=0.0,
        settings=settings(),
    )
    assert states(name) == {"cmp-a": "done", "cmp-b": "done"}
    assert "skip check" in read_campaign(name).record("cmp-b").note
    for inst in ("b-0", "b-1"):  # untouched
        assert where(sim, inst) == ("cmp-b", "ACTIVE") and not moved(sim, inst)
    # cmp-b, done, is preferred to spare-1 (outside the campaign) as cmp-a's target.
    assert {where(sim, inst)[0] for inst in ("a-0", "a-1")} == {"cmp-b"}


def test_campaign_show_prints_each_host_state_as_json(cloud_of):
    cloud_of(two_hosts_and_a_spare())
    name = new_name()
    drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a"],
        campaign=name,
        work_command="true",
        min_free_fraction=0.0,
        settings=settings(),
    )
    result = CliRunner().invoke(campaign_app, ["show", name, "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["campaign"] == name
    assert [(h["host"], h["state"]) for h in body["hosts"]] == [("cmp-a", "done")]
    assert body["hosts"][0]["enabled_before"] is True
    assert body["hosts"][0]["moves"] == 2

    table = CliRunner().invoke(campaign_app, ["show", name])
    assert table.exit_code == 0 and "cmp-a" in table.output and "done" in table.output
    value = CliRunner().invoke(
        campaign_app, ["show", name, "-f", "value", "-c", "host", "-c", "state"]
    )
    assert value.exit_code == 0 and value.output == "cmp-a done\n", value.output
    wrong = CliRunner().invoke(campaign_app, ["show", name, "-c", "colour"])
    assert wrong.exit_code == 2 and "no column 'colour'" in wrong.output
    missing = CliRunner().invoke(campaign_app, ["show", "no-such-campaign"])
    assert missing.exit_code == 1 and "no campaign named" in missing.output


def test_window_ending_while_a_host_drains_leaves_it_disabled_to_resume_first(cloud_of):
    spec = ClusterSpec().host("cmp-a").host("cmp-b").host("spare-1")
    for i in range(2):
        spec.instance(f"a-{i}", host="cmp-a", flavor="m1.small")
    for i in range(3):
        spec.instance(f"b-{i}", host="cmp-b", flavor="m1.small")
    # a-1's migration (the second) hangs until the move timeout, long after the window end;
    # the window leaves the flow 15 s to start and take cmp-a (a few on a quiet machine).
    sim = cloud_of(spec, faults={"hang_nth_migrations": [2]})
    name = new_name()
    end = datetime.now(UTC) + timedelta(seconds=15)
    first = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        campaign=name,
        work_command="true",
        min_free_fraction=0.0,
        settings=settings(window_end=end, max_parallel=1, move_timeout_s=40),
    )
    assert states(name) == {"cmp-a": "draining", "cmp-b": "pending"}
    assert service(sim, "cmp-a").status == "disabled"  # a-0 left it: not enabled again
    assert service(sim, "cmp-b").status == "enabled"
    assert where(sim, "a-1")[0] == "cmp-a" and where(sim, "a-0")[0] != "cmp-a"
    assert any(o.instance_name == "a-1" and o.result != "moved" for o in first.outcomes)
    assert any(n.startswith("cmp-a: the window ended while it drained") for n in first.notes), (
        first.notes
    )

    second = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        campaign=name,
        work_command="true",
        min_free_fraction=0.0,
        settings=settings(),
    )
    assert second.outcomes[0].instance_name == "a-1"  # cmp-a resumed first
    assert states(name) == {"cmp-a": "done", "cmp-b": "done"}
    assert service(sim, "cmp-a").status == "enabled"
    for inst in ("a-0", "a-1", "b-0", "b-1", "b-2"):
        assert moved(sim, inst) == 1, (inst, sim.migrations(sim.server_id(inst)))


def test_two_hosts_with_no_spare_finish_in_one_run_and_the_report_says_who_moved_twice(
    cloud_of,
):
    spec = ClusterSpec().host("cmp-a").host("cmp-b")
    for h in ("a", "b"):
        for i in range(2):
            spec.instance(f"{h}-{i}", host=f"cmp-{h}", flavor="m1.small")
    sim = cloud_of(spec)
    name = new_name()
    report = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b"],
        campaign=name,
        work_command="true",
        batch_size=2,
        min_free_fraction=0.0,
        settings=settings(),
    )
    # cmp-b waited for cmp-a (its only way out) instead of giving up or waiting for ever.
    assert states(name) == {"cmp-a": "done", "cmp-b": "done"}
    assert {where(sim, f"a-{i}")[0] for i in range(2)} == {"cmp-a"}  # a-* came back
    assert {where(sim, f"b-{i}")[0] for i in range(2)} == {"cmp-a"}
    note = next(n for n in report.notes if "moved more than once" in n)
    assert note.startswith("2 instance(s) moved more than once: a-0 (left cmp-a then cmp-b)")


def test_max_moved_twice_lets_a_host_go_ahead_onto_a_host_still_to_do(cloud_of):
    """Three hosts, none done: kept to one move per instance, a host whose instance fits only
    on a host still to do waits for the one in flight to be done (see the two-host test);
    allowed to move some twice, it goes ahead at once, and the report says so and names the
    instances that then moved again."""
    spec = ClusterSpec().host("cmp-a").host("cmp-b").host("cmp-c")
    for h in ("a", "b", "c"):
        spec.instance(f"{h}-0", host=f"cmp-{h}", flavor="m1.small")
    sim = cloud_of(spec)
    name = new_name()
    report = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["cmp-a", "cmp-b", "cmp-c"],
        campaign=name,
        work_command="true",
        batch_size=3,
        min_free_fraction=0.0,
        max_moved_twice=1.0,
        settings=settings(),
    )
    assert states(name) == {"cmp-a": "done", "cmp-b": "done", "cmp-c": "done"}
    ahead = [n for n in report.notes if "went ahead rather than wait" in n]
    assert len(ahead) == 1 and "1 instance(s) landed on hosts still to do" in ahead[0], ahead
    twice = [i for i in ("a-0", "b-0", "c-0") if moved(sim, i) == 2]
    assert twice and all(where(sim, i)[1] == "ACTIVE" for i in ("a-0", "b-0", "c-0"))
    note = next(n for n in report.notes if "moved more than once" in n)
    assert note.startswith(f"{len(twice)} instance(s) moved more than once"), note


ALONE_IN_ITS_ZONE = (
    f'{sys.executable} -c "import sys, openstack; '
    "me = sys.argv[1]; zone = me.split('-')[0]; "
    "c = openstack.connect(cloud='sim'); "
    "out = [s.host for s in c.compute.services() "
    "if s.status == 'disabled' and s.host.split('-')[0] == zone]; "
    "print('out of service in my zone:', out); sys.exit(0 if out == [me] else 1)\" {host}"
)


def test_max_per_zone_keeps_one_host_per_zone_out_at_a_time(cloud_of):
    spec = ClusterSpec()
    for zone in ("z1", "z2"):
        for h in ("a", "b", "spare"):
            spec.host(f"{zone}-{h}", zone=zone)
        for h in ("a", "b"):
            spec.instance(f"{zone}-{h}-0", host=f"{zone}-{h}", flavor="m1.small")
    cloud_of(spec)
    name = new_name()
    report = drive(
        rolling_maintenance,
        {"approve-plan": APPROVE},
        hosts=["z1-a", "z1-b", "z2-a", "z2-b"],
        campaign=name,
        work_command=ALONE_IN_ITS_ZONE,  # fails if another host of its zone is out
        batch_size=4,
        max_per_zone=1,
        min_free_fraction=0.0,
        settings=settings(),
    )
    assert set(states(name).values()) == {"done"}, report.notes
