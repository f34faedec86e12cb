"""Every compute route the sim serves answers within Tempest's Nova response schemas.

Tempest's own service clients (tempest.lib) make each call, pick the schema for the
microversion asked and validate the answer as they do against a real Nova (status code,
body, headers, and the microversion echoed back). Each route is called at every microversion
range those schemas tell apart, up to the sim's maximum. The routes are read from the app, so a
new route without a check here fails `test_every_route_is_checked_or_excused`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tempest.lib import auth
from tempest.lib.api_schema.response.compute.v2_1 import servers as servers_v21
from tempest.lib.api_schema.response.compute.v2_1 import versions as versions_schema
from tempest.lib.services.compute import (
    aggregates_client,
    availability_zone_client,
    base_compute_client,
    flavors_client,
    hypervisor_client,
    migrations_client,
    server_groups_client,
    servers_client,
    services_client,
    versions_client,
)

from novaflow.sim import microversion
from novaflow.sim.app import create_app
from novaflow.sim.spec import ClusterSpec
from novaflow.sim.testing import SimHandle, running_sim

MAX = microversion.fmt(microversion.COMPUTE_MAX)
COMPUTE = "/compute/v2.1"

# Routes Tempest has no Nova response schema for, each with the reason.
NOT_IN_TEMPEST = {
    "GET /compute/v2.1/servers/{server_id}/migrations/{migration_id}": (
        "tempest.lib has no client call or schema for showing one server migration"
    ),
    "DELETE /compute/v2.1/servers/{server_id}/migrations/{migration_id}": (
        "tempest.lib has no client call or schema for aborting a live migration"
    ),
}
# Whole APIs that are not Nova's.
NOT_NOVA = {
    "/identity": "Keystone (tempest.lib's identity clients validate no Nova schema)",
    "/v3/auth": "Keystone",
    "/placement": "Placement: tempest.lib has no Placement response schemas",
    "/image": "Glance: not part of Nova's API",
    "/sim": "the sim's own control API, not OpenStack's",
    "/metrics": "the exporters' Prometheus text (libvirt exporter, node_exporter), not OpenStack's",
}


def served_routes() -> set[str]:
    """'METHOD /path' of every route the sim's app serves (from its OpenAPI document)."""
    from novaflow.sim.state import SimCloud

    app = create_app(SimCloud(ClusterSpec().host("a")))
    paths = app.openapi()["paths"]
    return {f"{method.upper()} {path}" for path, ops in paths.items() for method in ops}


def ranges(client: type, until: str | None = None, since: str | None = None) -> list[str | None]:
    """The first microversion of each schema range of a tempest client (None: no header),
    and the sim's maximum, restricted to [since, until]."""
    info = getattr(client, "schema_versions_info", [])
    found: list[str | None] = [None, *(i["min"] for i in info if i["min"]), MAX]
    lo = parse(since) if since else (2, 1)
    hi = parse(until) if until else microversion.COMPUTE_MAX
    out: list[str | None] = []
    for v in found:
        if v in out:
            continue
        if v is None:
            if since is None:
                out.append(v)
        elif lo <= parse(v) <= hi:
            out.append(v)
    if since and since not in out:
        out.insert(0, since)
    return out


def parse(v: str) -> tuple[int, int]:
    major, minor = v.split(".")
    return int(major), int(minor)


def at_least(v: str | None, floor: str) -> bool:
    return parse(v or "2.1") >= parse(floor)


@dataclass
class Clients:
    sim: SimHandle
    servers: servers_client.ServersClient
    flavors: flavors_client.FlavorsClient
    hypervisors: hypervisor_client.HypervisorClient
    migrations: migrations_client.MigrationsClient
    services: services_client.ServicesClient
    groups: server_groups_client.ServerGroupsClient
    aggregates: aggregates_client.AggregatesClient
    zones: availability_zone_client.AvailabilityZoneClient
    versions: versions_client.VersionsClient
    pools: dict[str, Iterator[str]]

    def take(self, pool: str) -> str:
        """A server id not used by an earlier check (moves change what a server can do)."""
        return self.sim.server_id(next(self.pools[pool]))

    def image(self) -> str:
        with self.sim.state.lock:
            return next(iter(self.sim.state.images))


