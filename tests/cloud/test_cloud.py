"""The cloud adapter against the simulated cloud: snapshot, actions, retries, errors, observer."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from novaflow.cloud import (
    CA_BUNDLE_ENVIRONMENT,
    REQUESTS_ENVIRONMENT,
    Cloud,
    _skip_empty_environment,
)
from novaflow.errors import BadRequest, CloudError, UnsupportedByCloud
from novaflow.observer import Observer
from novaflow.sim.api.paging import MAX_LIMIT
from novaflow.sim.faults import FaultPlan
from novaflow.sim.spec import AggregateSpec, ClusterSpec

from .conftest import find


def small_spec() -> ClusterSpec:
    spec = (
        ClusterSpec()
        .host("c1", zone="az1")
        .host("c2", zone="az1")
        .host("c3", zone="az2", disabled=True, disabled_reason="old disk")
        .group("web", "anti-affinity")
        .instance("web-1", host="c1", flavor="m1.medium", groups=["web"])
        .instance("web-2", host="c2", flavor="m1.medium", groups=["web"])
        .instance("db-1", host="c1", flavor="m1.large", status="SHUTOFF")
        .instance("vol-1", host="c2", flavor="m1.small", boot_from_volume=True, volumes=1)
    )
    spec.aggregates = [
        AggregateSpec(
            name="az1",
            hosts=["c1", "c2"],
            availability_zone="az1",
            metadata={
                "cpu_allocation_ratio": "2.0",
                "novaflow:max_concurrent_live_migrations": "3",
            },
        ),
        AggregateSpec(name="az2", hosts=["c3"], availability_zone="az2"),
    ]
    return spec


def test_snapshot_reads_hosts_instances_groups_and_zones(connect) -> None:
    _, cloud = connect(small_spec())
    snap = cloud.snapshot()
    hosts = {h.name: h for h in snap.hosts}
    assert sorted(hosts) == ["c1", "c2", "c3"]
    assert hosts["c3"].status == "disabled" and hosts["c3"].disabled_reason == "old disk"
    assert hosts["c3"].zone == "az2" and hosts["c1"].zone == "az1"
    # Ratios are Placement's (the sim's nova.conf default 4.0); the aggregate's 2.0 is only noted.
    assert hosts["c1"].ratios.cpu == 4.0 and hosts["c1"].aggregate_ratios == {"cpu": 2.0}
    assert hosts["c1"].reserved.ram_mb == 512 and hosts["c3"].placement_disabled
    assert hosts["c1"].max_concurrent_live_migrations == 3
    assert hosts["c3"].max_concurrent_live_migrations == 1
    inst = {i.name: i for i in snap.instances}
    assert inst["web-1"].host == "c1" and inst["db-1"].status == "SHUTOFF"
    assert inst["vol-1"].boot_from_volume and len(inst["vol-1"].volumes) >= 1
    assert inst["web-1"].flavor.vcpus == 2 and inst["web-1"].addresses
    # usage is the sum of the flavors on the host (the planner's own arithmetic)
    assert hosts["c1"].used.vcpus == 2 + 4
    group = next(g for g in snap.server_groups if g.name == "web")
    assert group.policy == "anti-affinity"
    assert set(group.members) == {inst["web-1"].id, inst["web-2"].id}
    assert inst["web-1"].server_groups == [group.id]


def test_snapshot_costs_the_same_number_of_calls_for_a_bigger_cloud(connect) -> None:
    _, small = connect(ClusterSpec.generated(hosts=4, instances=20, seed=3))
    _, big = connect(ClusterSpec.generated(hosts=24, instances=300, seed=3))
    costs = []
    for cloud in (small, big):
        before = cloud.counters.api_calls
        snap = cloud.snapshot()
        costs.append(cloud.counters.api_calls - before)
        assert snap.instances
    assert costs[0] == costs[1] == 5


SERVERS_DETAIL = "GET /compute/v2.1/servers/detail"
PROVIDERS = "GET /placement/resource_providers"
INVENTORIES = "GET /placement/resource_providers/{rp_uuid}/inventories"


def test_snapshot_of_5000_instances_costs_the_calls_of_a_small_one_plus_pages(connect) -> None:
    small_sim, small = connect(ClusterSpec.generated(hosts=8, instances=120, seed=1))
    sim, big = connect(ClusterSpec.generated(hosts=200, instances=5000, seed=1))
    costs, routes = [], []
    for handle, cloud in ((small_sim, small), (sim, big)):
        handle.reset_stats()
        before = cloud.counters.api_calls
        snap = cloud.snapshot()
        costs.append(cloud.counters.api_calls - before)
        routes.append(handle.stats()["requests"])
    with sim.state.lock:
        truth = {i.id: i.host for i in sim.state.instances.values()}
    assert len(snap.instances) == 5000 and len(snap.hosts) == 200
    assert {i.id: i.host for i in snap.instances} == truth
    # Nova links a next page after every full one, so the last page read is an empty one.
    extra_pages = 5000 // MAX_LIMIT
    assert costs == [5, 5 + extra_pages]
    assert routes[1][SERVERS_DETAIL] == 1 + extra_pages
    # Placement has no bulk inventory read: one per compute node, none per instance.
    assert routes[0][INVENTORIES] == 8 and routes[1][INVENTORIES] == 200
    per_host = (SERVERS_DETAIL, INVENTORIES)
    assert {r: n for r, n in routes[1].items() if r not in per_host} == {
        r: n for r, n in routes[0].items() if r not in per_host
    }
    # Each list once; the provider list twice (all, then the COMPUTE_STATUS_DISABLED ones).
    assert {r: n for r, n in routes[0].items() if n > 1 and r not in per_host} == {PROVIDERS: 2}


def _as_the_sdk_reads_it(server) -> dict:
    """What openstacksdk's `Server` resource makes of a server: the reference for our JSON."""
    f = server.flavor
    return {
        "id": server.id,
        "name": server.name,
        "project_id": server.project_id,
        "host": server.compute_host,
        "status": server.status,
        "task_state": server.task_state,
        "vm_state": server.vm_state,
        "zone": server.availability_zone or None,
        "flavor": (f.original_name, f.vcpus, f.ram, f.disk, f.ephemeral, f.swap),
        "extra_specs": {k: str(v) for k, v in (f.extra_specs or {}).items()},
        "image_id": (server.image or {}).get("id") or None,
        "volumes": [v.id for v in server.attached_volumes or []],
        "metadata": server.metadata or {},
        "addresses": {n: [a["addr"] for a in e] for n, e in (server.addresses or {}).items()},
        "locked": bool(server.is_locked),
        "locked_reason": server.locked_reason,
        "power_state": server.power_state,
        "fault": (server.fault or {}).get("message"),
        "updated": server.updated_at,
    }


