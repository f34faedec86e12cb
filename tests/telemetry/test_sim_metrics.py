"""The sim's /metrics: what a libvirt exporter and node_exporter on each host would publish."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from novaflow.sim.metrics import meter_for
from novaflow.sim.spec import ClusterSpec


def scrape(url: str) -> dict[str, list]:
    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {f.name: f.samples for f in text_string_to_metric_families(response.text)}


def test_metrics_parse_as_prometheus_text_and_the_counters_grow(sim):
    first = scrape(sim.url)
    second = scrape(sim.url)
    with sim.state.lock:
        servers = {i.id: i for i in sim.state.instances.values()}
        hosts = sorted(sim.state.hosts)
        threads = {h.name: h.vcpus for h in sim.state.hosts.values()}
    # One series per domain, named as libvirt names it and labelled with the server's uuid
    # and the compute host whose exporter publishes it.
    domains = second["libvirt_domain_info_cpu_time_seconds"]
    assert {s.labels["uuid"] for s in domains} == set(servers)
    for s in domains:
        assert s.labels["domain"] == servers[s.labels["uuid"]].instance_name
        assert s.labels["instance"] == servers[s.labels["uuid"]].host
    # node_exporter: every CPU thread of every host, by mode.
    nodes = second["node_cpu_seconds"]
    for host in hosts:
        cpus = {s.labels["cpu"] for s in nodes if s.labels["instance"] == host}
        assert len(cpus) == threads[host]
    assert {s.labels["mode"] for s in nodes} >= {"idle", "user", "system"}
    # Counters only grow.
    for name in ("libvirt_domain_info_cpu_time_seconds", "node_cpu_seconds"):
        before = {tuple(sorted(s.labels.items())): s.value for s in first[name]}
        after = {tuple(sorted(s.labels.items())): s.value for s in second[name]}
        assert all(after[k] >= v for k, v in before.items())
        assert sum(after.values()) > sum(before.values())


def test_metrics_need_no_token(sim):
    assert httpx.get(f"{sim.url}/metrics").status_code == 200
    assert httpx.get(f"{sim.url}/compute/v2.1/servers").status_code == 401


def test_some_hosts_run_hot(make_sim):
    sim = make_sim(hosts=8, instances=48, seed=3)
    model = meter_for(sim.cloud).model
    with sim.state.lock:
        now = sim.state.now
        share = {}
        for inst in sim.state.instances.values():
            share.setdefault(inst.host, []).append(model.busy_share(inst.id, now))
    mean = {h: sum(v) / len(v) for h, v in share.items()}
    hot = [h for h in mean if h in model.hot_hosts]
    cool = [h for h in mean if h not in model.hot_hosts]
    assert hot and cool
    assert min(mean[h] for h in hot) > max(mean[h] for h in cool)


def test_the_load_follows_the_sim_clock_and_the_seed(make_sim):
    a = meter_for(make_sim(seed=5).cloud).model
    b = meter_for(make_sim(seed=5).cloud).model
    assert a.hot_hosts == b.hot_hosts
    day = [a.busy_share("some-id", t * 3600.0) for t in range(24)]
    assert max(day) - min(day) > 0.05  # a day-long wave, not a constant
    assert day == [b.busy_share("some-id", t * 3600.0) for t in range(24)]


def test_a_migrated_instance_takes_its_load_to_its_new_host(make_sim):
    source, target = "cmp-a", "cmp-b"
    sim = make_sim(ClusterSpec().host(source).host(target).instance("web-0", host=source))
    sid = sim.server_id("web-0")
    model = meter_for(sim.cloud).model
    scrape(sim.url)
    share_before = model.busy_share(sid, sim.state.now)
    sim.connect().compute.live_migrate_server(sid, host=target, block_migration="auto")
    sim.wait_for(lambda: sim.host_of(sid) == target and sim.status_of(sid) == "ACTIVE")

    def domain() -> list:
        samples = scrape(sim.url)["libvirt_domain_info_cpu_time_seconds"]
        return [s for s in samples if s.labels["uuid"] == sid]

    # The exporter on the new host lists the domain (its counter starts again there); the
    # old host's exporter no longer does.
    first = domain()
    assert [s.labels["instance"] for s in first] == [target]
    assert domain()[0].value > first[0].value
    # The load belongs to the workload: as busy as before, wherever it runs.
    assert model.busy_share(sid, sim.state.now) == pytest.approx(share_before, abs=0.1)