def spec() -> ClusterSpec:
    spec = (
        ClusterSpec()
        .host("src", max_concurrent_live_migrations=100)
        .host("dst")
        .host("idle")
        .host("dead")
        .host("far", zone="az2")
        .group("pair", "anti-affinity")
        .instance("grouped", host="far", groups=["pair"], project="admin")
        .instance("tpm", host="far", flavor="s1.vtpm")
    )
    for kind, host, count in (("live", "src", 60), ("cold", "src", 12), ("evac", "dead", 8)):
        for n in range(count):
            spec.instance(f"{kind}-{n}", host=host, flavor="m1.tiny")
    spec.instance("misc", host="dst", flavor="m1.tiny", project="admin")
    return spec


@pytest.fixture(scope="module")
def clients() -> Iterator[Clients]:
    with running_sim(spec(), time_scale=0) as sim:
        sim.kill_host("dead")
        # Some history for the lists of migrations and instance actions to show.
        sim.connect().compute.live_migrate_server(sim.server_id("live-0"), block_migration="auto")
        sim.advance(300)
        assert sim.host_of(sim.server_id("live-0")) != "src"
        url = f"{sim.url}/identity/v3"
        creds = auth.get_credentials(
            url,
            identity_version="v3",
            username="admin",
            password="secret",
            project_name="admin",
            user_domain_name="Default",
            project_domain_name="Default",
        )
        provider = auth.KeystoneV3AuthProvider(creds, url)

        def make(cls: type) -> Any:
            return cls(provider, "compute", "RegionOne")

        pools = {k: map(f"{k}-{{}}".format, itertools.count(1)) for k in ("live", "cold", "evac")}
        yield Clients(
            sim=sim,
            servers=make(servers_client.ServersClient),
            flavors=make(flavors_client.FlavorsClient),
            hypervisors=make(hypervisor_client.HypervisorClient),
            migrations=make(migrations_client.MigrationsClient),
            services=make(services_client.ServicesClient),
            groups=make(server_groups_client.ServerGroupsClient),
            aggregates=make(aggregates_client.AggregatesClient),
            zones=make(availability_zone_client.AvailabilityZoneClient),
            versions=make(versions_client.VersionsClient),
            pools=pools,
        )
        base_compute_client.COMPUTE_MICROVERSION = None


# -- the checks: each calls one route through tempest's client at microversion `v` -----------

Check = Callable[[Clients, "str | None"], None]
CHECKS: dict[str, tuple[list[str | None], Check]] = {}
SERVERS = servers_client.ServersClient


def check(route: str, versions: list[str | None]) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[route] = (versions, fn)
        return fn

    return register


def _versions_doc(c: Clients, path: str, schema: dict[str, Any]) -> None:
    resp, body = c.versions.raw_request(f"{c.sim.url}{path}", "GET")
    c.versions.validate_response(schema, resp, json.loads(body))


for _path in ("/compute", "/compute/"):
    check(f"GET {_path}", [None])(
        lambda c, v, p=_path: _versions_doc(c, p, versions_schema.list_versions)
    )
for _path in ("/compute/v2.1", "/compute/v2.1/"):
    check(f"GET {_path}", [None])(
        lambda c, v, p=_path: _versions_doc(c, p, versions_schema.get_one_version)
    )


@check(f"GET {COMPUTE}/servers", ranges(SERVERS))
def _list_servers(c: Clients, v: str | None) -> None:
    assert c.servers.list_servers(all_tenants=True)["servers"]


@check(f"GET {COMPUTE}/servers/detail", ranges(SERVERS))
def _list_servers_detail(c: Clients, v: str | None) -> None:
    assert c.servers.list_servers(detail=True, all_tenants=True)["servers"]


@check(f"GET {COMPUTE}/servers/{{server_id}}", ranges(SERVERS))
def _show_server(c: Clients, v: str | None) -> None:
    for name in ("grouped", "misc", "evac-7"):
        c.servers.show_server(c.sim.server_id(name))


@check(f"PUT {COMPUTE}/servers/{{server_id}}", ranges(SERVERS))
def _update_server(c: Clients, v: str | None) -> None:
    c.servers.update_server(c.sim.server_id("grouped"), name="grouped")


@check(f"POST {COMPUTE}/servers", [None, MAX])
def _create_server(c: Clients, v: str | None) -> None:
    c.servers.create_server(name=f"new-{v}", imageRef=c.image(), flavorRef="1")


@check(f"DELETE {COMPUTE}/servers/{{server_id}}", [None, MAX])
def _delete_server(c: Clients, v: str | None) -> None:
    sid = c.servers.create_server(name="doomed", imageRef=c.image(), flavorRef="1")["server"]
    c.servers.delete_server(sid["id"])


@check(f"GET {COMPUTE}/servers/{{server_id}}/metadata", [None, MAX])
def _list_metadata(c: Clients, v: str | None) -> None:
    c.servers.list_server_metadata(c.sim.server_id("misc"))