def _as_we_read_it(state) -> dict:
    i = state.instance
    f = i.flavor
    return {
        "id": i.id,
        "name": i.name,
        "project_id": i.project_id,
        "host": i.host,
        "status": i.status,
        "task_state": i.task_state,
        "vm_state": i.vm_state,
        "zone": i.zone,
        "flavor": (f.name, f.vcpus, f.ram_mb, f.disk_gb, f.ephemeral_gb, f.swap_mb),
        "extra_specs": f.extra_specs,
        "image_id": i.image_id,
        "volumes": i.volumes,
        "metadata": i.metadata,
        "addresses": i.addresses,
        "locked": i.locked,
        "locked_reason": state.locked_reason,
        "power_state": state.power_state,
        "fault": state.fault,
        "updated": state.updated,
    }


def test_servers_are_read_as_the_sdk_reads_them(connect) -> None:
    """Snapshot, listings and single reads parse Nova's JSON themselves (speed); they must agree
    with openstacksdk's `Server` on every field, for every kind of instance."""
    sim, cloud = connect(ClusterSpec.generated(hosts=6, instances=80, seed=2))
    with sim.state.lock:
        some = next(iter(sim.state.instances.values()))
        some.locked, some.locked_reason = True, "owner's freeze"
        broken = list(sim.state.instances.values())[1]
        broken.vm_state = "error"
        broken.fault = {"code": 500, "created": broken.updated, "message": "disk on fire"}
    snap = cloud.snapshot()
    assert cloud.label(some.id) == f"{some.name} ({some.id[:8]})"  # names learnt for messages
    conn = sim.connect()
    by_sdk = {s.id: _as_the_sdk_reads_it(s) for s in conn.compute.servers(all_projects=True)}
    listed = {s.id: _as_we_read_it(s) for s in cloud.list_servers()}
    assert len(by_sdk) == len(listed) == len(snap.instances) == 80
    assert listed == by_sdk
    for inst in snap.instances:
        assert inst.model_copy(update={"server_groups": []}) == cloud.server(inst.id)
        assert _as_we_read_it(cloud.server_state(inst.id)) == by_sdk[inst.id]
    assert listed[broken.id]["fault"] == "disk on fire"
    assert listed[some.id]["locked_reason"] == "owner's freeze"
    assert any(i.server_groups for i in snap.instances)
    assert any(i.boot_from_volume and i.volumes for i in snap.instances)
    assert any(i.flavor.extra_specs for i in snap.instances)
    assert any(i.status == "SHUTOFF" for i in snap.instances)
    assert next(i for i in snap.instances if i.id == some.id).locked
    assert cloud.server_state("00000000-0000-0000-0000-000000000000") is None


