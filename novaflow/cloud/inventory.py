"""The inventory: the whole cloud in one snapshot, capacity read from Placement.

Capacity is read from Placement, as Nova's scheduler decides from it (`_placement_view`), as
JSON through the sdk's placement proxy, beside the compute lists.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import openstack
import openstack.config
import openstack.exceptions
from openstack.compute.v2 import aggregate as sdk_aggregate

from novaflow.cloud.reads import Reads, _instance_from_body
from novaflow.cloud.rereads import Rereads
from novaflow.cloud.session import (
    MV_HYPERVISORS,
    MV_HYPERVISORS_MIN,
    MV_SERVICES,
    _mv,
    parse_time,
)
from novaflow.errors import (
    UnsupportedByCloud,
)
from novaflow.models import (
    STANDARD_RESOURCES,
    AllocationRatios,
    CloudFeatures,
    Host,
    Instance,
    Inventory,
    NestedProvider,
    Resources,
    Snapshot,
)

# Placement: provider summaries with traits (1.17) and root/parent providers (1.29).
PLACEMENT_MV = (1, 29)
PLACEMENT_MV_MIN = (1, 14)  # parent / root providers on every provider
PLACEMENT_POOL = 8  # per-provider inventory reads at once: bounded, so a big cloud is not flooded
DISABLED_TRAIT = "COMPUTE_STATUS_DISABLED"

SLOTS_KEY = "novaflow:max_concurrent_live_migrations"
RATIO_KEYS = {
    "cpu": "cpu_allocation_ratio",
    "ram": "ram_allocation_ratio",
    "disk": "disk_allocation_ratio",
}


class Snapshots(Reads):
    """The snapshot: hosts with their Placement capacity, instances and server groups."""

    # ---------------------------------------------------------------- snapshot

    def snapshot(self, *, live_migration_slots: int = 1, again: Rereads | None = None) -> Snapshot:
        """The whole cloud in five compute list calls (plus paging) and Placement's view of
        capacity: three Placement list calls and one inventory read per compute node (in a
        bounded pool), never one call per instance. Placement is read beside Nova, not after
        it: the two are separate services, so the snapshot waits for the slower, not the sum.

        Services, groups and aggregates are sdk resources (per host and few); servers and
        hypervisors are read as JSON (`_server_bodies`, `_json_pages`).

        With `again` (a reader's memory of its last read, novaflow/cloud/rereads.py), only
        the servers changed since and the inventories not known are read, unless a full read
        is due.
        """
        if again is None:
            return self._read(live_migration_slots, None)
        with again.lock:
            return self._read(live_migration_slots, again)

    def _read(self, slots: int, again: Rereads | None) -> Snapshot:
        taken_at = datetime.now(UTC)
        full = again is None or again.due()
        known = None if full or again is None else again.known_inventories()
        with ThreadPoolExecutor(1, thread_name_prefix="placement-view") as beside:
            placement = beside.submit(self._placement_view, known)
            services = self._service_bodies()
            hv_mv = self._version(MV_HYPERVISORS, MV_HYPERVISORS_MIN, "paged hypervisors")
            what = "listing hypervisors"
            hypervisors = self._json_pages(what, "/os-hypervisors/detail", "hypervisors", {}, hv_mv)
            mark = self._newest_change() if again is not None else None
            since = None if full or again is None else again.changes_since()
            bodies = self._server_bodies(changes_since=since)
            groups = self._server_groups()
            aggregates = self._call(
                "listing aggregates", lambda: list(self.conn.compute.aggregates())
            )
            providers = placement.result()
        member_of: dict[str, list[str]] = {}
        for g in groups:
            for m in g.members:
                member_of.setdefault(m, []).append(g.id)
        read: list[Instance] = []
        deleted: list[str] = []
        for body in bodies:
            if body.get("status") == "DELETED":
                deleted.append(str(body["id"]))
                continue
            inst = _instance_from_body(body, member_of)
            self._names[inst.id] = inst.name
            read.append(inst)
        node_of = _nodes_of(hypervisors, providers)
        instances = read
        if again is not None:
            by_name = {p.name: p.uuid for p in providers.values() if p.parent is None}
            instances = again.remember(
                full=full,
                read=read,
                deleted=deleted,
                member_of=member_of,
                mark=mark,
                inventories={p.uuid: (p.root, p.inventories) for p in providers.values()},
                root_of_host={**by_name, **{h: p.uuid for h, p in node_of.items()}},
            )
        hosts = self._hosts(services, node_of, aggregates or [], providers, slots)
        hosts = _with_cells(hosts, aggregates or [])
        return Snapshot(
            taken_at=taken_at,
            cloud=self.name,
            hosts=hosts,
            instances=instances,
            server_groups=groups,
            features=CloudFeatures(
                max_microversion=_mv(self.max_version),
                numa_live_migration=self.max_version >= (2, 79),
            ),
        )

    def _newest_change(self) -> datetime | None:
        """The newest `updated` of any server now, on the cloud's clock: where the next
        `changes-since` starts. Read before the listing, so a change during it is newer."""
        query = {
            "all_tenants": "True",
            "limit": "1",
            "sort_key": "updated_at",
            "sort_dir": "desc",
        }
        found = self._json_pages(
            "finding the newest server change",
            "/servers/detail",
            "servers",
            query,
            self._servers_mv(),
            paged=False,
        )
        return parse_time(found[0].get("updated")) if found else None

    def _hosts(
        self,
        services: list[dict[str, Any]],
        node_of: dict[str, _Provider],
        aggregates: list[sdk_aggregate.Aggregate],
        providers: dict[str, _Provider],
        slots: int,
    ) -> list[Host]:
        """Each compute service with its node's Placement provider (`_nodes_of`)."""
        by_name = {p.name: p for p in providers.values() if p.parent is None}
        nested_of: dict[str, list[_Provider]] = {}
        for p in providers.values():
            if p.uuid != p.root:
                nested_of.setdefault(p.root, []).append(p)
        aggregates_of: dict[str, list[sdk_aggregate.Aggregate]] = {}
        for agg in aggregates:
            for member in dict.fromkeys(agg.hosts or []):
                aggregates_of.setdefault(member, []).append(agg)
        hosts = []
        for svc in services:
            name = svc["host"]
            aggs = aggregates_of.get(name, [])
            node = node_of.get(name) or by_name.get(name)
            hosts.append(
                Host(
                    name=name,
                    service_id=str(svc["id"]),
                    state=svc.get("state") or "up",
                    status=svc.get("status") or "enabled",
                    disabled_reason=svc.get("disabled_reason"),
                    forced_down=bool(svc.get("forced_down")),
                    zone=svc.get("zone") or "nova",
                    aggregates=[a.name or "" for a in aggs],
                    max_concurrent_live_migrations=_slots(aggs, slots),
                    aggregate_ratios=_aggregate_ratios(aggs),
                    **_placement_fields(node, nested_of),
                )
            )
        return sorted(hosts, key=lambda h: h.name)

    # ---------------------------------------------------------------- placement

    def _placement_mv(self) -> str:
        """The Placement microversion to send: 1.29, lowered to the service's maximum."""
        if self._placement_max is None:
            data = self._call(
                "finding the Placement API", lambda: self.conn.placement.get_endpoint_data()
            )
            mv = getattr(data, "max_microversion", None) if data else None
            self._placement_max = (int(mv[0]), int(mv[1])) if mv else (1, 0)
        if self._placement_max < PLACEMENT_MV_MIN:
            raise UnsupportedByCloud(
                f"cloud {self.name!r} has Placement up to {_mv(self._placement_max)}, but "
                f"reading capacity needs {_mv(PLACEMENT_MV_MIN)}",
                "upgrade Placement (Queens or later)",
            )
        return _mv(min(PLACEMENT_MV, self._placement_max))

    def _placement_get(self, what: str, path: str, **params: str) -> dict[str, Any]:
        """One Placement read as JSON. The URL is made absolute from the endpoint found once:
        keystoneauth otherwise looks the endpoint up in the catalog on every request (a deep
        copy of it each time), a fifth of the client's CPU per inventory read."""
        mv = self._placement_mv()
        if self._placement_url is None:
            self._placement_url = (self.conn.placement.get_endpoint() or "").rstrip("/")
        url = f"{self._placement_url}{path}"

        def read() -> dict[str, Any]:
            resp = self.conn.placement.get(url, params=params, microversion=mv)
            openstack.exceptions.raise_from_response(resp)
            return resp.json()

        return self._call(what, read) or {}

    def _placement_view(
        self, known: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, _Provider]:
        """Every resource provider with its inventories, usages and whether it is disabled.

        Bulk reads first: the provider list, the disabled ones (a `required` filter), and the
        provider summaries of allocation candidates, which give the usage of every provider
        tree with room for one vCPU. Inventories (total, reserved, ratio, min/max_unit,
        step_size) have no bulk read, so they are read per provider in a bounded pool (those
        in `known`, by provider uuid, are taken from there: see rereads.py), with the usages
        of the few providers (full ones) the summaries did not cover.
        """
        known = known or {}
        listed = self._placement_get("listing resource providers", "/resource_providers")
        providers = {
            p["uuid"]: _Provider(
                uuid=p["uuid"],
                name=p.get("name") or "",
                parent=p.get("parent_provider_uuid"),
                root=p.get("root_provider_uuid") or p["uuid"],
            )
            for p in listed.get("resource_providers") or []
        }
        top = self._placement_max or PLACEMENT_MV_MIN  # known after the first read
        if top >= (1, 18):
            disabled = self._placement_get(
                "listing disabled resource providers",
                "/resource_providers",
                required=DISABLED_TRAIT,
            )
            for p in disabled.get("resource_providers") or []:
                if p["uuid"] in providers:
                    providers[p["uuid"]].disabled = True
        used: dict[str, dict[str, int]] = {}
        if top >= (1, 10):
            summaries = (
                self._placement_get(
                    "reading allocation candidates", "/allocation_candidates", resources="VCPU:1"
                ).get("provider_summaries")
                or {}
            )
            for uuid, summary in summaries.items():
                res = summary.get("resources") or {}
                used[uuid] = {rc: int(r.get("used") or 0) for rc, r in res.items()}

        def fill(p: _Provider) -> None:
            if p.uuid in known:
                p.inventories = known[p.uuid]
            else:
                body = self._placement_get(
                    f"reading inventories of {p.name}",
                    f"/resource_providers/{p.uuid}/inventories",
                )
                p.inventories = body.get("inventories") or {}
            if p.uuid in used and set(p.inventories) <= set(used[p.uuid]):
                p.used = used[p.uuid]
            else:
                p.used = (
                    self._placement_get(
                        f"reading usages of {p.name}", f"/resource_providers/{p.uuid}/usages"
                    ).get("usages")
                    or {}
                )

        with ThreadPoolExecutor(PLACEMENT_POOL, thread_name_prefix="placement") as pool:
            list(pool.map(fill, providers.values()))
        return providers

    def _service_bodies(self) -> list[dict[str, Any]]:
        """Every compute service as JSON. The snapshot reads one per host, and an sdk
        `Service` costs ~0.8 ms of CPU to build (1,000 hosts: 0.8 s), the JSON nothing."""
        mv = self._version(MV_SERVICES, MV_SERVICES, "service UUIDs")
        query = {"binary": "nova-compute"}
        found = self._json_pages(
            "listing compute services", "/os-services", "services", query, mv, paged=False
        )
        return [s for s in found if s.get("binary", "nova-compute") == "nova-compute"]


def _nodes_of(
    hypervisors: list[dict[str, Any]], providers: dict[str, _Provider]
) -> dict[str, _Provider]:
    """Compute service host -> its compute node's provider.

    A provider is the compute node: its uuid is the hypervisor id (2.53+) and its name
    the hypervisor_hostname, which may differ from the service host, so the hypervisors
    list maps one to the other.
    """
    by_name = {p.name: p for p in providers.values() if p.parent is None}
    node_of: dict[str, _Provider] = {}
    for hv in hypervisors:
        host = (hv.get("service") or {}).get("host") or hv.get("hypervisor_hostname")
        p = providers.get(str(hv.get("id"))) or by_name.get(hv.get("hypervisor_hostname"))
        if host and p is not None and p.parent is None:
            node_of.setdefault(host, p)
    return node_of


CELL_KEY = "cell"
"""Aggregate metadata naming the Nova cell of its hosts. Nova's API shows no cell, so an
operator who runs several cells tags one aggregate per cell (the hosts of
`nova-manage cell_v2 list_hosts`); novaflow then keeps moves inside a cell as Nova does."""


def _with_cells(hosts: list[Host], aggregates: list[sdk_aggregate.Aggregate]) -> list[Host]:
    """Hosts with the cell their aggregates' `cell` metadata names (unchanged where none does)."""
    cell_of: dict[str, str] = {}
    for agg in aggregates:
        cell = (agg.metadata or {}).get(CELL_KEY)
        if cell:
            for name in agg.hosts or []:
                cell_of.setdefault(name, str(cell))
    if not cell_of:
        return hosts
    return [
        h.model_copy(update={"cell": cell_of[h.name]}) if h.name in cell_of else h for h in hosts
    ]


def _aggregate_ratios(aggs: list[sdk_aggregate.Aggregate]) -> dict[str, float]:
    """Ratios set in aggregate metadata (the lowest where several set one). Nova's scheduler
    no longer reads them; they are kept only to tell the operator where they disagree with
    Placement."""
    values: dict[str, float] = {}
    for kind, key in RATIO_KEYS.items():
        found = [_float((a.metadata or {}).get(key)) for a in aggs]
        found = [f for f in found if f and f > 0]
        if found:
            values[kind] = min(found)
    return values


@dataclass
class _Provider:
    """A resource provider as read from Placement, before it becomes part of a Host."""

    uuid: str
    name: str
    parent: str | None
    root: str
    disabled: bool = False
    inventories: dict[str, dict[str, Any]] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)

    def inventory(self) -> dict[str, Inventory]:
        return {
            rc: Inventory(
                total=int(inv.get("total") or 0),
                reserved=int(inv.get("reserved") or 0),
                allocation_ratio=float(inv.get("allocation_ratio") or 1.0),
                min_unit=int(inv.get("min_unit") or 1),
                max_unit=inv.get("max_unit"),
                step_size=int(inv.get("step_size") or 1),
                used=int(self.used.get(rc) or 0),
            )
            for rc, inv in self.inventories.items()
        }