@check(f"PUT {COMPUTE}/servers/{{server_id}}/metadata", [None, MAX])
def _set_metadata(c: Clients, v: str | None) -> None:
    c.servers.set_server_metadata(c.sim.server_id("misc"), {"role": "web"})


@check(f"POST {COMPUTE}/servers/{{server_id}}/metadata", [None, MAX])
def _update_metadata(c: Clients, v: str | None) -> None:
    c.servers.update_server_metadata(c.sim.server_id("misc"), {"tier": "1"})


@check(f"GET {COMPUTE}/servers/{{server_id}}/metadata/{{key}}", [None, MAX])
def _show_metadata_item(c: Clients, v: str | None) -> None:
    sid = c.sim.server_id("misc")
    c.servers.set_server_metadata_item(sid, "k", {"k": "v"})
    c.servers.show_server_metadata_item(sid, "k")


@check(f"PUT {COMPUTE}/servers/{{server_id}}/metadata/{{key}}", [None, MAX])
def _set_metadata_item(c: Clients, v: str | None) -> None:
    c.servers.set_server_metadata_item(c.sim.server_id("misc"), "k2", {"k2": "v"})


@check(f"DELETE {COMPUTE}/servers/{{server_id}}/metadata/{{key}}", [None, MAX])
def _delete_metadata_item(c: Clients, v: str | None) -> None:
    sid = c.sim.server_id("misc")
    c.servers.set_server_metadata_item(sid, "gone", {"gone": "v"})
    c.servers.delete_server_metadata_item(sid, "gone")


# tempest picks the evacuate schema by comparing version strings, so it reads 2.100 and later
# as older than 2.14: evacuate is checked up to 2.99 (its schema does not change after 2.14).
@check(f"POST {COMPUTE}/servers/{{server_id}}/action", [None, "2.14", "2.25", "2.68", "2.99"])
def _actions(c: Clients, v: str | None) -> None:
    s, sim = c.servers, c.sim
    misc = sim.server_id("misc")
    s.lock_server(misc)
    s.unlock_server(misc)
    s.reset_state(misc, state="active")
    s.stop_server(misc)
    sim.advance(10)
    s.start_server(misc)
    sim.advance(10)
    s.live_migrate_server(c.take("live"), **live_body(v))
    confirm, revert = c.take("cold"), c.take("cold")
    s.migrate_server(confirm)
    s.migrate_server(revert)
    sim.advance(400)
    s.confirm_resize_server(confirm)
    s.revert_resize_server(revert)
    evacuee = c.take("evac")
    if at_least(v, "2.14"):
        s.evacuate_server(evacuee)
    else:
        s.evacuate_server(evacuee, onSharedStorage=False)
    sim.advance(400)


def live_body(v: str | None) -> dict[str, Any]:
    """os-migrateLive's body at `v` (2.25 dropped disk_over_commit and added "auto")."""
    if at_least(v, "2.25"):
        return {"host": None, "block_migration": "auto"}
    return {"host": None, "block_migration": False, "disk_over_commit": False}


def _running_live_migration(c: Clients, v: str | None) -> tuple[str, int]:
    sid = c.take("live")
    c.servers.live_migrate_server(sid, **live_body(v))
    for _ in range(100):
        c.sim.advance(1)
        (m,) = c.sim.migrations(sid)
        if m.status == "running":
            return sid, m.id
    raise AssertionError(f"the live migration of {sid} never ran")


@check(f"GET {COMPUTE}/servers/{{server_id}}/migrations", ranges(SERVERS, since="2.23"))
def _list_server_migrations(c: Clients, v: str | None) -> None:
    sid, _ = _running_live_migration(c, v)
    assert c.servers.list_in_progress_live_migration(sid)["migrations"]
    c.sim.advance(300)


@check(
    f"POST {COMPUTE}/servers/{{server_id}}/migrations/{{migration_id}}/action",
    ranges(SERVERS, since="2.22"),
)
def _force_complete(c: Clients, v: str | None) -> None:
    sid, mid = _running_live_migration(c, v)
    # tempest's force_complete_live_migration parses the body as JSON, which Nova's (and the
    # sim's) empty 202 is not, and looks for the schema in modules that lack it below 2.100:
    # post as that call does and validate with the schema it means (202, no body).
    sc = c.servers
    resp, body = sc.post(f"servers/{sid}/migrations/{mid}/action", '{"force_complete": null}')
    sc.validate_response(servers_v21.server_actions_common_schema, resp, body)
    c.sim.advance(300)


