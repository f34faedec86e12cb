"""Infrastructure routes: compute services, hypervisors, availability zones and aggregates."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request

from novaflow.sim.api.deps import api_guard, authorize, cloud_of, json_body, mv, ok, query_bool
from novaflow.sim.api.paging import page
from novaflow.sim.errors import NovaError, bad_request, not_found
from novaflow.sim.lifecycle import set_service
from novaflow.sim.model import Host
from novaflow.sim.state import SimCloud
from novaflow.sim.views import admin as views

router = APIRouter(prefix="/compute/v2.1", dependencies=[Depends(api_guard)])


@router.get("/os-services")
async def list_services(request: Request) -> object:
    authorize(request, "os_compute_api:os-services:list")
    q = request.query_params
    v = mv(request)
    cloud = cloud_of(request)
    with cloud.lock:
        services = views.control_services(cloud, v) + [
            views.service(cloud, h, v) for h in sorted(cloud.hosts.values(), key=lambda h: h.name)
        ]
    if "binary" in q:
        services = [s for s in services if s["binary"] == q["binary"]]
    if "host" in q:
        services = [s for s in services if s["host"] == q["host"]]
    return ok({"services": services})


def _by_host(cloud: SimCloud, body: dict[str, Any]) -> Host:
    host, binary = body.get("host"), body.get("binary")
    if not host or not binary:
        raise bad_request("Invalid input: 'host' and 'binary' are required")
    if binary != "nova-compute" or host not in cloud.hosts:
        raise not_found(f"Service {binary} on host {host} could not be found.")
    return cloud.hosts[host]


@router.put("/os-services/{service_ref}")
async def update_service(request: Request, service_ref: str) -> object:
    authorize(request, "os_compute_api:os-services:update")
    v = mv(request)
    body = await json_body(request)
    cloud = cloud_of(request)
    with cloud.lock:
        if v >= (2, 53):
            return ok({"service": _update_by_id(cloud, service_ref, body, v)})
        if service_ref == "force-down" and v < (2, 11):
            raise not_found("The resource could not be found.")
        if service_ref not in ("enable", "disable", "disable-log-reason", "force-down"):
            raise not_found("The resource could not be found.")
        host = _by_host(cloud, body)
        out: dict[str, object] = {"host": host.name, "binary": "nova-compute"}
        if service_ref == "force-down":
            if not isinstance(body.get("forced_down"), bool):
                raise bad_request("Invalid input for field/attribute forced_down.")
            set_service(cloud, host, forced_down=body["forced_down"])
            out["forced_down"] = host.forced_down
        elif service_ref == "enable":
            set_service(cloud, host, status="enabled")
            out["status"] = "enabled"
        else:
            reason = body.get("disabled_reason") if service_ref == "disable-log-reason" else None
            if service_ref == "disable-log-reason" and not reason:
                raise bad_request("Missing disabled reason field")
            set_service(cloud, host, status="disabled", reason=reason)
            out["status"] = "disabled"
            if reason:
                out["disabled_reason"] = reason
        return ok({"service": out})


def _update_by_id(cloud: SimCloud, ref: str, body: dict[str, Any], v: tuple[int, int]) -> object:
    try:
        uuid.UUID(ref)
    except ValueError:
        raise bad_request(f"Invalid uuid {ref}") from None
    host = next((h for h in cloud.hosts.values() if h.service_uuid == ref), None)
    if host is None:
        raise not_found(f"Service {ref} not found.")
    extra = set(body) - {"status", "disabled_reason", "forced_down"}
    if extra:
        raise bad_request(f"Invalid input for field/attribute service. Value: {body}.")
    status = body.get("status")
    if status not in (None, "enabled", "disabled"):
        raise bad_request(f"Invalid input for field/attribute status. Value: {status}.")
    if status is None and "forced_down" not in body:
        # Nova's rule (2.53+): a reason alone changes nothing, so it is refused; a client
        # that sends only the attributes it thinks changed hits this on an already
        # disabled service.
        raise bad_request(
            "No updates were requested. Fields 'status' or 'forced_down' should be specified."
        )
    if body.get("disabled_reason") and status == "enabled":
        raise bad_request("Specifying 'disabled_reason' with status 'enabled' is invalid.")
    forced = body.get("forced_down")
    if forced is not None and not isinstance(forced, bool):
        raise bad_request(f"Invalid input for field/attribute forced_down. Value: {forced}.")
    set_service(cloud, host, status=status, reason=body.get("disabled_reason"), forced_down=forced)
    return views.service(cloud, host, v)


def _hypervisors(request: Request, detail: bool) -> object:
    authorize(request, f"os_compute_api:os-hypervisors:{'list-detail' if detail else 'list'}")
    q = request.query_params
    v = mv(request)
    pattern = q.get("hypervisor_hostname_pattern")
    if (pattern is not None or "with_servers" in q) and v < (2, 53):
        raise bad_request("Query parameters are not supported below microversion 2.53")
    with_servers = (
        query_bool(q.get("with_servers"), "with_servers") if "with_servers" in q else False
    )
    cloud = cloud_of(request)
    with cloud.lock:
        hosts = sorted(cloud.hosts.values(), key=lambda h: h.hypervisor_id)
        if pattern is not None:
            hosts = [h for h in hosts if pattern in h.name]
            if not hosts:
                raise not_found(f"No hypervisor matching '{pattern}' could be found.")
        links = None
        if v >= (2, 33):
            hosts, links = page(
                request,
                hosts,
                key=lambda h: views_id(h, v),
                not_found="marker [{marker}] not found",
            )
        usage = cloud.usages()
        body: dict[str, object] = {
            "hypervisors": [
                views.hypervisor(cloud, h, usage[h.name], v, detail, with_servers) for h in hosts
            ]
        }
    if links:
        body["hypervisors_links"] = links
    return ok(body)


def views_id(h: Host, v: tuple[int, int]) -> str:
    return h.hypervisor_uuid if v >= (2, 53) else str(h.hypervisor_id)


@router.get("/os-hypervisors")
async def list_hypervisors(request: Request) -> object:
    return _hypervisors(request, detail=False)


@router.get("/os-hypervisors/detail")
async def list_hypervisors_detail(request: Request) -> object:
    return _hypervisors(request, detail=True)


@router.get("/os-hypervisors/statistics")
async def hypervisor_statistics(request: Request) -> object:
    authorize(request, "os_compute_api:os-hypervisors:statistics")
    if mv(request) >= (2, 88):
        raise not_found("The resource could not be found.")
    cloud = cloud_of(request)
    with cloud.lock:
        usage = cloud.usages()
        stats = {
            k: 0
            for k in (
                "count",
                "vcpus",
                "vcpus_used",
                "memory_mb",
                "memory_mb_used",
                "local_gb",
                "local_gb_used",
                "running_vms",
                "free_ram_mb",
                "free_disk_gb",
                "disk_available_least",
                "current_workload",
            )
        }
        for h in cloud.hosts.values():
            d = views.hypervisor(cloud, h, usage[h.name], (2, 87), True, False)
            stats["count"] += 1
            for k in stats:
                if k != "count":
                    stats[k] += int(d[k])  # type: ignore[call-overload]
    return ok({"hypervisor_statistics": stats})


@router.get("/os-hypervisors/{hypervisor_id}")
async def show_hypervisor(request: Request, hypervisor_id: str) -> object:
    authorize(request, "os_compute_api:os-hypervisors:show")
    v = mv(request)
    q = request.query_params
    with_servers = (
        query_bool(q.get("with_servers"), "with_servers") if "with_servers" in q else False
    )
    cloud = cloud_of(request)
    with cloud.lock:
        host = next((h for h in cloud.hosts.values() if views_id(h, v) == hypervisor_id), None)
        if host is None:
            if v >= (2, 53):
                try:
                    uuid.UUID(hypervisor_id)
                except ValueError:
                    raise bad_request(f"Invalid uuid {hypervisor_id}") from None
            raise not_found(f"Hypervisor with ID {hypervisor_id} could not be found.")
        usage = cloud.usages()[host.name]
        return ok({"hypervisor": views.hypervisor(cloud, host, usage, v, True, with_servers)})


@router.get("/os-hypervisors/{pattern}/{what}")
async def legacy_hypervisor_search(request: Request, pattern: str, what: str) -> object:
    v = mv(request)
    if v >= (2, 53) or what not in ("search", "servers"):
        raise not_found("The resource could not be found.")
    authorize(request, f"os_compute_api:os-hypervisors:{what}")
    cloud = cloud_of(request)
    with cloud.lock:
        hosts = [h for h in cloud.hosts.values() if pattern in h.name]
        if not hosts:
            raise not_found(f"No hypervisor matching '{pattern}' could be found.")
        usage = cloud.usages()
        return ok(
            {
                "hypervisors": [
                    views.hypervisor(cloud, h, usage[h.name], v, False, what == "servers")
                    for h in sorted(hosts, key=lambda h: h.hypervisor_id)
                ]
            }
        )


@router.get("/os-availability-zone")
async def list_zones(request: Request) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        return ok({"availabilityZoneInfo": views.availability_zones(cloud, detail=False)})


@router.get("/os-availability-zone/detail")
async def list_zones_detail(request: Request) -> object:
    authorize(request, "os_compute_api:os-availability-zone:detail")
    cloud = cloud_of(request)
    with cloud.lock:
        return ok({"availabilityZoneInfo": views.availability_zones(cloud, detail=True)})


@router.get("/os-aggregates")
async def list_aggregates(request: Request) -> object:
    authorize(request, "os_compute_api:os-aggregates:index")
    cloud = cloud_of(request)
    with cloud.lock:
        return ok({"aggregates": views.aggregates(cloud, mv(request))})


@router.get("/os-aggregates/{aggregate_id}")
async def show_aggregate(request: Request, aggregate_id: str) -> object:
    authorize(request, "os_compute_api:os-aggregates:show")
    cloud = cloud_of(request)
    with cloud.lock:
        for agg in views.aggregates(cloud, mv(request)):
            if str(agg["id"]) == aggregate_id:
                return ok({"aggregate": agg})
    raise NovaError(404, f"Aggregate {aggregate_id} could not be found.")