def test_unknown_cloud_name_lists_the_known_ones(connect) -> None:
    sim, _ = connect(small_spec())
    with pytest.raises(BadRequest) as err:
        Cloud.connect("no-such-cloud", config_file=str(sim.clouds_yaml))
    assert "no-such-cloud" in str(err.value) and sim.cloud_name in str(err.value)


def test_wrong_password_says_auth_failed_without_the_password(connect, tmp_path) -> None:
    sim, _ = connect(small_spec())
    text = sim.clouds_yaml.read_text()
    password = sim.state.password
    bad = tmp_path / "clouds.yaml"
    bad.write_text(text.replace(password, "wrong-horse-battery"))
    with pytest.raises(CloudError) as err:
        Cloud.connect(sim.cloud_name, config_file=str(bad))
    message = str(err.value)
    assert "authentication failed" in message and sim.cloud_name in message
    assert "wrong-horse-battery" not in message and "clouds.yaml" in message


def test_service_actions_change_the_service(connect) -> None:
    sim, cloud = connect(small_spec())
    cloud.disable_service("c1", "kernel upgrade")
    host = sim.state.hosts["c1"]
    assert host.status == "disabled" and host.disabled_reason == "kernel upgrade"
    cloud.enable_service("c1")
    assert sim.state.hosts["c1"].status == "enabled"
    cloud.force_down("c2")
    assert sim.state.hosts["c2"].forced_down
    snap = cloud.snapshot()
    assert not snap.host("c2").is_up


def test_disabling_an_already_disabled_host_replaces_its_reason(connect) -> None:
    """c3 is disabled by someone else ("old disk"): disabling it again with our reason works
    (Nova refuses a reason sent without status; the sdk alone sent only the reason)."""
    sim, cloud = connect(small_spec())
    cloud.disable_service("c3", "novaflow: kernel upgrade")
    host = sim.state.hosts["c3"]
    assert (host.status, host.disabled_reason) == ("disabled", "novaflow: kernel upgrade")
    cloud.disable_service("c3", "novaflow: second pass")
    assert sim.state.hosts["c3"].disabled_reason == "novaflow: second pass"
    assert cloud.snapshot().host("c3").disabled_reason == "novaflow: second pass"
    cloud.enable_service("c1")  # already enabled: nothing to send, nothing refused
    assert sim.state.hosts["c1"].status == "enabled"


def test_lock_with_reason_and_unlock(connect) -> None:
    sim, cloud = connect(small_spec())
    web = find(cloud, "web-1")
    cloud.lock(web.id, "novaflow: test")
    state = cloud.server_state(web.id)
    assert state and state.instance.locked and state.locked_by_novaflow
    cloud.unlock(web.id)
    assert not sim.instance(web.id).locked


def test_transient_503s_are_retried(connect) -> None:
    sim, cloud = connect(small_spec())
    sim.set_faults(FaultPlan(error_rate=0.4, seed=7))
    snap = cloud.snapshot()
    assert len(snap.instances) == 4
    assert cloud.counters.retries > 0


def test_permanent_error_surfaces_at_once_naming_instance_and_host(connect) -> None:
    _, cloud = connect(small_spec())
    web = find(cloud, "web-1")
    retries = cloud.counters.retries
    with pytest.raises(CloudError) as err:
        cloud.cold_migrate(web.id, "no-such-host")
    message = str(err.value)
    assert "web-1" in message and "no-such-host" in message and "400" in message
    assert cloud.counters.retries == retries