@check(f"GET {COMPUTE}/servers/{{server_id}}/os-instance-actions", ranges(SERVERS))
def _list_instance_actions(c: Clients, v: str | None) -> None:
    assert c.servers.list_instance_actions(c.sim.server_id("live-0"))["instanceActions"]


@check(f"GET {COMPUTE}/servers/{{server_id}}/os-instance-actions/{{request_id}}", ranges(SERVERS))
def _show_instance_action(c: Clients, v: str | None) -> None:
    sid = c.sim.server_id("live-0")
    for action in c.servers.list_instance_actions(sid)["instanceActions"]:
        c.servers.show_instance_action(sid, action["request_id"])


@check(f"GET {COMPUTE}/os-migrations", ranges(migrations_client.MigrationsClient))
def _list_migrations(c: Clients, v: str | None) -> None:
    assert c.migrations.list_migrations()["migrations"]


SERVICES = services_client.ServicesClient


@check(f"GET {COMPUTE}/os-services", ranges(SERVICES))
def _list_services(c: Clients, v: str | None) -> None:
    assert c.services.list_services(binary="nova-compute")["services"]


@check(f"PUT {COMPUTE}/os-services/{{service_ref}}", ranges(SERVICES))
def _update_service(c: Clients, v: str | None) -> None:
    sc = c.services
    if at_least(v, "2.53"):
        (idle,) = sc.list_services(host="idle")["services"]
        sc.update_service(idle["id"], status="disabled", disabled_reason="schema check")
        sc.update_service(idle["id"], forced_down=True)
        sc.update_service(idle["id"], status="enabled", forced_down=False)
        return
    where = {"host": "idle", "binary": "nova-compute"}
    sc.disable_service(**where)
    sc.enable_service(**where)
    sc.disable_log_reason(**where, disabled_reason="schema check")
    sc.enable_service(**where)
    if at_least(v, "2.11"):
        sc.update_forced_down(**where, forced_down=True)
        sc.update_forced_down(**where, forced_down=False)


HYPERVISORS = hypervisor_client.HypervisorClient


@check(f"GET {COMPUTE}/os-hypervisors", ranges(HYPERVISORS))
def _list_hypervisors(c: Clients, v: str | None) -> None:
    assert c.hypervisors.list_hypervisors()["hypervisors"]


# tempest.lib 47.0.0 has no hypervisor schema past 2.53, and its 2.53 one predates 2.88 (which
# drops the capacity fields and adds `uptime`): real Nova fails it from 2.88 too. Detail and
# show are validated up to 2.87; `test_hypervisors_from_288_as_nova` covers the rest.
@check(f"GET {COMPUTE}/os-hypervisors/detail", ranges(HYPERVISORS, until="2.87"))
def _list_hypervisors_detail(c: Clients, v: str | None) -> None:
    assert c.hypervisors.list_hypervisors(detail=True)["hypervisors"]


@check(f"GET {COMPUTE}/os-hypervisors/{{hypervisor_id}}", ranges(HYPERVISORS, until="2.87"))
def _show_hypervisor(c: Clients, v: str | None) -> None:
    for h in c.hypervisors.list_hypervisors()["hypervisors"]:
        c.hypervisors.show_hypervisor(h["id"])


# Nova removed the statistics API at 2.88 (404 from there on, as the sim answers).
@check(f"GET {COMPUTE}/os-hypervisors/statistics", ranges(HYPERVISORS, until="2.87"))
def _hypervisor_statistics(c: Clients, v: str | None) -> None:
    c.hypervisors.show_hypervisor_statistics()


# ... and the search/servers sub-resources at 2.53 (query parameters replace them).
@check(f"GET {COMPUTE}/os-hypervisors/{{pattern}}/{{what}}", ranges(HYPERVISORS, until="2.52"))
def _legacy_hypervisor_search(c: Clients, v: str | None) -> None:
    c.hypervisors.search_hypervisor("src")
    c.hypervisors.list_servers_on_hypervisor("src")


@check(f"GET {COMPUTE}/os-availability-zone", [None, MAX])
def _list_zones(c: Clients, v: str | None) -> None:
    c.zones.list_availability_zones()


@check(f"GET {COMPUTE}/os-availability-zone/detail", [None, MAX])
def _list_zones_detail(c: Clients, v: str | None) -> None:
    c.zones.list_availability_zones(detail=True)


AGGREGATES = aggregates_client.AggregatesClient


@check(f"GET {COMPUTE}/os-aggregates", ranges(AGGREGATES))
def _list_aggregates(c: Clients, v: str | None) -> None:
    assert c.aggregates.list_aggregates()["aggregates"]