def _placement_fields(
    node: _Provider | None, nested_of: dict[str, list[_Provider]]
) -> dict[str, Any]:
    """Host fields from a compute node's provider (none: a node that never reported, which
    the scheduler cannot use either) and the providers nested under it (`nested_of`, by
    root uuid)."""
    if node is None:
        return {"capacity": Resources()}
    inventory = node.inventory()

    def amounts(of: Callable[[Inventory], float]) -> Resources:
        return Resources(
            **{
                field_name: of(inventory[rc]) if rc in inventory else 0
                for rc, field_name in STANDARD_RESOURCES.items()
            }
        )

    def ratio(rc: str) -> float:
        return inventory[rc].allocation_ratio if rc in inventory else 1.0

    nested = [
        NestedProvider(name=p.name, uuid=p.uuid, inventory=p.inventory())
        for p in nested_of.get(node.uuid, [])
    ]
    return {
        "capacity": amounts(lambda i: i.total),
        "reserved": amounts(lambda i: i.reserved),
        "used": amounts(lambda i: i.used),
        "ratios": AllocationRatios(
            cpu=ratio("VCPU"), ram=ratio("MEMORY_MB"), disk=ratio("DISK_GB")
        ),
        "inventory": inventory,
        "nested": sorted(nested, key=lambda n: n.name),
        "placement_disabled": node.disabled,
    }


def _slots(aggs: list[sdk_aggregate.Aggregate], default: int) -> int:
    found = [_float((a.metadata or {}).get(SLOTS_KEY)) for a in aggs]
    found = [int(f) for f in found if f and f >= 1]
    return min(found) if found else max(1, default)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