def test_a_cloud_too_old_for_a_feature_is_told_which_version_it_needs(connect) -> None:
    sim, cloud = connect(small_spec())
    web = find(cloud, "web-1")
    cloud.max_version = (2, 53)  # as if Nova stopped there (Pike)
    with pytest.raises(UnsupportedByCloud) as err:
        cloud.cold_migrate(web.id, "c2")
    assert "2.56" in str(err.value) and "2.53" in str(err.value)
    assert sim.host_of(web.id) == "c1" and not sim.migrations()


def test_expired_token_is_renewed(connect) -> None:
    sim, cloud = connect(small_spec())
    cloud.snapshot()
    sim.set_faults(FaultPlan(expire_tokens=True))
    snap = cloud.snapshot()
    assert len(snap.hosts) == 3


def test_a_token_refused_twice_in_a_row_gets_one_fresh_token_more(connect) -> None:
    """keystoneauth renews a refused token once; a second refusal of the renewed one (tokens
    revoked again meanwhile, or renewed under another thread) gets one more fresh token."""
    sim, cloud = connect(small_spec())
    refusals = {"left": 2}

    def revoke_all_tokens(route: str) -> None:
        if route.startswith("GET /compute") and refusals["left"]:
            refusals["left"] -= 1
            sim.state.tokens.clear()

    sim.state.request_hooks.append(revoke_all_tokens)
    assert cloud.server("00000000-0000-4000-8000-000000000000") is None
    assert refusals["left"] == 0 and cloud.counters.reauthentications == 1


def test_a_token_refused_after_renewing_twice_is_an_authentication_failure(connect) -> None:
    sim, cloud = connect(small_spec())
    sim.state.request_hooks.append(lambda route: sim.state.tokens.clear())
    with pytest.raises(CloudError, match="authentication failed"):
        cloud.server("00000000-0000-4000-8000-000000000000")
    assert cloud.counters.reauthentications == 1  # not retried without end (account lockout)


def test_server_of_a_deleted_instance_is_none(connect) -> None:
    _, cloud = connect(small_spec())
    assert cloud.server("00000000-0000-4000-8000-000000000000") is None


def test_observer_resolves_many_waiters_with_flat_list_calls(connect) -> None:
    spec = ClusterSpec().host("a", max_concurrent_live_migrations=20).host("b")
    for n in range(12):
        spec.instance(f"vm-{n}", host="a", flavor="m1.tiny")
    sim, cloud = connect(spec)
    snap = cloud.snapshot()
    observer = cloud.observer()
    results: dict[str, str | None] = {}

    def watch(inst_id: str) -> None:
        state = cloud.server_state(inst_id)
        cloud.live_migrate(inst_id, "b")
        view = observer.wait(
            inst_id,
            lambda v: v.server.host == "b" and v.server.settled,
            timeout_s=30,
            initial=state,
        )
        results[inst_id] = None if view.timed_out else view.server.host

    threads = [threading.Thread(target=watch, args=(i.id,)) for i in snap.instances]
    cycles, calls = observer.stats.cycles, observer.stats.list_calls
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results.values()) == {"b"}
    n_cycles = observer.stats.cycles - cycles
    per_cycle = (observer.stats.list_calls - calls) / n_cycles
    assert per_cycle == 2  # one servers list + one migrations list, whatever N is
    assert all(sim.host_of(i.id) == "b" for i in snap.instances)


def test_observer_ends_a_wait_when_the_instance_is_deleted(connect) -> None:
    sim, cloud = connect(ClusterSpec().host("a").host("b").instance("vm", host="a"))
    vm = find(cloud, "vm")
    state = cloud.server_state(vm.id)
    observer = cloud.observer()
    sim.connect().compute.delete_server(vm.id)
    view = observer.wait(vm.id, lambda v: v.server.host == "b", timeout_s=60, initial=state)
    assert view.gone and not view.timed_out
    assert view.server.status == "DELETED"  # Nova's DELETED row in the changes-since listing


def test_observer_full_listing_without_a_watched_instance_means_it_was_deleted(connect) -> None:
    sim, cloud = connect(ClusterSpec().host("a").host("b").instance("vm", host="a"))
    vm = find(cloud, "vm")
    # Known, but with no timestamp to start changes-since from: the first cycle lists all,
    # and a full listing leaves deleted instances out rather than showing them DELETED.
    state = replace(cloud.server_state(vm.id), updated=None)
    observer = cloud.observer()
    sim.connect().compute.delete_server(vm.id)
    view = observer.wait(vm.id, lambda v: v.server.host == "b", timeout_s=60, initial=state)
    assert view.gone and not view.timed_out


