"""The return-to-service check against the sim: a host is proven back only by its compute
service's heartbeats after the work, and says what it saw when it is not."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from novaflow.campaign_work import ServiceProof
from novaflow.canary import boot_canary
from novaflow.service_proof import Polling, prove_back
from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import SimHandle

FAST = Polling(first_s=0.01, max_s=0.05)


def spec() -> ClusterSpec:
    return (
        ClusterSpec().host("cmp-a").host("cmp-b").instance("web-1", host="cmp-a", flavor="m1.small")
    )


def rebooted(sim: SimHandle, host: str, **body: object) -> tuple[datetime, datetime]:
    """Reboot `host` as a work command would; the work's start and end (this machine's clock)."""
    started = datetime.now(UTC)
    resp = httpx.post(f"{sim.url}/sim/hosts/{host}/reboot", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    return started, datetime.now(UTC)


def prove(cloud, host: str, work: tuple[datetime, datetime], timeout_s: float) -> ServiceProof:
    return prove_back(
        cloud,
        host,
        work_started_at=work[0],
        work_ended_at=work[1],
        timeout_s=timeout_s,
        polling=FAST,
    )


def test_a_rebooted_host_is_proven_back_and_the_restart_seen(connect):
    sim, cloud = connect(spec())
    proof = prove(cloud, "cmp-b", rebooted(sim, "cmp-b", down_seconds=60), timeout_s=900)
    assert proof.ok, proof.detail
    assert proof.saw_restart
    assert re.fullmatch(
        r"nova-compute on cmp-b reported up at \d\d:\d\d:\d\d, [\d.]+ s after the work ended; "
        r"went down at \d\d:\d\d:\d\d during the work",
        proof.detail,
    ), proof.detail
    with sim.cloud.lock:
        assert sim.cloud.hosts["cmp-b"].is_up


def test_a_host_that_never_comes_back_is_not_proven_and_says_since_when(connect):
    sim, cloud = connect(spec())
    work = rebooted(sim, "cmp-b", down_seconds=60, fault="never_returns")
    with sim.cloud.lock:
        down_since = sim.cloud.time(sim.cloud.hosts["cmp-b"].last_heartbeat)
    proof = prove(cloud, "cmp-b", work, timeout_s=300)
    assert not proof.ok
    assert proof.detail == (
        f"did not come back within 300 s: nova-compute on cmp-b down since "
        f"{down_since:%H:%M:%S} (its last heartbeat)"
    )


def test_a_host_whose_compute_service_crashes_on_start_is_not_proven(connect):
    sim, cloud = connect(spec())
    work = rebooted(sim, "cmp-b", down_seconds=60, fault="returns_failing")
    proof = prove(cloud, "cmp-b", work, timeout_s=600)
    assert not proof.ok
    assert proof.detail.startswith("came back but its compute service is failing: ")
    assert "is down (state down" in proof.detail


def test_a_heartbeat_older_than_the_end_of_the_work_is_never_taken_as_proof(connect):
    # A clock that stands still: the service is up, but its heartbeat never passes the
    # end of the work, however long the check polls.
    _, cloud = connect(spec(), time_scale=0)
    ended = datetime.now(UTC)
    proof = prove(cloud, "cmp-b", (ended - timedelta(seconds=30), ended), timeout_s=1)
    assert not proof.ok
    assert "reports up but sent no heartbeat after the work ended" in proof.detail


def test_work_that_did_not_restart_the_host_is_proven_without_a_restart(connect):
    _, cloud = connect(spec())
    started = datetime.now(UTC)
    proof = prove(cloud, "cmp-b", (started, datetime.now(UTC)), timeout_s=300)
    assert proof.ok, proof.detail
    assert not proof.saw_restart
    assert "no restart seen; the node has been up" in proof.detail


def test_the_canary_runs_on_the_host_that_stays_disabled_and_is_deleted(connect):
    """Nova boots nothing on a disabled host, even one an admin forces (Placement's
    pre-filter): the canary boots on cmp-a and a forced live migration takes it to cmp-b."""
    sim, cloud = connect(spec())
    cloud.disable_service("cmp-b", "novaflow: kernel campaign")
    work = rebooted(sim, "cmp-b", down_seconds=60)
    proof = boot_canary(cloud, "cmp-b", prove(cloud, "cmp-b", work, 900), timeout_s=60, poll_s=0.05)
    assert proof.ok, proof.detail
    assert re.search(r"canary [0-9a-f]{8} ACTIVE on cmp-b in [\d.]+ s, deleted$", proof.detail)
    canary = [m for m in sim.migrations() if m.migration_type == "live-migration"]
    assert [(m.source_compute, m.dest_compute, m.status) for m in canary] == [
        ("cmp-a", "cmp-b", "completed")
    ]
    with sim.cloud.lock:
        assert not [i for i in sim.cloud.instances.values() if i.name.startswith("novaflow-")]
        assert sim.cloud.hosts["cmp-b"].status == "disabled"


def test_a_canary_that_cannot_run_on_the_host_fails_the_proof_and_is_deleted(connect):
    """cmp-b came back reserving nearly all its memory for itself (its new nova.conf): Nova
    refuses the canary's move onto it, the proof fails saying so, and nothing is left."""
    sim, cloud = connect(spec())
    with sim.cloud.lock:
        node = next(
            p for p in sim.cloud.providers.values() if p.host == "cmp-b" and p.parent_uuid is None
        )
        node.inventories["MEMORY_MB"].reserved = node.inventories["MEMORY_MB"].total - 100
    cloud.disable_service("cmp-b", "novaflow: kernel campaign")
    work = rebooted(sim, "cmp-b", down_seconds=60)
    proof = boot_canary(cloud, "cmp-b", prove(cloud, "cmp-b", work, 900), timeout_s=60, poll_s=0.05)
    assert not proof.ok
    assert re.search(
        r"canary [0-9a-f]{8} for cmp-b booted on cmp-a, could not be moved onto cmp-b "
        r"\(ACTIVE on cmp-a.*\); deleted$",
        proof.detail,
    ), proof.detail
    with sim.cloud.lock:
        assert not [i for i in sim.cloud.instances.values() if i.name.startswith("novaflow-")]
        assert sim.cloud.hosts["cmp-b"].status == "disabled"
