"""Flavor (with extra specs) and server group routes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from novaflow.sim.api.deps import (
    api_guard,
    caller,
    cloud_of,
    compute_base,
    empty,
    is_member,
    json_body,
    mv,
    ok,
    query_bool,
    query_int,
)
from novaflow.sim.api.paging import page
from novaflow.sim.errors import bad_request, not_found
from novaflow.sim.model import Flavor, ServerGroup
from novaflow.sim.views import admin as views

router = APIRouter(prefix="/compute/v2.1", dependencies=[Depends(api_guard)])
POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


def _flavors(request: Request, detail: bool) -> object:
    q = request.query_params
    cloud = cloud_of(request)
    with cloud.lock:
        flavors = sorted(cloud.flavors.values(), key=lambda f: (f.id.zfill(8), f.id))
    if "minRam" in q:
        flavors = [f for f in flavors if f.ram >= (query_int(q["minRam"], "minRam") or 0)]
    if "name" in q and mv(request) >= (2, 102):
        flavors = [f for f in flavors if f.name == q["name"]]
    if "minDisk" in q:
        flavors = [f for f in flavors if f.disk >= (query_int(q["minDisk"], "minDisk") or 0)]
    chunk, links = page(request, flavors, key=lambda f: f.id)
    base = compute_base(request)
    body: dict[str, object] = {
        "flavors": [views.flavor(f, base, mv(request), detail) for f in chunk]
    }
    if links:
        body["flavors_links"] = links
    return ok(body)


@router.get("/flavors")
async def list_flavors(request: Request) -> object:
    return _flavors(request, detail=False)


@router.get("/flavors/detail")
async def list_flavors_detail(request: Request) -> object:
    return _flavors(request, detail=True)


def _flavor(request: Request, flavor_id: str) -> Flavor:
    cloud = cloud_of(request)
    with cloud.lock:
        flavor = cloud.flavors.get(flavor_id)
    if flavor is None:
        raise not_found(f"Flavor {flavor_id} could not be found.")
    return flavor


@router.get("/flavors/{flavor_id}")
async def show_flavor(request: Request, flavor_id: str) -> object:
    flavor = _flavor(request, flavor_id)
    return ok({"flavor": views.flavor(flavor, compute_base(request), mv(request), True)})


@router.get("/flavors/{flavor_id}/os-extra_specs")
async def flavor_extra_specs(request: Request, flavor_id: str) -> object:
    return ok({"extra_specs": dict(_flavor(request, flavor_id).extra_specs)})


@router.get("/flavors/{flavor_id}/os-extra_specs/{key}")
async def flavor_extra_spec(request: Request, flavor_id: str, key: str) -> object:
    specs = _flavor(request, flavor_id).extra_specs
    if key not in specs:
        raise not_found(f"Flavor {flavor_id} has no extra specs with key {key}.")
    return ok({key: specs[key]})


@router.get("/os-server-groups")
async def list_server_groups(request: Request) -> object:
    q = request.query_params
    cloud = cloud_of(request)
    with cloud.lock:
        groups = list(cloud.groups.values())
        # Nova ignores all_projects from a non-admin (its own groups, no error).
        every = "all_projects" in q and query_bool(q.get("all_projects"), "all_projects")
        if not every or is_member(request):
            groups = [g for g in groups if g.project_id == caller(request)[0]]
        offset = query_int(q.get("offset"), "offset") or 0
        limit = query_int(q.get("limit"), "limit")
        groups = groups[offset : offset + limit if limit is not None else None]
        return ok({"server_groups": [views.server_group(g, mv(request)) for g in groups]})


@router.get("/os-server-groups/{group_id}")
async def show_server_group(request: Request, group_id: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        group = cloud.groups.get(group_id)
        if group is None:
            raise not_found(f"Instance group {group_id} could not be found.")
        return ok({"server_group": views.server_group(group, mv(request))})


@router.post("/os-server-groups")
async def create_server_group(request: Request) -> object:
    v = mv(request)
    body = (await json_body(request)).get("server_group")
    if not isinstance(body, dict) or "name" not in body:
        raise bad_request(
            "Invalid input for field/attribute server_group. 'name' is a required property"
        )
    if v >= (2, 64):
        policy = body.get("policy")
        rules = body.get("rules") or {}
        if rules and policy != "anti-affinity":
            raise bad_request("Only anti-affinity policy supports rules.")
    else:
        policies = body.get("policies") or []
        policy = policies[0] if len(policies) == 1 else None
        rules = {}
    if policy not in POLICIES:
        raise bad_request(f"Invalid input for field/attribute policy. Value: {policy}.")
    cloud = cloud_of(request)
    with cloud.lock:
        group = ServerGroup(
            id=cloud.new_uuid(),
            name=str(body["name"]),
            policy=policy,
            project_id=caller(request)[0],
            user_id=caller(request)[1],
            rules={k: int(r) for k, r in rules.items()},
        )
        cloud.groups[group.id] = group
        return ok({"server_group": views.server_group(group, v)})


@router.delete("/os-server-groups/{group_id}")
async def delete_server_group(request: Request, group_id: str) -> object:
    cloud = cloud_of(request)
    with cloud.lock:
        if cloud.groups.pop(group_id, None) is None:
            raise not_found(f"Instance group {group_id} could not be found.")
    return empty(204)