def test_observer_sees_a_move_it_listed_and_forgot_before_the_wait_began(connect) -> None:
    """A move can finish, be listed by a cycle and leave the observer's memory (`retention`)
    before its mover starts waiting (a starved thread, a fast cloud); the wait must still see
    the instance on its target rather than time out on the state read before the move."""
    spec = ClusterSpec().host("a", max_concurrent_live_migrations=4).host("b")
    for name in ("fast", "other", "third"):
        spec.instance(name, host="a", flavor="m1.tiny")
    sim, cloud = connect(spec)
    fast, other, third = (find(cloud, n) for n in ("fast", "other", "third"))
    observer = Observer(cloud, min_interval=0.01, max_interval=0.05, retention=timedelta(0))
    before = cloud.server_state(fast.id)
    # Something else is being watched, so the observer keeps cycling meanwhile.
    busy = threading.Thread(
        target=observer.wait,
        args=(other.id, lambda v: v.server.host == "b" and v.server.settled),
        kwargs={"timeout_s": 60, "initial": cloud.server_state(other.id)},
    )
    busy.start()
    cloud.live_migrate(fast.id, "b")
    sim.wait_for(lambda: sim.host_of(fast.id) == "b" and sim.status_of(fast.id) == "ACTIVE")
    sim.advance(10)
    cloud.live_migrate(third.id, "b")  # a later change: the observer's marks move past `fast`
    sim.wait_for(lambda: sim.host_of(third.id) == "b" and sim.status_of(third.id) == "ACTIVE")
    cycles = observer.stats.cycles
    sim.wait_for(lambda: observer.stats.cycles >= cycles + 2, what="two more poll cycles")
    with observer._cond:
        assert fast.id not in observer._recent  # the scenario: listed, then forgotten
    view = observer.wait(
        fast.id, lambda v: v.server.host == "b" and v.server.settled, timeout_s=10, initial=before
    )
    assert not view.timed_out and view.server.host == "b"
    cloud.live_migrate(other.id, "b")
    busy.join()
    assert not observer._waiters


def test_observer_sees_a_move_that_ended_while_it_read_a_later_page(connect) -> None:
    """A listing of more than one page (Nova pages at max_limit) takes time on the cloud's
    clock. A move that finishes meanwhile on a server already read is in the next cycle's
    listing, even though a later page showed a change stamped after it. (Found in the
    campaign benchmark: a move waited until its timeout with its migration long completed.)"""
    spec = ClusterSpec().host("a", vcpus=400, memory_mb=800_000).host("b", vcpus=400)
    spec.hosts[1].memory_mb = 800_000
    for n in range(MAX_LIMIT + 50):
        spec.instance(f"vm-{n:04d}", host="a", flavor="m1.tiny")
    sim, cloud = connect(spec, time_scale=0)  # the clock moves only when the test says
    admin = sim.connect()
    real_get = cloud.conn.compute.get
    chosen: dict[str, str] = {}

    def get(path: str, **kwargs: object):
        response = real_get(path, **kwargs)
        params = kwargs.get("params") or {}
        if path == "/servers/detail" and "marker" not in params and not chosen:
            listed = {s["id"] for s in response.json()["servers"]}
            chosen["read"] = response.json()["servers"][0]["id"]
            chosen["later"] = next(i for i in sim.instances_on("a") if i not in listed)
            # While the next page is on its way: the server already read moves and, ten
            # seconds later, one on the next page moves too.
            admin.compute.live_migrate_server(chosen["read"], host="b", block_migration="auto")
            sim.advance(600)
            sim.advance(10)
            admin.compute.live_migrate_server(chosen["later"], host="b", block_migration="auto")
            sim.advance(600)
        return response

    first_listed = admin.compute.get("/servers/detail?all_tenants=True").json()["servers"][0]
    cloud.conn.compute.get = get
    observer = Observer(cloud, min_interval=0.01, max_interval=0.05)
    # No timestamp to list changes from: the first cycle lists every server, in two pages,
    # and the server watched is the first one read.
    unknown = replace(cloud.server_state(first_listed["id"]), updated=None)
    view = observer.wait(
        first_listed["id"], lambda v: v.server.host == "b", timeout_s=5, initial=unknown
    )
    assert chosen["read"] == first_listed["id"]
    assert sim.host_of(chosen["read"]) == "b" and sim.host_of(chosen["later"]) == "b"
    assert not view.timed_out and view.server.host == "b"


