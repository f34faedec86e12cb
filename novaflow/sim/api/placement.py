"""Minimal Placement: resource providers (one per compute node), inventories and usages."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from novaflow.sim.api.deps import api_guard, cloud_of, ok
from novaflow.sim.errors import NovaError
from novaflow.sim.model import Host
from novaflow.sim.state import SimCloud

router = APIRouter(prefix="/placement", dependencies=[Depends(api_guard)])


def _provider(h: Host, base: str) -> dict[str, object]:
    href = f"{base}/resource_providers/{h.hypervisor_uuid}"
    return {
        "uuid": h.hypervisor_uuid,
        "name": h.name,
        "generation": 1,
        "parent_provider_uuid": None,
        "root_provider_uuid": h.hypervisor_uuid,
        "links": [
            {"rel": "self", "href": href},
            {"rel": "inventories", "href": f"{href}/inventories"},
            {"rel": "usages", "href": f"{href}/usages"},
        ],
    }


def _host(cloud: SimCloud, rp_uuid: str) -> Host:
    for h in cloud.hosts.values():
        if h.hypervisor_uuid == rp_uuid:
            return h
    raise NovaError(404, f"No resource provider with uuid {rp_uuid} found")


@router.get("/resource_providers")
async def list_providers(request: Request) -> object:
    q = request.query_params
    cloud = cloud_of(request)
    with cloud.lock:
        hosts = sorted(cloud.hosts.values(), key=lambda h: h.name)
    if "name" in q:
        hosts = [h for h in hosts if h.name == q["name"]]
    if "uuid" in q:
        hosts = [h for h in hosts if h.hypervisor_uuid == q["uuid"]]
    return ok({"resource_providers": [_provider(h, "") for h in hosts]})


@router.get("/resource_providers/{rp_uuid}")
async def show_provider(request: Request, rp_uuid: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        return ok(_provider(_host(cloud, rp_uuid), ""))


@router.get("/resource_providers/{rp_uuid}/inventories")
async def inventories(request: Request, rp_uuid: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        h = _host(cloud, rp_uuid)

    def inv(total: int, reserved: int, ratio: float) -> dict[str, object]:
        return {
            "total": total,
            "reserved": reserved,
            "min_unit": 1,
            "max_unit": total,
            "step_size": 1,
            "allocation_ratio": ratio,
        }

    return ok(
        {
            "resource_provider_generation": 1,
            "inventories": {
                "VCPU": inv(h.vcpus, 0, h.cpu_allocation_ratio),
                "MEMORY_MB": inv(h.memory_mb, h.reserved_host_memory_mb, h.ram_allocation_ratio),
                "DISK_GB": inv(h.disk_gb, 0, h.disk_allocation_ratio),
            },
        }
    )


@router.get("/resource_providers/{rp_uuid}/usages")
async def usages(request: Request, rp_uuid: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        h = _host(cloud, rp_uuid)
        u = cloud.usages()[h.name]
    return ok(
        {
            "resource_provider_generation": 1,
            "usages": {"VCPU": u.vcpus, "MEMORY_MB": u.ram, "DISK_GB": u.disk},
        }
    )
