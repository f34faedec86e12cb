"""The fault plan: failed, hung and blocked migrations, dying services, 503s, latency, stats."""

from __future__ import annotations

import time
from collections.abc import Callable

import keystoneauth1.exceptions as ks_exc
import openstack.exceptions
import pytest
import requests

from novaflow.sim.faults import FaultPlan, ServiceDown, parse_fault_flags
from novaflow.sim.testing import SimHandle
from tests.sim.conftest import call, error


def _live(conn: object, sid: str, host: str | None = "b") -> None:
    conn.compute.live_migrate_server(sid, host=host, block_migration="auto")  # type: ignore[attr-defined]


def test_fail_the_nth_migration(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen(faults=FaultPlan(fail_nth_migrations=[2]))
    conn = sim.connect()
    first, second = sim.server_id("web-1"), sim.server_id("web-2")
    _live(conn, first)
    _live(conn, second)
    sim.advance(1000)
    assert (sim.host_of(first), sim.migrations(first)[0].status) == ("b", "completed")
    assert (sim.host_of(second), sim.migrations(second)[0].status) == ("a", "failed")
    assert sim.status_of(second) == "ACTIVE"


def test_fail_every_migration_to_a_host(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen()
    sim.set_faults(fail_hosts=["c"])
    conn = sim.connect()
    live, cold = sim.server_id("web-1"), sim.server_id("db-1")
    _live(conn, live, "c")
    conn.compute.migrate_server(cold, host="c")
    sim.advance(1000)
    assert sim.host_of(live) == "a" and sim.migrations(live)[0].status == "failed"
    assert sim.host_of(cold) == "a" and sim.status_of(cold) == "SHUTOFF"
    assert sim.migrations(cold)[0].status == "error"


def test_hung_migration_stays_running_until_aborted(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen(faults={"hang_nth_migrations": [1]})
    conn = sim.connect()
    sid = sim.server_id("web-1")
    _live(conn, sid)
    sim.advance(5000)
    (m,) = conn.compute.server_migrations(sid)
    assert m.status == "running" and sim.status_of(sid) == "MIGRATING"
    conn.compute.force_complete_server_migration(m, sid)
    sim.advance(100)
    assert sim.migrations(sid)[0].status == "running"
    conn.compute.abort_server_migration(m, sid)
    assert (sim.status_of(sid), sim.host_of(sid)) == ("ACTIVE", "a")


def test_service_goes_down_at_a_simulated_time(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen(faults=FaultPlan(service_down=[ServiceDown(host="a", at=30)]))
    conn = sim.connect()
    sid = sim.server_id("web-2")
    _live(conn, sid)
    sim.advance(29)
    assert next(s for s in conn.compute.services() if s.host == "a").state == "up"
    sim.advance(2)
    assert next(s for s in conn.compute.services() if s.host == "a").state == "down"
    assert sim.migrations(sid)[0].status == "failed"
    assert conn.compute.get_server(sid).power_state == 4


def test_no_valid_host_for_one_flavor(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen(faults={"no_valid_host_flavors": ["m1.medium"]})
    conn = sim.connect()
    blocked, fine = sim.server_id("web-2"), sim.server_id("web-1")
    _live(conn, blocked, None)
    _live(conn, fine, None)
    sim.advance(1000)
    assert sim.migrations(blocked)[0].status == "error" and sim.host_of(blocked) == "a"
    assert sim.host_of(fine) in ("b", "c")


def test_error_rate_answers_503(make_sim: Callable[..., SimHandle]) -> None:
    sim = make_sim(hosts=2, instances=4)
    conn = sim.connect()
    sim.set_faults(error_rate=1.0)
    with pytest.raises(openstack.exceptions.HttpException) as err:
        list(conn.compute.flavors())
    assert err.value.status_code == 503
    sim.set_faults(error_rate=0.5, seed=7)
    codes = [conn.compute.get("/flavors").status_code for _ in range(40)]
    assert 5 < codes.count(503) < 35 and codes.count(200) + codes.count(503) == 40
    assert sim.stats()["injected_errors"] == 1 + codes.count(503)


def test_an_error_burst_ends_after_its_window(make_sim: Callable[..., SimHandle]) -> None:
    sim = make_sim(hosts=2, instances=4)
    conn = sim.connect()
    sim.set_faults(error_rate=1.0, error_for_s=0.5)
    assert conn.compute.get("/flavors").status_code == 503
    # Bounded poll: the burst is over once calls succeed again, and then they keep succeeding.
    sim.wait_for(lambda: conn.compute.get("/flavors").status_code == 200, timeout=10)
    assert all(conn.compute.get("/flavors").status_code == 200 for _ in range(20))


def test_a_reset_connection_never_reaches_nova(make_sim: Callable[..., SimHandle]) -> None:
    sim = make_sim(hosts=2, instances=4)
    sid = sorted(sim.state.instances)[0]
    sim.set_faults(reset_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        requests.post(
            f"{sim.url}/compute/v2.1/servers/{sid}/action", json={"lock": None}, timeout=5
        )
    assert not sim.instance(sid).locked
    assert sim.stats()["injected_resets"] == 1
    sim.set_faults()
    assert sim.connect().compute.get("/flavors").status_code == 200


def test_a_lost_reply_means_nova_acted_but_the_client_never_heard(
    make_sim: Callable[..., SimHandle],
) -> None:
    sim = make_sim(hosts=2, instances=4)
    conn = sim.connect()
    sid = sorted(sim.state.instances)[0]
    conn.compute.get("/flavors")  # authenticated before the fault
    sim.set_faults(lost_reply_rate=1.0)
    with pytest.raises(ks_exc.ConnectFailure):
        conn.compute.lock_server(sid)
    assert sim.instance(sid).locked


def test_latency_slows_every_response(make_sim: Callable[..., SimHandle]) -> None:
    sim = make_sim(hosts=2, instances=4, faults={"latency_ms": 150})
    conn = sim.connect()
    start = time.monotonic()
    list(conn.compute.flavors())
    assert time.monotonic() - start >= 0.15


def test_control_api_sets_faults_and_reports_stats(make_sim: Callable[..., SimHandle]) -> None:
    sim = make_sim(hosts=2, instances=4)
    conn = sim.connect()
    requests.post(f"{sim.url}/sim/stats/reset", timeout=5)
    list(conn.compute.servers(all_projects=True))
    list(conn.compute.servers(all_projects=True))
    stats = requests.get(f"{sim.url}/sim/stats", timeout=5).json()
    assert stats["requests"]["GET /compute/v2.1/servers/detail"] == 2
    plan = requests.post(f"{sim.url}/sim/faults", json={"fail_hosts": ["sim-compute-1"]}, timeout=5)
    assert plan.json()["fail_hosts"] == ["sim-compute-1"]
    assert sim.state.faults.plan.fail_hosts == ["sim-compute-1"]
    bad = requests.post(f"{sim.url}/sim/faults", json={"error_rate": 2}, timeout=5)
    assert bad.status_code == 422
    assert requests.post(f"{sim.url}/sim/hosts/sim-compute-1/down", timeout=5).ok
    assert not sim.state.hosts["sim-compute-1"].is_up
    assert requests.post(f"{sim.url}/sim/hosts/sim-compute-1/up", timeout=5).ok
    assert sim.state.hosts["sim-compute-1"].is_up
    missing = requests.post(f"{sim.url}/sim/hosts/nope/down", timeout=5)
    assert missing.status_code == 404 and "nope" in error(missing)[2]


def test_fault_flags_parse_into_a_plan() -> None:
    plan = parse_fault_flags(
        [
            "fail_nth=3,5",
            "fail_host=h1",
            "hang_nth=2",
            "down=h2@600",
            "error_rate=0.05",
            "latency_ms=20",
            "no_valid_host_flavor=m1.large",
        ]
    )
    assert plan.fail_nth_migrations == [3, 5] and plan.fail_hosts == ["h1"]
    assert plan.service_down == [ServiceDown(host="h2", at=600)]
    assert (plan.error_rate, plan.latency_ms) == (0.05, 20)
    assert plan.no_valid_host_flavors == ["m1.large"] and plan.hang_nth_migrations == [2]
    with pytest.raises(ValueError, match="unknown fault"):
        parse_fault_flags(["explode=1"])


def test_expire_tokens_in_the_plan_forces_reauthentication(
    make_sim: Callable[..., SimHandle],
) -> None:
    sim = make_sim(hosts=2, instances=4)
    conn = sim.connect()
    list(conn.compute.flavors())
    sim.set_faults(expire_tokens=True)
    assert not sim.state.tokens
    assert list(conn.compute.flavors())
    assert sim.stats()["requests"]["POST /identity/v3/auth/tokens"] == 2


def test_failed_moves_are_explained_in_instance_actions(frozen: Callable[..., SimHandle]) -> None:
    sim = frozen(faults={"no_valid_host_flavors": ["m1.small"], "fail_hosts": ["c"]})
    conn = sim.connect()
    blocked, doomed = sim.server_id("web-1"), sim.server_id("web-2")
    _live(conn, blocked, None)
    _live(conn, doomed, "c")
    sim.advance(1000)
    (nvh,) = conn.compute.server_actions(blocked)
    assert (nvh.action, nvh.message) == ("live-migration", "Error")
    detail = call(conn, "GET", f"/servers/{blocked}/os-instance-actions/{nvh.request_id}")
    (event,) = detail.json()["instanceAction"]["events"]
    assert event["result"] == "Error" and "No valid host was found" in event["details"]
    (failed,) = conn.compute.server_actions(doomed)
    assert failed.message == "Error"
    conn.compute.stop_server(doomed)
    assert next(a.action for a in conn.compute.server_actions(doomed)) == "stop"