def test_a_version_document_lost_to_a_reset_is_read_again(make_sim) -> None:
    # Found by the fault matrix: one reset connection on Nova's version document made a
    # 2.96 cloud read as "compute API up to 2.1", and every run was refused as too old.
    from tests.cloud.conftest import FAST_RETRY

    sim = make_sim(hosts=2, instances=2)
    conn = sim.connect()
    conn.session.get_token()
    sim.set_faults(reset_rate=1.0)
    healed = threading.Thread(
        target=lambda: (
            sim.wait_for(lambda: sim.state.injected_resets >= 1, timeout=20),
            sim.set_faults(),
        )
    )
    healed.start()
    cloud = Cloud(conn, name="sim", retry=FAST_RETRY)
    healed.join()
    assert sim.state.injected_resets >= 1
    assert cloud.max_version == sim.state.compute_max  # the sim's maximum, not 2.1


def test_a_move_whose_reply_was_lost_is_not_sent_again(connect) -> None:
    # Found by the fault matrix: Nova took the live migration but the reply was lost; the
    # blind retry met "task_state migrating" (409, retried) until the move ended, then moved
    # the instance a second time. The retry now first looks at the instance.
    spec = ClusterSpec().host("a").host("b").host("c").instance("vm", host="a", flavor="m1.tiny")
    sim, cloud = connect(spec, time_scale=0.01)
    vm = find(cloud, "vm")
    sim.set_faults(lost_reply_rate=1.0)
    healed = threading.Thread(
        target=lambda: (
            sim.wait_for(lambda: sim.state.injected_resets >= 1, timeout=20),
            sim.set_faults(),
        )
    )
    healed.start()
    cloud.live_migrate(vm.id, None, from_host="a")
    healed.join()
    sim.wait_for(lambda: sim.status_of(vm.id) == "ACTIVE" and sim.host_of(vm.id) != "a")
    sim.advance(600)  # a second migration, had one been sent, would be over by now
    assert len(sim.migrations(vm.id)) == 1
    assert sim.host_of(vm.id) in ("b", "c")


def _no_requests_environment(monkeypatch, home) -> None:
    for name in (*REQUESTS_ENVIRONMENT, *CA_BUNDLE_ENVIRONMENT):
        monkeypatch.delenv(name.lower(), raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HOME", str(home))


def test_with_no_proxy_ca_or_netrc_set_requests_skips_its_environment_lookups(
    connect, monkeypatch, tmp_path
) -> None:
    _no_requests_environment(monkeypatch, tmp_path)
    _sim, cloud = connect(ClusterSpec().host("a").instance("web-1", host="a"))
    assert cloud.conn.session.session.trust_env is False
    assert cloud.server_state(find(cloud, "web-1").id).host == "a"


def test_a_ca_bundle_in_the_environment_is_applied_once_as_requests_would(
    connect, monkeypatch, tmp_path
) -> None:
    """REQUESTS_CA_BUNDLE replaces a plain `verify: true`, never a CA file or `verify: false`
    from clouds.yaml; requests then need not walk the environment on every request."""
    _no_requests_environment(monkeypatch, tmp_path)
    bundle = tmp_path / "ca.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    _sim, cloud = connect(ClusterSpec().host("a").instance("web-1", host="a"))
    assert cloud.conn.session.session.trust_env is False
    assert cloud.conn.session.verify == str(bundle)
    assert cloud.server_state(find(cloud, "web-1").id).host == "a"  # plain http: no TLS
    for configured in (False, "/etc/cloud-ca.pem"):
        cloud.conn.session.verify = configured
        _skip_empty_environment(cloud.conn)
        assert cloud.conn.session.verify == configured


def test_a_proxy_setting_in_the_environment_is_still_honoured(
    connect, monkeypatch, tmp_path
) -> None:
    _no_requests_environment(monkeypatch, tmp_path)
    # A proxy that answers nothing, and 127.0.0.1 exempt from it: reaching the sim at all
    # shows requests read NO_PROXY from the environment.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    _sim, cloud = connect(ClusterSpec().host("a").instance("web-1", host="a"))
    assert cloud.conn.session.session.trust_env is True
    assert cloud.server_state(find(cloud, "web-1").id).host == "a"