@check(f"GET {COMPUTE}/os-aggregates/{{aggregate_id}}", ranges(AGGREGATES))
def _show_aggregate(c: Clients, v: str | None) -> None:
    for agg in c.aggregates.list_aggregates()["aggregates"]:
        c.aggregates.show_aggregate(agg["id"])


FLAVORS = flavors_client.FlavorsClient


@check(f"GET {COMPUTE}/flavors", ranges(FLAVORS))
def _list_flavors(c: Clients, v: str | None) -> None:
    assert c.flavors.list_flavors()["flavors"]


@check(f"GET {COMPUTE}/flavors/detail", ranges(FLAVORS))
def _list_flavors_detail(c: Clients, v: str | None) -> None:
    assert c.flavors.list_flavors(detail=True)["flavors"]


@check(f"GET {COMPUTE}/flavors/{{flavor_id}}", ranges(FLAVORS))
def _show_flavor(c: Clients, v: str | None) -> None:
    for flavor in ("1", "9"):
        c.flavors.show_flavor(flavor)


@check(f"GET {COMPUTE}/flavors/{{flavor_id}}/os-extra_specs", [None, MAX])
def _list_extra_specs(c: Clients, v: str | None) -> None:
    assert c.flavors.list_flavor_extra_specs("9")["extra_specs"]


@check(f"GET {COMPUTE}/flavors/{{flavor_id}}/os-extra_specs/{{key}}", [None, MAX])
def _show_extra_spec(c: Clients, v: str | None) -> None:
    c.flavors.show_flavor_extra_spec("9", "hw:tpm_version")


GROUPS = server_groups_client.ServerGroupsClient


@check(f"GET {COMPUTE}/os-server-groups", ranges(GROUPS))
def _list_groups(c: Clients, v: str | None) -> None:
    assert c.groups.list_server_groups(all_projects=True)["server_groups"]


@check(f"GET {COMPUTE}/os-server-groups/{{group_id}}", ranges(GROUPS))
def _show_group(c: Clients, v: str | None) -> None:
    for g in c.groups.list_server_groups(all_projects=True)["server_groups"]:
        c.groups.show_server_group(g["id"])


def _new_group(c: Clients, v: str | None) -> str:
    if at_least(v, "2.64"):
        body = c.groups.create_server_group(name="new", policy="anti-affinity")
    else:
        body = c.groups.create_server_group(name="new", policies=["anti-affinity"])
    return str(body["server_group"]["id"])


@check(f"POST {COMPUTE}/os-server-groups", ranges(GROUPS))
def _create_group(c: Clients, v: str | None) -> None:
    _new_group(c, v)


@check(f"DELETE {COMPUTE}/os-server-groups/{{group_id}}", ranges(GROUPS))
def _delete_group(c: Clients, v: str | None) -> None:
    c.groups.delete_server_group(_new_group(c, v))


# -- the tests ------------------------------------------------------------------------------


def test_every_route_is_checked_or_excused() -> None:
    """A route the sim serves has a Tempest check here, or a reason why Tempest has none."""
    not_nova = {r for r in served_routes() if r.split(" ", 1)[1].startswith(tuple(NOT_NOVA))}
    unchecked = served_routes() - not_nova - set(CHECKS) - set(NOT_IN_TEMPEST)
    assert unchecked == set(), "add a tempest check (or a reason) for these routes"
    assert set(CHECKS) | set(NOT_IN_TEMPEST) <= served_routes(), "checks of routes now gone"


@pytest.mark.parametrize("route", sorted(CHECKS))
def test_route_answers_within_tempest_schemas(clients: Clients, route: str) -> None:
    versions, fn = CHECKS[route]
    for v in versions:
        base_compute_client.COMPUTE_MICROVERSION = v
        try:
            fn(clients, v)
        except Exception as exc:
            raise AssertionError(f"{route} at microversion {v or 'none'}: {exc}") from exc
        finally:
            base_compute_client.COMPUTE_MICROVERSION = None


def test_hypervisors_from_288_as_nova(clients: Clients) -> None:
    """Past tempest's schemas: from 2.88 a hypervisor has `uptime` and no capacity fields."""
    base_compute_client.COMPUTE_MICROVERSION = MAX
    try:
        _, body = clients.hypervisors.get("os-hypervisors/detail")
    finally:
        base_compute_client.COMPUTE_MICROVERSION = None
    for h in json.loads(body)["hypervisors"]:
        assert "uptime" in h and not {"vcpus", "memory_mb", "cpu_info", "running_vms"} & set(h)
